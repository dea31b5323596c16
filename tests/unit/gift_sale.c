/* gift_sale.c: tests of the pure parts of gift cards sold as a product and of shipping ranges (migrations/0036):
 * a gift card line in the totals pipeline (core/cart.c, core/promotion.c: no discount, no tax, not payable by a gift
 * card, not counted for shipping), and shipping option records with a subtotal range (core/shipping.c). */
#include "core/cart.h"

#include <jansson.h>
#include <string.h>

#include "core/shipping.h"
#include "tests/unit/check.h"

#define LINE(qty, ok, id) #qty "\t" ok "\t{\"id\":\"" id "\",\"quantity\":" #qty "}"
#define I(j, k) json_integer_value(json_object_get((j), (k)))

typedef struct {
    char *json;
    const sq_cart_totals_t *t;
} got_t;

static void capture(const char *json, const sq_cart_totals_t *t, const sq_err_t *err, void *data)
{
    got_t *g = data;
    g->json = err == NULL ? (char *)json : NULL;
    g->t = t;
}

static void test_gift_card_lines(void)
{
    sq_arena_t *a = sq_arena_new();
    /* line 0: a gift card of 2500 x 2 ("tg"); line 1: a book of 1000 (standard tax 20 %) */
    const char *lines = LINE(2, "tg", "l0") "\x1e" LINE(1, "t", "l1");
    const char *cands = "0\tp0\t2500\t0\t1\t\t\t0\t0\t0\t0\t\n"
                        "1\tp1\t1000\t0\t1\t\t\t0\t0\t0\t0\t";
    const char *promos = "[{\"id\":\"promo_a\",\"code\":\"TEN\",\"type\":\"percentage\",\"percent_bp\":1000,\"target\":\"order\","
                         "\"priority\":0,\"combinable\":true,\"description\":\"Ten\",\"trial\":false,\"lines\":null},"
                         "{\"id\":\"promo_m\",\"code\":\"MIN\",\"type\":\"fixed\",\"amount\":100,\"min_subtotal\":2000,"
                         "\"priority\":0,\"combinable\":true,\"description\":\"Min\",\"trial\":false,\"lines\":null}]";
    const char *cards = "[{\"id\":\"gcard_1\",\"last4\":\"AB12\",\"balance\":100000}]";
    sq_cart_row_t row = {"{\"id\":\"cart_x\",\"object\":\"cart\"}", lines, cands, "eur", "sc_web", NULL, NULL, 0};
    row.tax_rates = "txr_1\t2000\tstandard\t0\t\"VAT\"\t\"VAT\"";
    row.promotions = promos;
    row.gift_cards = cards;
    sq_ctx_t cx = {.arena = a};
    got_t got = {NULL, NULL};
    sq_cart_compute_totals(&cx, &row, capture, &got);
    CHECK(got.json != NULL && got.t != NULL);
    if (got.json == NULL)
        return;
    CHECK(got.t->lines[0].gift_card);
    CHECK(!got.t->lines[1].gift_card);
    json_t *c = json_loads(got.json, 0, NULL);
    json_t *items = json_object_get(c, "items"), *gl = json_array_get(items, 0), *bl = json_array_get(items, 1);
    CHECK(json_is_true(json_object_get(gl, "sellable")));
    CHECK_INT(I(gl, "discount_total"), 0);
    CHECK_INT(I(gl, "tax_total"), 0);
    CHECK_INT(json_array_size(json_object_get(gl, "tax_lines")), 0);
    CHECK_INT(I(bl, "discount_total"), 100); /* 10 % of the book; MIN does not qualify: the gift cards do not count toward 2000 */
    CHECK_INT(I(bl, "tax_total"), 180);
    CHECK_INT(I(c, "total"), 5000 + 900 + 180);
    CHECK_INT(I(c, "gift_card_total"), 1080); /* the card pays everything but the gift cards */
    CHECK_INT(I(c, "amount_due"), 5000);
    CHECK_INT(sq_cart_shippable_total(got.t), 900);
    json_decref(c);

    /* loyalty points (core/loyalty.c) discount the book only: 50000 points asked for, 1 point = 1 minor unit */
    row.promotions = NULL;
    row.loyalty = "50000\t50000\t1\t1";
    got = (got_t){NULL, NULL};
    sq_cart_compute_totals(&cx, &row, capture, &got);
    CHECK(got.t != NULL);
    if (got.t != NULL) {
        CHECK_INT(got.t->lines[0].discount_total, 0);
        CHECK_INT(got.t->lines[1].discount_total, 1000);
        CHECK_INT(got.t->loyalty_amount, 1000);
    }
    row.loyalty = NULL;

    /* a gift card that is not sellable any more is left out like any other line */
    row.lines = LINE(1, "fg", "l0");
    row.candidates = "0\tp0\t2500\t0\t1\t\t\t0\t0\t0\t0\t";
    got = (got_t){NULL, NULL};
    sq_cart_compute_totals(&cx, &row, capture, &got);
    CHECK(got.t != NULL && !got.t->lines[0].sellable && got.t->lines[0].gift_card);
    if (got.t != NULL) {
        CHECK_INT(got.t->item_subtotal, 0);
        CHECK_INT(sq_cart_shippable_total(got.t), 0);
    }
    sq_arena_unref(a);
}

static void test_shipping_ranges(void)
{
    sq_ship_option_t o;
    char r5[] = "so_1\tflat_rate\t490\t-1\t\"Standard\"";
    CHECK(sq_ship_option_parse(r5, &o));
    CHECK_STR(o.name_json, "\"Standard\"");
    CHECK_INT(o.min_subtotal, -1);
    CHECK_INT(o.max_subtotal, -1);
    CHECK(sq_ship_option_fits(&o, 0) && sq_ship_option_fits(&o, 1000000));
    char r7[] = "so_2\tflat_rate\t0\t-1\t\"Big \\t one\"\t10000\t-1";
    CHECK(sq_ship_option_parse(r7, &o));
    CHECK_STR(o.name_json, "\"Big \\t one\"");
    CHECK_INT(o.amount, 0);
    CHECK_INT(o.min_subtotal, 10000);
    CHECK(!sq_ship_option_fits(&o, 9999) && sq_ship_option_fits(&o, 10000) && sq_ship_option_fits(&o, 99999999));
    char r7b[] = "so_3\tflat_rate\t290\t-1\t\"Small\"\t-1\t5999";
    CHECK(sq_ship_option_parse(r7b, &o));
    CHECK(sq_ship_option_fits(&o, 0) && sq_ship_option_fits(&o, 5999) && !sq_ship_option_fits(&o, 6000));
    char r7c[] = "so_4\tflat_rate\t290\t-1\t\"Mid\"\t100\t200";
    CHECK(sq_ship_option_parse(r7c, &o));
    CHECK(!sq_ship_option_fits(&o, 99) && sq_ship_option_fits(&o, 100) && sq_ship_option_fits(&o, 200) &&
          !sq_ship_option_fits(&o, 201));
    char r6[] = "so_5\tflat_rate\t290\t-1\t\"Odd\"\t100"; /* 6 fields: malformed */
    CHECK(!sq_ship_option_parse(r6, &o));
    char r4[] = "so_6\tflat_rate\t290\t-1";
    CHECK(!sq_ship_option_parse(r4, &o));
}

int main(void)
{
    test_gift_card_lines();
    test_shipping_ranges();
    return check_done("gift_sale");
}
