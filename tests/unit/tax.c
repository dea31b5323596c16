/* tax.c: tests of core/tax.c (which rates apply, exclusive and inclusive amounts, rounding, zero rates), the
 * flat-rate provider of core/shipping.c, sq_money_muldiv, and a cart view with shipping and tax (core/cart.c). */
#include "core/tax.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/money.h"
#include "core/cart.h"
#include "core/shipping.h"
#include "tests/unit/check.h"

#define T0 1800000000000000LL

static void test_muldiv(void)
{
    int64_t v = 0;
    CHECK(sq_money_muldiv(1190, 1900, 11900, &v));
    CHECK_INT(v, 190);
    CHECK(sq_money_muldiv(5, 1, 2, &v)); /* 2.5 -> 3 */
    CHECK_INT(v, 3);
    CHECK(sq_money_muldiv(-5, 1, 2, &v)); /* -2.5 -> -3: half away from zero */
    CHECK_INT(v, -3);
    CHECK(sq_money_muldiv(7, 1, 3, &v)); /* 2.33 -> 2 */
    CHECK_INT(v, 2);
    CHECK(!sq_money_muldiv(1, 1, 0, &v));
    CHECK(!sq_money_muldiv(INT64_MAX, 3, 1, &v));
    CHECK(sq_money_muldiv(INT64_MAX, 10000, 10000, &v)); /* the product does not overflow: __int128 */
    CHECK(v == INT64_MAX);
}

static const sq_tax_rate_t rates[] = {
    {"txr_region_std", "\"VAT\"", "\"VAT 19%\"", 1900, "standard", 0},
    {"txr_region_red", "\"VAT7\"", "\"VAT 7%\"", 700, "reduced", 0},
    {"txr_fr_std", "\"TVA\"", "\"TVA 20%\"", 2000, "standard", 1},
    {"txr_ca_state", "\"CA\"", "\"California\"", 725, "standard", 2},
    {"txr_ca_district", "\"LA\"", "\"Los Angeles\"", 225, "standard", 2},
    {"txr_zero", "\"ZERO\"", "\"Zero\"", 0, "zero", 0},
};

static int compute(const sq_tax_rate_t *r, int nr, bool inclusive, const sq_tax_item_t *items, int ni, sq_tax_line_t *out)
{
    sq_tax_req_t req = {"eur", inclusive, "reg_x", NULL, NULL, r, nr, items, ni};
    return sq_tax_table_compute(&req, out, 32);
}

static void test_choice_of_rates(void)
{
    sq_tax_line_t out[32];
    /* the region only (levels 0): the class's rate; a class without a rate is standard; 0 bp is a line of 0 */
    sq_tax_item_t items[] = {
        {"standard", 1000, 1}, {"reduced", 1000, 1}, {"books", 1000, 1}, {"zero", 1000, 1}, {"shipping", 500, 1}};
    int n = compute(rates, 2, false, items, 5, out);
    CHECK_INT(n, 5); /* "zero" has no rate among the first two, nor "shipping": standard */
    CHECK_INT(out[0].item, 0);
    CHECK_STR(out[0].rate_id, "txr_region_std");
    CHECK_INT(out[0].amount, 190);
    CHECK_INT(out[1].item, 1);
    CHECK_STR(out[1].rate_id, "txr_region_red");
    CHECK_INT(out[1].amount, 70);
    CHECK_INT(out[2].item, 2);
    CHECK_STR(out[2].rate_id, "txr_region_std");
    CHECK_INT(out[3].item, 3);
    CHECK_STR(out[3].rate_id, "txr_region_std");
    CHECK_INT(out[4].item, 4);
    CHECK_INT(out[4].amount, 95); /* 19% of 500 */
    n = compute(rates, 6, false, items + 3, 1, out);
    CHECK_INT(n, 1);
    CHECK_STR(out[0].rate_id, "txr_zero");
    CHECK_INT(out[0].amount, 0);
    CHECK_INT(out[0].rate_bp, 0);
    /* the country's rate beats the region's; the province's beat both and all of them apply */
    n = compute(rates, 3, false, items, 1, out);
    CHECK_INT(n, 1);
    CHECK_STR(out[0].rate_id, "txr_fr_std");
    CHECK_INT(out[0].amount, 200);
    n = compute(rates, 5, false, items, 1, out);
    CHECK_INT(n, 2);
    CHECK_STR(out[0].rate_id, "txr_ca_state");
    CHECK_INT(out[0].amount, 73); /* 72.5 -> 73 */
    CHECK_STR(out[1].rate_id, "txr_ca_district");
    CHECK_INT(out[1].amount, 23); /* 22.5 -> 23 */
    /* a reduced item where the country only has standard: the region's reduced rate (the class first) */
    n = compute(rates, 3, false, items + 1, 1, out);
    CHECK_INT(n, 1);
    CHECK_STR(out[0].rate_id, "txr_region_red");
    /* no rates at all: no tax lines */
    CHECK_INT(compute(rates, 0, false, items, 5, out), 0);
}

