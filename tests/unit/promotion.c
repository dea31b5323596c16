/* promotion.c: tests of core/promotion.c: largest-remainder allocation, each promotion type, thresholds and
 * targets, the stacking rule (combinable stack vs the best single non-combinable), free shipping, gift cards,
 * and the whole cart pipeline with adjustments per line. */
#include "core/promotion.h"

#include <jansson.h>
#include <string.h>

#include "core/base/money.h"
#include "tests/unit/check.h"

static void test_allocate(void)
{
    int64_t out[4];
    /* 100 over 3 equal lines: 33.33 each, the one unit left goes to the first (ties: lower index) */
    int64_t w1[] = {1000, 1000, 1000};
    CHECK(sq_money_allocate(100, w1, 3, out));
    CHECK_INT(out[0], 34);
    CHECK_INT(out[1], 33);
    CHECK_INT(out[2], 33);
    /* largest remainder wins: 10 over 1,2,4 (W=7): 1.43, 2.86, 5.71 -> 1,2,5 + 2 units to .86 and .71 */
    int64_t w2[] = {1, 2, 4};
    CHECK(sq_money_allocate(10, w2, 3, out) == false); /* more than the weights: refused */
    int64_t w3[] = {100, 200, 400};
    CHECK(sq_money_allocate(10, w3, 3, out));
    CHECK_INT(out[0], 1);
    CHECK_INT(out[1], 3);
    CHECK_INT(out[2], 6);
    CHECK_INT(out[0] + out[1] + out[2], 10);
    /* all of it: every share is its weight */
    CHECK(sq_money_allocate(700, w3, 3, out));
    CHECK_INT(out[0], 100);
    CHECK_INT(out[2], 400);
    /* zero weights take nothing */
    int64_t w4[] = {0, 999, 0, 1};
    CHECK(sq_money_allocate(500, w4, 4, out));
    CHECK_INT(out[0], 0);
    CHECK_INT(out[2], 0);
    CHECK_INT(out[1] + out[3], 500);
    CHECK(out[3] <= 1);
    /* many lines, awkward ratios: the sum is exact and no share exceeds its weight */
    int64_t w5[4] = {333, 333, 333, 1};
    CHECK(sq_money_allocate(1, w5, 4, out));
    CHECK_INT(out[0] + out[1] + out[2] + out[3], 1);
    CHECK_INT(out[0], 1);
    int64_t neg[] = {5, -1};
    CHECK(!sq_money_allocate(1, neg, 2, out));
}

static sq_promo_t promo(const char *id, sq_promo_type_t type, int64_t value)
{
    sq_promo_t p = {0};
    p.id = id;
    p.code = id;
    p.description = id;
    p.type = type;
    p.min_subtotal = -1;
    if (type == SQ_PROMO_FIXED)
        p.amount = value;
    else
        p.percent_bp = value;
    return p;
}

