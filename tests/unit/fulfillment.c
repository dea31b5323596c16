/* fulfillment.c: tests of the input rules of core/fulfillment.c and core/order_edit.c: which bodies of
 * fulfilments, shipments, returns, receipts, order edits and draft orders pass, and the pointer of the first
 * error of those that do not. */
#include "core/fulfillment.h"

#include <jansson.h>
#include <string.h>

#include "core/order_edit.h"
#include "tests/unit/check.h"

#define OLI "oli_01zzzzzzzzzzzzzzzzzzzzzzzz"
#define LOC "sloc_01zzzzzzzzzzzzzzzzzzzzzzzz"
#define VAR "var_01zzzzzzzzzzzzzzzzzzzzzzzz"

/* "" when body passes fields, else the pointer of its first error ("?" when the error has none) */
static const char *first_error(sq_arena_t *a, const sq_field_t *fields, const char *body, sq_err_t *e)
{
    json_error_t je;
    json_t *j = sq_json_own(a, json_loads(body, 0, &je));
    char scratch[256] = {0};
    sq_err_clear(e);
    if (sq_json_decode(a, j, fields, scratch, NULL, e) == 0)
        return "";
    return e->nfields > 0 ? sq_arena_strdup(a, e->fields[0].pointer) : "?";
}

static void test_fulfillment(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_err_t e;
    const sq_field_t *f = sq_fulfillment_fields;
    CHECK_STR(first_error(a, f, "{\"location_id\":\"" LOC "\",\"items\":[{\"line_item_id\":\"" OLI "\",\"quantity\":2}]}", &e), "");
    CHECK_STR(first_error(a, f,
                          "{\"location_id\":\"" LOC "\",\"items\":[{\"line_item_id\":\"" OLI
                          "\",\"quantity\":1}],\"notify\":true,\"capture\":false}",
                          &e),
              "");
    CHECK_STR(first_error(a, f, "{\"items\":[{\"line_item_id\":\"" OLI "\",\"quantity\":1}]}", &e), "/location_id");
    CHECK_STR(first_error(a, f, "{\"location_id\":\"" LOC "\",\"items\":[]}", &e), "/items");
    CHECK_STR(first_error(a, f, "{\"location_id\":\"" LOC "\",\"items\":[{\"line_item_id\":\"" OLI "\",\"quantity\":0}]}", &e),
              "/items/0/quantity");
    CHECK_STR(first_error(a, f, "{\"location_id\":\"" LOC "\",\"items\":[{\"line_item_id\":\"x\",\"quantity\":1}]}", &e),
              "/items/0/line_item_id");
    CHECK_STR(first_error(a, f,
                          "{\"location_id\":\"" LOC "\",\"items\":[{\"line_item_id\":\"" OLI "\",\"quantity\":1}],\"capture\":1}",
                          &e),
              "/capture");
    CHECK_STR(first_error(a, f,
                          "{\"location_id\":\"" LOC "\",\"items\":[{\"line_item_id\":\"" OLI "\",\"quantity\":1,\"sku\":\"x\"}]}",
                          &e),
              "/items/0/sku");
    CHECK_INT(e.code, SQ_E_UNKNOWN_FIELD);
    f = sq_shipment_fields;
    CHECK_STR(first_error(a, f, "{\"carrier\":\"DHL\",\"tracking_number\":\"123\",\"tracking_url\":\"https://t.example/123\"}", &e),
              "");
    CHECK_STR(first_error(a, f, "{\"carrier\":\"DHL\",\"tracking_number\":\"123\",\"tracking_url\":null}", &e), "");
    CHECK_STR(first_error(a, f, "{\"carrier\":\"DHL\",\"tracking_number\":\"123\",\"tracking_url\":\"ftp://t.example\"}", &e),
              "/tracking_url");
    CHECK_STR(first_error(a, f, "{\"carrier\":\"DHL\"}", &e), "/tracking_number");
    sq_arena_unref(a);
}

static void test_returns(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_err_t e;
    const sq_field_t *f = sq_return_fields;
    CHECK_STR(first_error(a, f,
                          "{\"items\":[{\"line_item_id\":\"" OLI "\",\"quantity\":1}],\"reason\":\"damaged\",\"note\":\"a\\nb\"}",
                          &e),
              "");
    CHECK_STR(first_error(a, f, "{\"items\":[{\"line_item_id\":\"" OLI "\",\"quantity\":1}],\"reason\":\"whim\"}", &e), "/reason");
    CHECK_STR(first_error(a, f, "{\"items\":[{\"line_item_id\":\"" OLI "\",\"quantity\":1}]}", &e), "/reason");
    f = sq_return_receive_fields;
    CHECK_STR(first_error(a, f, "{}", &e), "");
    CHECK_STR(first_error(a, f,
                          "{\"restock\":false,\"refund\":false,\"location_id\":\"" LOC "\",\"items\":[{\"line_item_id\":\"" OLI
                          "\",\"restock\":true}]}",
                          &e),
              "");
    CHECK_STR(first_error(a, f, "{\"items\":[{\"line_item_id\":\"" OLI "\"}]}", &e), "/items/0/restock");
    CHECK_STR(first_error(a, sq_return_decide_fields, "{\"note\":null}", &e), "");
    CHECK_STR(first_error(a, sq_return_decide_fields, "{\"reason\":\"x\"}", &e), "/reason");
    sq_arena_unref(a);
}

static void test_edits_and_drafts(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_err_t e;
    const sq_field_t *f = sq_order_edit_fields;
    CHECK_STR(first_error(a, f,
                          "{\"add\":[{\"variant_id\":\"" VAR "\",\"quantity\":1,\"unit_price\":0}],\"remove\":[\"" OLI "\"],"
                          "\"change\":[{\"line_id\":\"" OLI "\",\"quantity\":3}],\"note\":null}",
                          &e),
              "");
    CHECK_STR(first_error(a, f, "{\"remove\":[\"nope\"]}", &e), "/remove/0");
    CHECK_STR(first_error(a, f, "{\"change\":[{\"line_id\":\"" OLI "\",\"quantity\":10001}]}", &e), "/change/0/quantity");
    CHECK_STR(first_error(a, f, "{\"add\":[{\"variant_id\":\"" VAR "\",\"quantity\":1,\"unit_price\":-1}]}", &e),
              "/add/0/unit_price");
    f = sq_draft_create_fields;
    CHECK_STR(first_error(a, f,
                          "{\"email\":\"A@B.example\",\"currency_code\":\"EUR\",\"items\":[{\"variant_id\":\"" VAR
                          "\",\"quantity\":1}],"
                          "\"shipping_address\":{\"country_code\":\"de\",\"city\":\"Berlin\"},\"metadata\":{\"po\":\"42\"}}",
                          &e),
              "");
    CHECK_STR(first_error(a, f, "{\"currency_code\":\"EURO\"}", &e), "/currency_code");
    CHECK_STR(first_error(a, f, "{\"shipping_address\":{\"city\":\"Berlin\"}}", &e), "/shipping_address/country_code");
    CHECK_STR(first_error(a, sq_draft_update_fields, "{\"currency_code\":\"eur\"}", &e), "/currency_code");
    CHECK_INT(e.code, SQ_E_UNKNOWN_FIELD);
    CHECK_STR(first_error(a, sq_draft_complete_fields, "{\"paid\":\"yes\"}", &e), "/paid");
    sq_arena_unref(a);
}

int main(void)
{
    test_fulfillment();
    test_returns();
    test_edits_and_drafts();
    return check_done("fulfillment");
}
