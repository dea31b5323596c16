/* cart.c: tests of core/cart.c: pricing a cart view row (tiers per line quantity, lists and their rules,
 * unpriced and unsellable lines, totals), SQL error messages as field errors, cart id shapes. */
#include "core/cart.h"

#include <jansson.h>
#include <string.h>

#include "tests/unit/check.h"

#define T0 1800000000000000LL

static json_t *assemble(sq_arena_t *a, const char *lines, const char *cands, const char *groups)
{
    sq_cart_row_t row = {"{\"id\":\"cart_x\",\"object\":\"cart\"}", lines, cands, "eur", "sc_web", NULL, groups, T0};
    char *s = sq_cart_assemble(a, &row);
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    CHECK(j != NULL);
    if (j == NULL)
        fprintf(stderr, "not JSON: %s\n", s);
    return j;
}

#define LINE(qty, ok, id) #qty "\t" ok "\t{\"id\":\"" id "\",\"quantity\":" #qty "}"
#define I(j, k) json_integer_value(json_object_get((j), (k)))

static void test_prices_and_totals(void)
{
    sq_arena_t *a = sq_arena_new();
    /* line 0: 12 units, base 1000 with a 900 tier from 10; line 1: 2 units, base 500 and a VIP override of 450
     * (rule customer_group=cgrp_vip); line 2: no price; line 3: priced but no longer sellable */
    const char *lines = LINE(12, "t", "l0") "\x1e" LINE(2, "t", "l1") "\x1e" LINE(1, "t", "l2") "\x1e" LINE(3, "f", "l3");
    const char *cands = "0\tp0\t1000\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "0\tp1\t900\t1200\t10\t\t\t0\t0\t0\t0\t\n"
                        "1\tp2\t500\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "1\tp3\t450\t0\t1\tplist_vip\toverride\t5\t0\t0\t0\tcustomer_group=cgrp_vip\n"
                        "3\tp4\t100\t0\t1\t\t\t0\t0\t0\t0\t";
    json_t *c = assemble(a, lines, cands, NULL);
    json_t *items = json_object_get(c, "items");
    CHECK_INT(json_array_size(items), 4);
    json_t *l0 = json_array_get(items, 0), *l1 = json_array_get(items, 1), *l2 = json_array_get(items, 2),
           *l3 = json_array_get(items, 3);
    CHECK_STR(json_string_value(json_object_get(l0, "id")), "l0");
    CHECK_INT(I(l0, "unit_price"), 900);
    CHECK_INT(I(l0, "compare_at_unit_price"), 1200);
    CHECK_INT(I(l0, "subtotal"), 10800);
    CHECK_INT(I(l0, "total"), 10800);
    CHECK_INT(I(l1, "unit_price"), 500);
    CHECK(json_is_null(json_object_get(l1, "price_list_id")));
    CHECK(json_is_null(json_object_get(l2, "unit_price")));
    CHECK(json_is_false(json_object_get(l2, "sellable")));
    CHECK_INT(I(l2, "subtotal"), 0);
    CHECK(json_is_false(json_object_get(l3, "sellable")));
    CHECK_INT(I(l3, "subtotal"), 300);
    CHECK_INT(I(c, "item_subtotal"), 11800); /* lines 2 and 3 left out */
    CHECK_INT(I(c, "total"), 11800);
    CHECK_INT(I(c, "item_count"), 14);
    CHECK_INT(I(c, "discount_total") + I(c, "shipping_total") + I(c, "tax_total"), 0);
    json_decref(c);

    /* the same cart for a VIP customer: the override wins */
    c = assemble(a, lines, cands, "cgrp_other,cgrp_vip");
    l1 = json_array_get(json_object_get(c, "items"), 1);
    CHECK_INT(I(l1, "unit_price"), 450);
    CHECK_STR(json_string_value(json_object_get(l1, "price_list_id")), "plist_vip");
    CHECK_STR(json_string_value(json_object_get(l1, "price_type")), "override");
    CHECK_INT(I(c, "total"), 10800 + 900);
    json_decref(c);

    /* an empty cart */
    c = assemble(a, NULL, NULL, NULL);
    CHECK_INT(json_array_size(json_object_get(c, "items")), 0);
    CHECK_INT(I(c, "total"), 0);
    CHECK_STR(json_string_value(json_object_get(c, "id")), "cart_x");
    json_decref(c);
    sq_arena_unref(a);
}

