/* purchasing.c: tests of the input rules of core/purchasing.c (suppliers, reorder rules, purchase orders, receipts)
 * and of the payment-health parsing of core/upkeep.c. */
#include "core/purchasing.h"

#include <jansson.h>
#include <string.h>

#include "core/upkeep.h"
#include "tests/unit/check.h"

#define SUP "sup_01zzzzzzzzzzzzzzzzzzzzzzzz"
#define LOC "sloc_01zzzzzzzzzzzzzzzzzzzzzzzz"
#define ITEM "iitem_01zzzzzzzzzzzzzzzzzzzzzzzz"
#define ITEM2 "iitem_01yyyyyyyyyyyyyyyyyyyyyyyy"
#define LINE "poli_01zzzzzzzzzzzzzzzzzzzzzzzz"

/* "" when body passes the resource's rules, else the pointer of its first error */
static const char *first_error(sq_arena_t *a, const sq_resource_t *r, bool create, const char *body, sq_err_t *e)
{
    json_t *j = sq_json_own(a, json_loads(body, 0, NULL));
    sq_err_clear(e);
    if (sq_resource_validate(a, r, j, create, e) == 0)
        return "";
    return e->nfields > 0 ? sq_arena_strdup(a, e->fields[0].pointer) : "?";
}

static const char *receipt_error(sq_arena_t *a, const char *body, sq_err_t *e)
{
    json_t *j = sq_json_own(a, json_loads(body, 0, NULL));
    char scratch[256] = {0};
    sq_err_clear(e);
    if (sq_json_decode(a, j, sq_po_receipt_fields, scratch, NULL, e) != 0 || sq_po_receipt_check(j, e) != 0)
        return e->nfields > 0 ? sq_arena_strdup(a, e->fields[0].pointer) : "?";
    return "";
}

static void test_suppliers_and_rules(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_err_t e;
    CHECK_STR(
        first_error(a, &sq_res_supplier, true, "{\"name\":\"Acme\",\"currency_code\":\"EUR\",\"email\":\"A@acme.example\"}", &e),
        "");
    CHECK_STR(first_error(a, &sq_res_supplier, true, "{\"name\":\"Acme\"}", &e), "/currency_code");
    CHECK_STR(first_error(a, &sq_res_supplier, true, "{\"name\":\"Acme\",\"currency_code\":\"eur\",\"lead_time_days\":366}", &e),
              "/lead_time_days");
    CHECK_STR(first_error(a, &sq_res_supplier, false, "{\"email\":\"nope\"}", &e), "/email");
    CHECK_STR(first_error(a, &sq_res_reorder_rule, true,
                          "{\"inventory_item_id\":\"" ITEM "\",\"location_id\":\"" LOC "\",\"supplier_id\":\"" SUP
                          "\",\"reorder_point\":0,\"reorder_quantity\":1,\"unit_cost\":10000000000}",
                          &e),
              "");
    CHECK_STR(first_error(a, &sq_res_reorder_rule, true,
                          "{\"inventory_item_id\":\"" ITEM "\",\"location_id\":\"" LOC "\",\"supplier_id\":\"" SUP
                          "\",\"reorder_point\":0,\"reorder_quantity\":1,\"unit_cost\":10000000001}",
                          &e),
              "/unit_cost");
    CHECK_STR(first_error(a, &sq_res_reorder_rule, true,
                          "{\"inventory_item_id\":\"" ITEM "\",\"location_id\":\"" LOC "\",\"supplier_id\":\"" SUP
                          "\",\"reorder_point\":0}",
                          &e),
              "/reorder_quantity");
    CHECK_STR(first_error(a, &sq_res_reorder_rule, false, "{\"inventory_item_id\":\"" ITEM "\"}", &e), "/inventory_item_id");
    CHECK_INT(e.code, SQ_E_UNKNOWN_FIELD);
    sq_arena_unref(a);
}