static void test_types(void)
{
    sq_arena_t *a = sq_arena_new();
    /* three lines worth 1000, 2000 and 3333; line 3 is not sellable (amount 0) */
    sq_promo_line_t lines[] = {{1000, 500, 2}, {2000, 1000, 2}, {3333, 3333, 1}, {0, 700, 1}};
    int64_t d[4];
    sq_promo_adj_t *adj;
    int nadj, fs;

    /* 10 % off the order: 633.3 -> 633, split 100/200/333 by largest remainder */
    sq_promo_t p1 = promo("promo_a", SQ_PROMO_PERCENTAGE, 1000);
    CHECK(!sq_promo_compute(a, lines, 4, &p1, 1, d, &adj, &nadj, &fs));
    CHECK_INT(d[0] + d[1] + d[2] + d[3], 633);
    CHECK_INT(d[0], 100);
    CHECK_INT(d[1], 200);
    CHECK_INT(d[2], 333);
    CHECK_INT(d[3], 0);
    CHECK_INT(nadj, 3);
    CHECK(p1.applied);
    CHECK_INT(p1.given, 633);
    CHECK_INT(fs, -1);

    /* 12.5 % rounds half away from zero on the sum: 6333 * 0.125 = 791.625 -> 792 */
    sq_promo_t p2 = promo("promo_b", SQ_PROMO_PERCENTAGE, 1250);
    sq_promo_compute(a, lines, 4, &p2, 1, d, &adj, &nadj, &fs);
    CHECK_INT(d[0] + d[1] + d[2], 792);

    /* fixed 10.00 off: proportional with exact sum; more than the order: capped at the order */
    sq_promo_t p3 = promo("promo_c", SQ_PROMO_FIXED, 1000);
    sq_promo_compute(a, lines, 4, &p3, 1, d, &adj, &nadj, &fs);
    CHECK_INT(d[0] + d[1] + d[2], 1000);
    CHECK_INT(d[0], 158); /* 157.9 */
    CHECK_INT(d[1], 316); /* 315.8 */
    CHECK_INT(d[2], 526); /* 526.3 */
    sq_promo_t p4 = promo("promo_d", SQ_PROMO_FIXED, 99999);
    sq_promo_compute(a, lines, 4, &p4, 1, d, &adj, &nadj, &fs);
    CHECK_INT(d[0], 1000);
    CHECK_INT(d[1], 2000);
    CHECK_INT(d[2], 3333);
    CHECK_INT(p4.given, 6333);

    /* target items: only line 1 */
    int only1[] = {1};
    sq_promo_t p5 = promo("promo_e", SQ_PROMO_PERCENTAGE, 5000);
    p5.lines = only1;
    p5.nlines = 1;
    sq_promo_compute(a, lines, 4, &p5, 1, d, &adj, &nadj, &fs);
    CHECK_INT(d[0], 0);
    CHECK_INT(d[1], 1000);
    CHECK_INT(d[2], 0);
    CHECK_INT(nadj, 1);
    CHECK_INT(adj[0].line, 1);
    /* targeting only the unsellable line: does not qualify */
    int only3[] = {3};
    p5.lines = only3;
    sq_promo_compute(a, lines, 4, &p5, 1, d, &adj, &nadj, &fs);
    CHECK_INT(p5.why, SQ_PROMO_NO_ITEMS);
    CHECK(!p5.applied);
    CHECK_INT(d[3], 0);

    /* min subtotal (6333 before discounts): 6333 qualifies, 6334 does not */
    sq_promo_t p6 = promo("promo_f", SQ_PROMO_FIXED, 100);
    p6.min_subtotal = 6333;
    sq_promo_compute(a, lines, 4, &p6, 1, d, &adj, &nadj, &fs);
    CHECK(p6.applied);
    p6.min_subtotal = 6334;
    sq_promo_compute(a, lines, 4, &p6, 1, d, &adj, &nadj, &fs);
    CHECK_INT(p6.why, SQ_PROMO_MIN_SUBTOTAL);
    CHECK_INT(d[0] + d[1] + d[2], 0);

    /* free shipping qualifies and gives no item discount */
    sq_promo_t p7 = promo("promo_g", SQ_PROMO_FREE_SHIPPING, 0);
    CHECK(sq_promo_compute(a, lines, 4, &p7, 1, d, &adj, &nadj, &fs));
    CHECK_INT(fs, 0);
    CHECK(p7.applied);
    CHECK_INT(nadj, 0);
    sq_arena_unref(a);
}