static void test_refine(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, SQ_E_VALIDATION, "/items/2/variant_id|not_priced|The variant has no price in usd.");
    const sq_err_t *r = sq_cart_refine(a, &e);
    CHECK_INT(r->nfields, 1);
    CHECK_STR(r->fields[0].pointer, "/items/2/variant_id");
    CHECK_STR(r->fields[0].code, "not_priced");
    CHECK_STR(r->detail, "The variant has no price in usd.");
    sq_err_set(&e, SQ_E_INSUFFICIENT_STOCK, "/quantity|insufficient_stock|Only 2 of X can be bought now.");
    r = sq_cart_refine(a, &e);
    CHECK_INT(r->code, SQ_E_INSUFFICIENT_STOCK);
    CHECK_STR(r->fields[0].pointer, "/quantity");
    sq_err_set(&e, SQ_E_VALIDATION, "|too_many|A cart holds at most 250 lines.");
    r = sq_cart_refine(a, &e);
    CHECK_STR(r->fields[0].pointer, "");
    CHECK_STR(r->fields[0].code, "too_many");
    sq_err_set(&e, SQ_E_VALIDATION, "A plain message | with bars | inside.");
    CHECK(sq_cart_refine(a, &e) == &e);
    sq_err_set(&e, SQ_E_NOT_FOUND, "/x|y|z");
    CHECK(sq_cart_refine(a, &e) == &e);
    CHECK(sq_cart_refine(a, NULL) == NULL);
    sq_arena_unref(a);
}

static void test_ids(void)
{
    const char *ok = "cart_0123456789abcdefghijABCDEFGHIJ-_0123456789a"; /* 43 after the prefix */
    CHECK(sq_cart_id_valid(ok));
    CHECK(!sq_cart_id_valid("cart_0123456789abcdefghijABCDEFGHIJ-_0123456789"));
    CHECK(!sq_cart_id_valid("cart_0123456789abcdefghijABCDEFGHIJ-_0123456789ab"));
    CHECK(!sq_cart_id_valid("cart_0123456789abcdefghijABCDEFGHIJ-_0123456789+"));
    CHECK(!sq_cart_id_valid("cort_0123456789abcdefghijABCDEFGHIJ-_0123456789a"));
    CHECK(!sq_cart_id_valid(""));
}

/* Decodes body with the PATCH rules; returns the error's first pointer ("" when valid). */
static const char *update_error(sq_arena_t *a, const char *body, sq_err_t *e)
{
    json_error_t je;
    json_t *j = sq_json_own(a, json_loads(body, 0, &je));
    char scratch[256] = {0};
    sq_err_clear(e);
    if (sq_json_decode(a, j, sq_cart_update_fields, scratch, NULL, e) == 0)
        return "";
    return e->nfields > 0 ? sq_arena_strdup(a, e->fields[0].pointer) : "?";
}

