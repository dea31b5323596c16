/* loyalty.c: tests of core/loyalty.c: what redeeming points gives a cart (rates, balance, the items' cap, the
 * fewest points worth the amount, malformed rows) and the loyalty stage in the whole cart pipeline (split over the
 * lines, before tax, adjustments, the cart's loyalty object). */
#include "core/loyalty.h"

#include <jansson.h>
#include <string.h>

#include "tests/unit/check.h"

#define T0 1800000000000000LL

static void test_compute(void)
{
    sq_loyalty_redeem_t r;
    /* 100 points = 1.00: 250 points of a 1000 balance on 35.00 of items */
    CHECK(sq_loyalty_redeem_compute("250\t1000\t100\t100", 3500, &r));
    CHECK_INT(r.requested, 250);
    CHECK_INT(r.points, 250);
    CHECK_INT(r.amount, 250);
    /* not capped by the balance (checkout refuses the order instead of dropping the discount); the balance is shown */
    CHECK(sq_loyalty_redeem_compute("500\t120\t100\t100", 3500, &r));
    CHECK_INT(r.points, 500);
    CHECK_INT(r.amount, 500);
    CHECK_INT(r.balance, 120);
    /* capped by the items: only the points worth them are used */
    CHECK(sq_loyalty_redeem_compute("1500\t2000\t100\t100", 1000, &r));
    CHECK_INT(r.amount, 1000);
    CHECK_INT(r.points, 1000);
    /* 3 points = 0.01: 10 points are worth floor(3.33) = 3; the fewest points for 3 are 9 */
    CHECK(sq_loyalty_redeem_compute("10\t10\t3\t1", 1000, &r));
    CHECK_INT(r.amount, 3);
    CHECK_INT(r.points, 9);
    /* ... and when the items cap it at 2, ceil(2 x 3 / 1) = 6 points */
    CHECK(sq_loyalty_redeem_compute("10\t10\t3\t1", 2, &r));
    CHECK_INT(r.amount, 2);
    CHECK_INT(r.points, 6);
    /* 1 point = 0.07 (rp 1, rv 7): 5 points = 35; capped at 30 -> ceil(30 / 7) = 5 points */
    CHECK(sq_loyalty_redeem_compute("5\t5\t1\t7", 30, &r));
    CHECK_INT(r.amount, 30);
    CHECK_INT(r.points, 5);
    /* whatever the rate: the points used are worth the amount, one point fewer is not, and nothing exceeds its cap */
    int bad = 0;
    for (int rp = 1; rp <= 13; rp++)
        for (int rv = 1; rv <= 13; rv++)
            for (int left = 0; left <= 40; left += 7) {
                char row[64];
                snprintf(row, sizeof(row), "37\t37\t%d\t%d", rp, rv);
                if (!sq_loyalty_redeem_compute(row, left, &r) || r.points > 37 || r.amount > left ||
                    (long long)r.points * rv / rp < r.amount || (r.points > 0 && (long long)(r.points - 1) * rv / rp >= r.amount) ||
                    (r.amount < left && r.amount < 37LL * rv / rp))
                    bad++;
            }
    CHECK_INT(bad, 0);
    /* nothing left to discount: nothing used */
    CHECK(sq_loyalty_redeem_compute("100\t100\t1\t1", 0, &r));
    CHECK_INT(r.amount, 0);
    CHECK_INT(r.points, 0);
    /* huge values do not overflow */
    CHECK(sq_loyalty_redeem_compute("1000000000000\t1000000000000\t1\t1000000", 9000000000000000000LL, &r) == false ||
          r.amount >= 0);
    /* malformed rows redeem nothing */
    CHECK(!sq_loyalty_redeem_compute(NULL, 100, &r));
    CHECK(!sq_loyalty_redeem_compute("", 100, &r));
    CHECK(!sq_loyalty_redeem_compute("10\t10\t0\t1", 100, &r));
    CHECK(!sq_loyalty_redeem_compute("10\t10\t1\t0", 100, &r));
    CHECK(!sq_loyalty_redeem_compute("10\t10\t1", 100, &r));
    CHECK(!sq_loyalty_redeem_compute("10\t10\t1\t1\t5", 100, &r));
    CHECK(!sq_loyalty_redeem_compute("-10\t10\t1\t1", 100, &r));
    CHECK(!sq_loyalty_redeem_compute("x\t10\t1\t1", 100, &r));
}

#define LINE(qty, ok, id) #qty "\t" ok "\t{\"id\":\"" id "\",\"quantity\":" #qty "}"
#define I(j, k) json_integer_value(json_object_get((j), (k)))

static void test_pipeline(void)
{
    sq_arena_t *a = sq_arena_new();
    /* two lines, 25.00 and 10.00, and an unsellable one; 19% tax exclusive; 250 points = 2.50 */
    const char *lines = LINE(1, "t", "l0") "\x1e" LINE(1, "t", "l1") "\x1e" LINE(1, "f", "l2");
    const char *cands = "0\tp0\t2500\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "1\tp1\t1000\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "2\tp2\t700\t0\t1\t\t\t0\t0\t0\t0\t";
    sq_cart_row_t row = {"{\"id\":\"cart_x\",\"object\":\"cart\"}", lines, cands, "eur", "sc_web", NULL, NULL, T0};
    row.tax_rates = "txr_1\t1900\tstandard\t0\t\"VAT\"\t\"VAT\"";
    row.loyalty = "250\t1000\t100\t100";
    char *s = sq_cart_assemble(a, &row);
    json_error_t e;
    json_t *c = json_loads(s, 0, &e);
    CHECK(c != NULL);
    if (c == NULL) {
        fprintf(stderr, "not JSON: %s\n", s ? s : "(null)");
        return;
    }
    json_t *lo = json_object_get(c, "loyalty");
    CHECK_INT(I(lo, "points_requested"), 250);
    CHECK_INT(I(lo, "points"), 250);
    CHECK_INT(I(lo, "amount"), 250);
    json_t *items = json_object_get(c, "items");
    /* 250 over 2500:1000 -> 178.57 / 71.43 -> 179 / 71; the unsellable line takes nothing */
    CHECK_INT(I(json_array_get(items, 0), "discount_total"), 179);
    CHECK_INT(I(json_array_get(items, 1), "discount_total"), 71);
    CHECK_INT(I(json_array_get(items, 2), "discount_total"), 0);
    json_t *adj = json_array_get(json_object_get(json_array_get(items, 0), "adjustments"), 0);
    CHECK_STR(json_string_value(json_object_get(adj, "kind")), "loyalty");
    CHECK(json_is_null(json_object_get(adj, "promotion_id")));
    CHECK_INT(I(adj, "amount"), 179);
    CHECK_INT(I(c, "discount_total"), 250);
    /* tax on the discounted price: 19% of 2321 = 440.99 -> 441, of 929 = 176.51 -> 177 */
    CHECK_INT(I(json_array_get(items, 0), "tax_total"), 441);
    CHECK_INT(I(json_array_get(items, 1), "tax_total"), 177);
    CHECK_INT(I(c, "total"), 3500 - 250 + 441 + 177);
    json_decref(c);

    /* no redemption: loyalty is null and nothing is discounted */
    row.loyalty = NULL;
    c = json_loads(sq_cart_assemble(a, &row), 0, &e);
    CHECK(json_is_null(json_object_get(c, "loyalty")));
    CHECK_INT(I(c, "discount_total"), 0);
    json_decref(c);
    sq_arena_unref(a);
}

int main(void)
{
    test_compute();
    test_pipeline();
    return check_done("loyalty");
}