static void test_buy_x_get_y(void)
{
    sq_arena_t *a = sq_arena_new();
    /* buy 2 get 1 free over lines of 3 x 10.00 and 2 x 4.00 (5 units: one group, the cheapest unit free) */
    sq_promo_line_t lines[] = {{3000, 1000, 3}, {800, 400, 2}, {5000, 5000, 1}};
    int both[] = {0, 1};
    int64_t d[3];
    sq_promo_adj_t *adj;
    int nadj, fs;
    sq_promo_t p = promo("promo_x", SQ_PROMO_BUY_X_GET_Y, 10000);
    p.buy = 2;
    p.get = 1;
    p.lines = both;
    p.nlines = 2;
    sq_promo_compute(a, lines, 3, &p, 1, d, &adj, &nadj, &fs);
    CHECK_INT(d[0], 0);
    CHECK_INT(d[1], 400);
    CHECK_INT(d[2], 0);
    /* 6 units -> 2 free: both 4.00 units */
    lines[0].qty = 4;
    lines[0].amount = 4000;
    sq_promo_compute(a, lines, 3, &p, 1, d, &adj, &nadj, &fs);
    CHECK_INT(d[1], 800);
    CHECK_INT(d[0], 0);
    /* 9 units -> 3 free: two 4.00 and one 10.00; 50 % off the get units instead */
    lines[0].qty = 7;
    lines[0].amount = 7000;
    p.percent_bp = 5000;
    sq_promo_compute(a, lines, 3, &p, 1, d, &adj, &nadj, &fs);
    CHECK_INT(d[1], 400);
    CHECK_INT(d[0], 500);
    /* fewer than buy + get units: not applicable */
    lines[0].qty = 1;
    lines[0].amount = 1000;
    lines[1].qty = 1;
    lines[1].amount = 400;
    sq_promo_compute(a, lines, 3, &p, 1, d, &adj, &nadj, &fs);
    CHECK_INT(p.why, SQ_PROMO_NO_ITEMS);
    sq_arena_unref(a);
}

static void test_stacking(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_promo_line_t lines[] = {{6000, 3000, 2}, {4000, 4000, 1}};
    int64_t d[2];
    sq_promo_adj_t *adj;
    int nadj, fs;
    /* two combinable: 10 % (priority 5) then 5.00 fixed (priority 1): 1000 + 500 */
    sq_promo_t ps[4] = {promo("promo_1", SQ_PROMO_FIXED, 500), promo("promo_2", SQ_PROMO_PERCENTAGE, 1000)};
    ps[0].combinable = ps[1].combinable = true;
    ps[0].priority = 1;
    ps[1].priority = 5;
    sq_promo_compute(a, lines, 2, ps, 2, d, &adj, &nadj, &fs);
    CHECK_INT(d[0] + d[1], 1500);
    CHECK_INT(ps[1].given, 1000);
    CHECK_INT(ps[0].given, 500);
    CHECK_INT(adj[0].promo, 1); /* the higher priority applied first */
    /* the other order: fixed first, then 10 % of the rest (9500 -> 950) */
    ps[0].priority = 9;
    sq_promo_compute(a, lines, 2, ps, 2, d, &adj, &nadj, &fs);
    CHECK_INT(d[0] + d[1], 1450);
    CHECK_INT(ps[1].given, 950);

    /* a non-combinable 20 % (2000) beats the stack (1450): it alone applies */
    ps[2] = promo("promo_3", SQ_PROMO_PERCENTAGE, 2000);
    sq_promo_compute(a, lines, 2, ps, 3, d, &adj, &nadj, &fs);
    CHECK_INT(d[0] + d[1], 2000);
    CHECK(ps[2].applied);
    CHECK(!ps[0].applied && !ps[1].applied);
    /* a non-combinable 10 % (1000) loses to the stack */
    ps[2].percent_bp = 1000;
    sq_promo_compute(a, lines, 2, ps, 3, d, &adj, &nadj, &fs);
    CHECK_INT(d[0] + d[1], 1450);
    CHECK(!ps[2].applied);
    CHECK(ps[0].applied && ps[1].applied);
    /* two non-combinable alone: the larger wins; free shipping combines with it */
    ps[0].combinable = ps[1].combinable = false;
    ps[3] = promo("promo_4", SQ_PROMO_FREE_SHIPPING, 0);
    CHECK(sq_promo_compute(a, lines, 2, ps, 4, d, &adj, &nadj, &fs));
    CHECK_INT(fs, 3);
    CHECK_INT(d[0] + d[1], 1000);
    CHECK(ps[1].applied && !ps[0].applied && !ps[2].applied);
    /* ties between non-combinable: the higher priority (applied first in order) keeps it */
    ps[2].priority = 20;
    sq_promo_compute(a, lines, 2, ps, 4, d, &adj, &nadj, &fs);
    CHECK(ps[2].applied && !ps[1].applied);
    /* never below 0: two combinable 100 % */
    sq_promo_t full[2] = {promo("promo_5", SQ_PROMO_PERCENTAGE, 10000), promo("promo_6", SQ_PROMO_FIXED, 700)};
    full[0].combinable = full[1].combinable = true;
    sq_promo_compute(a, lines, 2, full, 2, d, &adj, &nadj, &fs);
    CHECK_INT(d[0], 6000);
    CHECK_INT(d[1], 4000);
    CHECK_INT(full[1].given, 0);
    sq_arena_unref(a);
}