static void test_purchase_orders(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_err_t e;
    const sq_resource_t *r = &sq_res_purchase_order;
    CHECK_STR(first_error(a, r, true,
                          "{\"supplier_id\":\"" SUP "\",\"location_id\":\"" LOC "\",\"lines\":[{\"inventory_item_id\":\"" ITEM
                          "\",\"quantity\":3,\"unit_cost\":250},{\"inventory_item_id\":\"" ITEM2
                          "\",\"quantity\":1}],\"expected_at\":\"2030-01-01T00:00:00Z\"}",
                          &e),
              "");
    CHECK_STR(first_error(a, r, true,
                          "{\"supplier_id\":\"" SUP "\",\"location_id\":\"" LOC "\",\"lines\":[{\"inventory_item_id\":\"" ITEM
                          "\",\"quantity\":3},{\"inventory_item_id\":\"" ITEM2 "\",\"quantity\":1},{\"inventory_item_id\":\"" ITEM
                          "\",\"quantity\":1}]}",
                          &e),
              "/lines/2/inventory_item_id");
    CHECK_INT(e.code, SQ_E_VALIDATION);
    CHECK_STR(e.fields[0].code, "repeated");
    CHECK_STR(first_error(a, r, true,
                          "{\"supplier_id\":\"" SUP "\",\"location_id\":\"" LOC "\",\"lines\":[{\"inventory_item_id\":\"" ITEM
                          "\",\"quantity\":1000001}]}",
                          &e),
              "/lines/0/quantity");
    CHECK_STR(first_error(a, r, true, "{\"supplier_id\":\"" SUP "\",\"location_id\":\"" LOC "\",\"expected_at\":\"tomorrow\"}", &e),
              "/expected_at");
    CHECK_STR(first_error(a, r, true, "{\"location_id\":\"" LOC "\"}", &e), "/supplier_id");
    CHECK_STR(first_error(a, r, false, "{\"supplier_id\":\"" SUP "\"}", &e), "/supplier_id"); /* fixed at creation */
    CHECK_INT(e.code, SQ_E_UNKNOWN_FIELD);
    CHECK_STR(first_error(a, r, false, "{\"lines\":[],\"note\":\"n\"}", &e), "");

    CHECK_STR(receipt_error(a, "{\"lines\":[{\"line_id\":\"" LINE "\",\"quantity\":2}],\"allow_over_receipt\":true}", &e), "");
    CHECK_STR(receipt_error(a, "{\"lines\":[]}", &e), "/lines");
    CHECK_STR(receipt_error(a, "{\"lines\":[{\"line_id\":\"" LINE "\",\"quantity\":0}]}", &e), "/lines/0/quantity");
    CHECK_STR(
        receipt_error(a, "{\"lines\":[{\"line_id\":\"" LINE "\",\"quantity\":1},{\"line_id\":\"" LINE "\",\"quantity\":1}]}", &e),
        "/lines/1/line_id");
    CHECK_INT(e.code, SQ_E_VALIDATION);
    CHECK_STR(receipt_error(a, "{\"lines\":[{\"line_id\":\"" LINE "\",\"quantity\":1}],\"location_id\":null}", &e), "");
    sq_arena_unref(a);
}

static void test_payment_health(void)
{
    sq_payment_health_t p[4];
    int n = sq_payment_health_parse("[{\"provider\":\"test\",\"alerting\":true,\"attempts\":20,\"failures\":7},"
                                    "{\"provider\":\"bad\\\"label\",\"attempts\":1,\"failures\":0,\"alerting\":false},"
                                    "{\"provider\":\"payment-stripe\",\"attempts\":0,\"failures\":0,\"alerting\":false}]",
                                    p, 4);
    CHECK_INT(n, 2); /* a name that cannot be a label value is skipped */
    CHECK_STR(p[0].provider, "test");
    CHECK(p[0].alerting);
    CHECK_INT(p[0].attempts, 20);
    CHECK_INT(p[0].failures, 7);
    CHECK_STR(p[1].provider, "payment-stripe");
    CHECK(!p[1].alerting);
    CHECK_INT(sq_payment_health_parse("{}", p, 4), -1);
    CHECK_INT(sq_payment_health_parse(NULL, p, 4), -1);
    CHECK_INT(sq_payment_health_parse("[{\"provider\":\"a\"},{\"provider\":\"b\"}]", p, 1), 1);
}

int main(void)
{
    test_suppliers_and_rules();
    test_purchase_orders();
    test_payment_health();
    return check_done("purchasing");
}