static void test_amounts_and_rounding(void)
{
    sq_tax_line_t out[32];
    const sq_tax_rate_t vat[] = {{"txr_v", "\"V\"", "\"V\"", 1900, "standard", 0}};
    /* exclusive: 19% of 999 = 189.81 -> 190; of 50 = 9.5 -> 10 (half up); of 0 = 0; a negative base is 0 */
    sq_tax_item_t ex[] = {{"standard", 999, 1}, {"standard", 50, 1}, {"standard", 0, 1}, {"standard", -10, 1}};
    CHECK_INT(compute(vat, 1, false, ex, 4, out), 4);
    CHECK_INT(out[0].amount, 190);
    CHECK_INT(out[1].amount, 10);
    CHECK_INT(out[2].amount, 0);
    CHECK_INT(out[3].amount, 0);
    /* inclusive: the tax inside 1190 at 19% is 190; inside 999 it is 159.5 -> 160; inside 1 it is 0.16 -> 0 */
    sq_tax_item_t in[] = {{"standard", 1190, 1}, {"standard", 999, 1}, {"standard", 1, 1}};
    CHECK_INT(compute(vat, 1, true, in, 3, out), 3);
    CHECK_INT(out[0].amount, 190);
    CHECK_INT(out[1].amount, 160);
    CHECK_INT(out[2].amount, 0);
    /* inclusive with two rates: each is its share of the gross over 10000 + 725 + 225: 999 x 725 / 10950 = 66.14 -> 66,
     * 999 x 225 / 10950 = 20.53 -> 21 (net 912, and 912 x 7.25% = 66.12, 912 x 2.25% = 20.52) */
    CHECK_INT(compute(rates + 3, 2, true, in + 1, 1, out), 2);
    CHECK_INT(out[0].amount, 66);
    CHECK_INT(out[1].amount, 21);
}

static void test_flat_rate(void)
{
    CHECK_INT(sq_ship_flat_rate(495, -1, 100000), 495);
    CHECK_INT(sq_ship_flat_rate(495, 5000, 4999), 495);
    CHECK_INT(sq_ship_flat_rate(495, 5000, 5000), 0);
    CHECK_INT(sq_ship_flat_rate(495, 0, 0), 0);
    sq_ship_option_t o;
    char rec[] = "so_1\tflat_rate\t495\t-1\t\"Standard \\\"tracked\\\"\"";
    CHECK(sq_ship_option_parse(rec, &o));
    CHECK_STR(o.id, "so_1");
    CHECK_STR(o.provider, "flat_rate");
    CHECK_INT(o.amount, 495);
    CHECK_INT(o.free_over, -1);
    CHECK_STR(o.name_json, "\"Standard \\\"tracked\\\"\"");
    char bad[] = "so_1\tflat_rate\t495";
    CHECK(!sq_ship_option_parse(bad, &o));
    CHECK(sq_shipping_provider("flat_rate") == &sq_shipping_flat_rate);
    CHECK(sq_shipping_provider("ups") == NULL);
}