typedef struct {
    char *json;
    const sq_cart_totals_t *t;
    bool answered;
} captured_t;

static void capture(const char *json, const sq_cart_totals_t *t, const sq_err_t *err, void *data)
{
    captured_t *c = data;
    c->json = err == NULL ? (char *)json : NULL;
    c->t = t;
    c->answered = true;
}

#define LINE(qty, ok, id) #qty "\t" ok "\t{\"id\":\"" id "\",\"quantity\":" #qty "}"
#define I(j, k) json_integer_value(json_object_get((j), (k)))

static void test_pipeline(void)
{
    sq_arena_t *a = sq_arena_new();
    const char *lines = LINE(2, "t", "l0") "\x1e" LINE(1, "t", "l1");
    const char *cands = "0\tp0\t1000\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "1\tp1\t2999\t0\t1\t\t\t0\t0\t0\t0\t";
    const char *promos =
        "[{\"id\":\"promo_a\",\"code\":\"SAVE10\",\"type\":\"percentage\",\"percent_bp\":1000,\"target\":\"order\","
        "\"priority\":0,\"combinable\":true,\"description\":\"10 \\\"off\\\"\",\"trial\":false,\"lines\":null},"
        "{\"id\":\"promo_s\",\"code\":null,\"type\":\"free_shipping\",\"min_subtotal\":4000,\"priority\":0,"
        "\"combinable\":false,\"description\":\"Free shipping\",\"trial\":false,\"lines\":null},"
        "{\"id\":\"promo_t\",\"code\":\"BIG\",\"type\":\"fixed\",\"amount\":500,\"min_subtotal\":99999,"
        "\"priority\":0,\"combinable\":true,\"description\":\"Big\",\"trial\":true,\"lines\":null}]";
    const char *cards =
        "[{\"id\":\"gcard_1\",\"last4\":\"AB12\",\"balance\":3000},{\"id\":\"gcard_2\",\"last4\":\"CD34\",\"balance\":9000}]";
    sq_cart_row_t row = {"{\"id\":\"cart_x\",\"object\":\"cart\"}", lines, cands, "eur", "sc_web", NULL, NULL, 0};
    row.promotions = promos;
    row.gift_cards = cards;
    sq_ctx_t cx = {.arena = a};
    captured_t got = {NULL, NULL, false};
    sq_cart_compute_totals(&cx, &row, capture, &got); /* the built-in providers answer at once */
    CHECK(got.answered && got.t != NULL);
    if (got.t == NULL)
        return;
    sq_cart_totals_t t = *got.t;
    char *s = got.json;
    json_error_t e;
    json_t *c = json_loads(s, 0, &e);
    CHECK(c != NULL);
    if (c == NULL) {
        fprintf(stderr, "not JSON: %s\n", s);
        return;
    }
    /* 2000 + 2999 = 4999; 10 % = 499.9 -> 500, split 200 / 300 (299.9 has the larger remainder) */
    json_t *items = json_object_get(c, "items"), *l0 = json_array_get(items, 0), *l1 = json_array_get(items, 1);
    CHECK_INT(I(l0, "discount_total"), 200);
    CHECK_INT(I(l1, "discount_total"), 300);
    CHECK_INT(I(c, "discount_total"), 500);
    CHECK_INT(I(c, "total"), 4499);
    json_t *adj = json_array_get(json_object_get(l1, "adjustments"), 0);
    CHECK_STR(json_string_value(json_object_get(adj, "promotion_id")), "promo_a");
    CHECK_STR(json_string_value(json_object_get(adj, "code")), "SAVE10");
    CHECK_STR(json_string_value(json_object_get(adj, "description")), "10 \"off\"");
    CHECK_INT(I(adj, "amount"), 300);
    /* applied promotions: the percentage and the automatic free shipping (0 here: no shipping yet) */
    json_t *applied = json_object_get(c, "promotions");
    CHECK_INT(json_array_size(applied), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(applied, 0), "id")), "promo_a");
    CHECK_INT(I(json_array_get(applied, 0), "amount"), 500);
    CHECK(json_is_null(json_object_get(json_array_get(applied, 1), "code")));
    CHECK(t.free_shipping);
    /* the trial code's threshold is not met */
    CHECK(t.trial_refusal != NULL && strncmp(t.trial_refusal, "coupon_min_subtotal|", 20) == 0);
    /* gift cards: 30.00 then 44.99 of the 90.00 card */
    CHECK_INT(I(c, "gift_card_total"), 4499);
    CHECK_INT(I(c, "amount_due"), 0);
    json_t *g = json_object_get(c, "gift_cards");
    CHECK_INT(I(json_array_get(g, 0), "amount"), 3000);
    CHECK_INT(I(json_array_get(g, 1), "amount"), 1499);
    CHECK_STR(json_string_value(json_object_get(json_array_get(g, 1), "last4")), "CD34");
    json_decref(c);

    /* free shipping after the shipping stage: the discount is the shipping price */
    t.shipping_total = 495;
    t.shipping_discount_total = 0;
    t.free_shipping = true;
    sq_buf_init(&t.promotions, a, 16);
    sq_promotion_free_shipping(a, &t);
    CHECK_INT(t.shipping_discount_total, 495);
    CHECK(strstr(t.promotions.p, "\"amount\":495") != NULL);
    sq_arena_unref(a);
}