static void test_address_rules(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_err_t e;
    CHECK_STR(update_error(a, "{\"shipping_address\":{\"country_code\":\"DE\",\"city\":\"Berlin\",\"phone\":\"+49 30 1234\"}}", &e), "");
    CHECK_STR(update_error(a, "{\"shipping_address\":null,\"billing_address\":null}", &e), "");
    CHECK_STR(update_error(a, "{\"shipping_address\":{\"city\":\"Berlin\"}}", &e), "/shipping_address/country_code");
    CHECK_STR(update_error(a, "{\"billing_address\":{\"country_code\":\"xx\"}}", &e), "/billing_address/country_code");
    CHECK_STR(update_error(a, "{\"shipping_address\":{\"country_code\":\"de\",\"phone\":\"call me\"}}", &e), "/shipping_address/phone");
    CHECK_STR(update_error(a, "{\"shipping_address\":{\"country_code\":\"de\",\"is_default_shipping\":true}}", &e),
              "/shipping_address/is_default_shipping");
    CHECK_INT(e.code, SQ_E_UNKNOWN_FIELD);
    CHECK_STR(update_error(a, "{\"shipping_address\":\"Berlin\"}", &e), "/shipping_address");
    CHECK_STR(update_error(a, "{\"shipping_address_id\":\"addr_01zzzzzzzzzzzzzzzzzzzzzzzz\"}", &e), "");
    CHECK_STR(update_error(a, "{\"shipping_address_id\":null}", &e), "/shipping_address_id");
    sq_arena_unref(a);
}

/* ---- the pricing adjustments stage (core/hooks.h) with a C provider table instead of the plugin host ---- */

static int fake_active_calls, fake_provider_calls, fake_calls;
static bool fake_on;
static int64_t seen_discount[4]; /* line 0's discount_total as each provider saw it */
static int seen_nlines[4];

static bool fake_active(void)
{
    fake_active_calls++;
    return fake_on;
}

static const char **fake_providers(sq_arena_t *a, const char *channel_id)
{
    fake_provider_calls++;
    CHECK_STR(channel_id, "sc_web");
    const char **out = sq_arena_alloc(a, sizeof(*out) * 3);
    out[0] = "first";
    out[1] = "second";
    out[2] = NULL;
    return out;
}

/* first: 300 off item 1 and 50 off item 2; second: 10000 off item 1 (cut to what is left), then 7 more (dropped) */
static void fake_adjust(sq_ctx_t *cx, const char *plugin, const sq_adjust_req_t *req, sq_adjust_cb cb, void *data)
{
    seen_discount[fake_calls] = req->lines[0].discount_total;
    seen_nlines[fake_calls++] = req->nlines;
    sq_adjustment_t *x = sq_arena_alloc(cx->arena, sizeof(*x) * 2);
    sq_adjust_res_t res = {plugin, x, 2};
    if (strcmp(plugin, "first") == 0) {
        x[0] = (sq_adjustment_t){0, 300, "\"BULK\"", "\"Bulk \\\"10\\\"\""};
        x[1] = (sq_adjustment_t){1, 50, "\"BULK\"", "\"Bulk\""};
    } else {
        x[0] = (sq_adjustment_t){0, 10000, "\"ALL\"", "\"All of it\""};
        x[1] = (sq_adjustment_t){0, 7, "\"MORE\"", "\"More\""};
    }
    cb(&res, data);
}

static const sq_pricing_plugins_t fake_hooks = {fake_active, fake_providers, fake_adjust};