#define LINE(qty, ok, id) #qty "\t" ok "\t{\"id\":\"" id "\",\"quantity\":" #qty "}"
#define I(j, k) json_integer_value(json_object_get((j), (k)))

static json_t *view(sq_arena_t *a, bool inclusive, const char *classes, const char *rates_text, const char *shipping)
{
    /* line 0: 3 x 1000; line 1: 1 x 999 (reduced); line 2: unsellable (no tax) */
    const char *lines = LINE(3, "t", "l0") "\x1e" LINE(1, "t", "l1") "\x1e" LINE(1, "f", "l2");
    const char *cands = "0\tp0\t1000\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "1\tp1\t999\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "2\tp2\t100\t0\t1\t\t\t0\t0\t0\t0\t";
    sq_cart_row_t row = {"{\"id\":\"cart_x\",\"object\":\"cart\"}",
                         lines,
                         cands,
                         "eur",
                         "sc_web",
                         NULL,
                         NULL,
                         T0,
                         classes,
                         rates_text,
                         shipping,
                         "reg_eu",
                         "de",
                         NULL,
                         inclusive};
    char *s = sq_cart_assemble(a, &row);
    CHECK(s != NULL);
    json_error_t e;
    json_t *j = s ? json_loads(s, 0, &e) : NULL;
    CHECK(j != NULL);
    if (s != NULL && j == NULL)
        fprintf(stderr, "not JSON: %s\n", s);
    return j;
}

static void test_cart_view(void)
{
    sq_arena_t *a = sq_arena_new();
    const char *rt = "txr_de\t1900\tstandard\t1\t\"VAT\"\t\"MwSt. 19%\"\n"
                     "txr_de7\t700\treduced\t1\t\"VAT7\"\t\"MwSt. 7%\"\n"
                     "txr_eu\t2000\tstandard\t0\t\"EU\"\t\"EU default\"";
    /* exclusive, flat rate 495 (free over 10000, not reached: items 3999) */
    json_t *c = view(a, false, "standard\nreduced\nstandard", rt, "so_std\tflat_rate\t495\t10000\t\"Standard\"");
    json_t *items = json_object_get(c, "items"), *l0 = json_array_get(items, 0), *l1 = json_array_get(items, 1),
           *l2 = json_array_get(items, 2);
    CHECK_INT(I(l0, "tax_total"), 570); /* 19% of 3000 */
    CHECK_INT(I(l0, "total"), 3570);
    json_t *tl = json_array_get(json_object_get(l0, "tax_lines"), 0);
    CHECK_STR(json_string_value(json_object_get(tl, "rate_id")), "txr_de");
    CHECK_STR(json_string_value(json_object_get(tl, "code")), "VAT");
    CHECK_STR(json_string_value(json_object_get(tl, "name")), "MwSt. 19%");
    CHECK_INT(I(tl, "rate_bp"), 1900);
    CHECK_INT(I(tl, "amount"), 570);
    CHECK_INT(I(l1, "tax_total"), 70); /* 7% of 999 = 69.93 */
    CHECK_INT(I(l2, "tax_total"), 0);
    CHECK_INT(json_array_size(json_object_get(l2, "tax_lines")), 0);
    json_t *m = json_array_get(json_object_get(c, "shipping_methods"), 0);
    CHECK_STR(json_string_value(json_object_get(m, "shipping_option_id")), "so_std");
    CHECK_STR(json_string_value(json_object_get(m, "name")), "Standard");
    CHECK_INT(I(m, "amount"), 495);
    CHECK_INT(I(m, "tax_total"), 94); /* shipping follows standard: 19% of 495 = 94.05 */
    CHECK_INT(I(c, "shipping_total"), 495);
    CHECK_INT(I(c, "shipping_tax_total"), 94);
    CHECK_INT(I(c, "tax_total"), 570 + 70 + 94);
    CHECK_INT(I(c, "item_subtotal"), 3999);
    CHECK_INT(I(c, "total"), 3999 + 495 + 734);
    CHECK_INT(I(c, "amount_due"), 3999 + 495 + 734);
    CHECK(json_is_false(json_object_get(c, "tax_inclusive")));
    json_decref(c);

    /* inclusive: the same prices hold the tax; the total is the prices; free shipping over 3999 */
    c = view(a, true, "standard\nreduced\nstandard", rt, "so_std\tflat_rate\t495\t3999\t\"Standard\"");
    items = json_object_get(c, "items");
    CHECK_INT(I(json_array_get(items, 0), "tax_total"), 479); /* 3000 x 1900 / 11900 = 478.99 */
    CHECK_INT(I(json_array_get(items, 0), "total"), 3000);
    CHECK_INT(I(json_array_get(items, 1), "tax_total"), 65); /* 999 x 700 / 10700 = 65.36 */
    CHECK_INT(I(c, "shipping_total"), 0);
    CHECK_INT(I(c, "shipping_tax_total"), 0);
    CHECK_INT(I(c, "tax_total"), 479 + 65);
    CHECK_INT(I(c, "total"), 3999);
    CHECK(json_is_true(json_object_get(c, "tax_inclusive")));
    json_decref(c);

    /* no rates, no method: no tax, no shipping; an unknown provider's method is not charged */
    c = view(a, false, NULL, NULL, NULL);
    CHECK_INT(I(c, "tax_total") + I(c, "shipping_total"), 0);
    CHECK_INT(json_array_size(json_object_get(c, "shipping_methods")), 0);
    CHECK_INT(I(c, "total"), 3999);
    json_decref(c);
    c = view(a, false, NULL, NULL, "so_x\tups\t900\t-1\t\"UPS\"");
    CHECK_INT(json_array_size(json_object_get(c, "shipping_methods")), 0);
    CHECK_INT(I(c, "total"), 3999);
    json_decref(c);
    sq_arena_unref(a);
}