static void test_checks(void)
{
    const char *code;
    json_t *v = json_string("SUMMER-24_x");
    CHECK(sq_check_promo_code(v, &code) == NULL);
    json_decref(v);
    v = json_string("no spaces");
    CHECK(sq_check_promo_code(v, &code) != NULL);
    json_decref(v);
    v = json_loads("{\"eur\":500,\"usd\":600}", 0, NULL);
    CHECK(sq_check_currency_amounts(v, &code) == NULL);
    json_decref(v);
    v = json_loads("{\"EUR\":500}", 0, NULL);
    CHECK(sq_check_currency_amounts(v, &code) != NULL);
    json_decref(v);
    v = json_loads("{\"eur\":0}", 0, NULL);
    CHECK(sq_check_currency_amounts(v, &code) != NULL);
    json_decref(v);
    v = json_loads("{}", 0, NULL);
    CHECK(sq_check_currency_amounts(v, &code) != NULL);
    json_decref(v);
}

static void test_parse(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_promo_t *ps;
    int n;
    CHECK_INT(sq_promo_parse(a, "not json", &ps, &n), -1);
    CHECK_INT(sq_promo_parse(a,
                             "[{\"id\":\"p\",\"type\":\"bogus\"},{\"id\":\"q\",\"type\":\"buy_x_get_y\",\"buy\":0,\"get\":1},"
                             "{\"id\":\"r\",\"type\":\"fixed\",\"amount\":5,\"lines\":[0,2]}]",
                             &ps, &n),
              0);
    CHECK_INT(n, 1); /* unknown types and broken buy X get Y are skipped */
    CHECK_STR(ps[0].id, "r");
    CHECK_INT(ps[0].nlines, 2);
    CHECK_INT(ps[0].lines[1], 2);
    CHECK_INT(ps[0].min_subtotal, -1);
    sq_arena_unref(a);
}

int main(void)
{
    test_allocate();
    test_types();
    test_buy_x_get_y();
    test_stacking();
    test_pipeline();
    test_checks();
    test_parse();
    return check_done("promotion");
}