static void test_adjustments(void)
{
    sq_arena_t *a = sq_arena_new();
    /* line 0: 3 x 1000; line 1: 2 x 500; line 2 unsellable; line 3 a gift card (never adjusted) */
    const char *lines = LINE(3, "t", "l0") "\x1e" LINE(2, "t", "l1") "\x1e" LINE(1, "f", "l2") "\x1e" LINE(1, "tg", "l3");
    const char *cands = "0\tp0\t1000\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "1\tp1\t500\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "2\tp2\t100\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "3\tp3\t2500\t0\t1\t\t\t0\t0\t0\t0\t";

    /* the request: only the sellable lines that are not gift cards, with their place among the cart's lines */
    sq_cart_row_t row = {"{\"id\":\"cart_x\",\"object\":\"cart\"}", lines, cands, "eur", "sc_web", NULL, NULL, T0};
    sq_cart_totals_t t;
    sq_cart_price(a, &row, &t);
    t.lines[0].discount_total = 2500; /* as if a promotion took 2500 of 3000 */
    const sq_adjust_req_t *req = sq_cart_adjust_request(a, &t);
    CHECK_INT(req->nlines, 2);
    CHECK_INT(req->lines[0].line, 0);
    CHECK_INT(req->lines[1].line, 1);
    CHECK_INT(req->lines[0].subtotal, 3000);
    CHECK_INT(req->lines[0].unit_price, 1000);
    CHECK_INT(req->lines[0].quantity, 3);
    CHECK_INT(req->lines[0].discount_total, 2500);
    CHECK_INT(req->item_subtotal, 3000 + 1000 + 2500);
    CHECK_INT(req->discount_total, 2500);
    CHECK_STR(req->currency, "eur");

    /* clamping: 800 asked, 500 left -> 500; then 1 more -> nothing left, dropped; a line with room takes it all */
    sq_adjustment_t x[3] = {{0, 800, "\"A\"", "\"A\""}, {0, 1, "\"B\"", "\"B\""}, {1, 1000, "\"C\"", "\"C\""}};
    sq_adjust_res_t res = {"p", x, 3};
    CHECK_INT(sq_cart_apply_adjustments(a, &t, req, &res), 500 + 1000);
    CHECK_INT(t.lines[0].discount_total, 3000);
    CHECK_INT(t.lines[1].discount_total, 1000);
    CHECK_STR(sq_arena_strndup(a, t.lines[0].adjustments.p, t.lines[0].adjustments.len),
              "{\"promotion_id\":null,\"code\":\"A\",\"amount\":500,\"description\":\"A\",\"kind\":\"plugin\",\"plugin\":\"p\"}");
    CHECK_INT(t.lines[3].discount_total, 0);

    /* no provider enabled: the stage asks nothing more than active() */
    sq_pricing_plugins = &fake_hooks;
    fake_on = false;
    json_t *c = assemble(a, lines, cands, NULL);
    CHECK_INT(fake_active_calls, 1);
    CHECK_INT(fake_provider_calls + fake_calls, 0);
    CHECK_INT(I(c, "discount_total"), 0);
    json_decref(c);

    /* two providers in the order given, the second seeing the first's adjustments; totals follow */
    fake_on = true;
    c = assemble(a, lines, cands, NULL);
    CHECK_INT(fake_calls, 2);
    CHECK_INT(seen_discount[0], 0);
    CHECK_INT(seen_discount[1], 300);
    CHECK_INT(seen_nlines[0], 2);
    json_t *items = json_object_get(c, "items"), *l0 = json_array_get(items, 0), *l1 = json_array_get(items, 1);
    CHECK_INT(I(l0, "discount_total"), 3000);
    CHECK_INT(I(l0, "total"), 0);
    json_t *adj = json_object_get(l0, "adjustments");
    CHECK_INT(json_array_size(adj), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(adj, 0), "plugin")), "first");
    CHECK_STR(json_string_value(json_object_get(json_array_get(adj, 0), "description")), "Bulk \"10\"");
    CHECK_STR(json_string_value(json_object_get(json_array_get(adj, 0), "kind")), "plugin");
    CHECK(json_is_null(json_object_get(json_array_get(adj, 0), "promotion_id")));
    CHECK_INT(I(json_array_get(adj, 1), "amount"), 2700);
    CHECK_STR(json_string_value(json_object_get(json_array_get(adj, 1), "code")), "ALL");
    CHECK_INT(I(l1, "discount_total"), 50);
    CHECK_INT(json_array_size(json_object_get(json_array_get(items, 3), "adjustments")), 0);
    CHECK_INT(I(c, "discount_total"), 3050);
    CHECK_INT(I(c, "total"), 3000 + 1000 + 2500 - 3050);
    json_decref(c);
    sq_pricing_plugins = NULL;
    sq_arena_unref(a);
}

int main(void)
{
    test_address_rules();
    test_prices_and_totals();
    test_refine();
    test_ids();
    test_adjustments();
    return check_done("cart");
}