static void on_offer(const char *json, const sq_err_t *err, void *data)
{
    CHECK(err == NULL);
    *(char **)data = json ? strdup(json) : NULL;
}

static void test_offer(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_ctx_t cx = {.arena = a};
    const char *lines = LINE(2, "t", "l0");
    sq_cart_row_t row = {"{}", lines, "0\tp0\t2500\t0\t1\t\t\t0\t0\t0\t0\t", "eur", "sc_web", NULL, NULL, T0};
    row.shipping = "so_b\tflat_rate\t900\t-1\t\"Express\"";
    char *out = NULL;
    sq_cart_offer_shipping(
        &cx, &row, "so_a\tflat_rate\t495\t5000\t\"Standard\"\nso_b\tflat_rate\t900\t-1\t\"Express\"\nso_c\tcarrier\t1\t-1\t\"X\"",
        on_offer, &out);
    CHECK(out != NULL);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    json_t *d = json_object_get(j, "data");
    CHECK_INT(json_array_size(d), 2); /* the unknown provider's option is left out */
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 0), "id")), "so_a");
    CHECK_INT(I(json_array_get(d, 0), "amount"), 0); /* 5000 reaches free_over */
    CHECK_INT(I(json_array_get(d, 0), "free_over"), 5000);
    CHECK(json_is_false(json_object_get(json_array_get(d, 0), "selected")));
    CHECK_INT(I(json_array_get(d, 1), "amount"), 900);
    CHECK(json_is_null(json_object_get(json_array_get(d, 1), "free_over")));
    CHECK(json_is_true(json_object_get(json_array_get(d, 1), "selected")));
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 1), "currency_code")), "eur");
    CHECK(json_is_false(json_object_get(j, "has_more")));
    json_decref(j);
    free(out);
    sq_arena_unref(a);
}

int main(void)
{
    test_muldiv();
    test_choice_of_rates();
    test_amounts_and_rounding();
    test_flat_rate();
    test_cart_view();
    test_offer();
    return check_done("tax");
}
