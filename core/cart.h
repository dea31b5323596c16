/* cart.h: storefront carts. A cart stores variants and quantities; every answer prices its lines with the one
 * resolver (core/pricing.h) for the cart's channel, region, currency and customer groups, with each line's
 * quantity picking its volume tier, and adds up the totals. SQL (core/cart_db.c, migrations/0012_carts.sql)
 * does every change in one statement under a lock of the cart row.
 *
 * Who reaches a cart: the id is a capability (cart_ + 256 random bits); the publishable key's channel must be
 * the cart's; a cart created with a customer token belongs to that customer and only that customer's token
 * reaches it. Anything else, and an expired cart (no change for cart_ttl seconds), is 404. */
#ifndef SQ_CART_H
#define SQ_CART_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/buf.h"
#include "core/base/json.h"
#include "core/ctx.h"
#include "core/hooks.h"

#define SQ_CART_MAX_LINES 250
#define SQ_CART_MAX_QUANTITY 10000

/** The caller of a cart operation. */
typedef struct {
    const char *channel_id;  /* of the publishable key */
    const char *customer_id; /* of the customer token, or NULL */
    int ttl_s;               /* carts unchanged for this long are expired */
    const char *if_match;    /* ETag (bare hex, sq_etag) the change is based on, or NULL */
} sq_cart_caller_t;

/** Bodies of POST /carts and PATCH /carts/{id}, validated here and passed to SQL as JSON. */
extern const sq_field_t sq_cart_create_fields[], sq_cart_update_fields[];

typedef struct {
    const char *variant_id;
    int64_t quantity;
} sq_cart_line_in_t;
extern const sq_field_t sq_cart_line_add_fields[]; /* variant_id, quantity 1..10000 */
extern const sq_field_t sq_cart_line_set_fields[]; /* quantity 0..10000 */

/** True if s has the shape of a cart id ("cart_" + 43 base64url characters). */
bool sq_cart_id_valid(const char *s);

/** The cart as JSON text (arena), priced now. */
typedef void (*sq_cart_cb)(const char *json, const sq_err_t *err, void *data);

void sq_cart_create(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *body, sq_cart_cb cb, void *data);
void sq_cart_get(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data);
void sq_cart_update(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *body, sq_cart_cb cb, void *data);
void sq_cart_line_add(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const sq_cart_line_in_t *in, sq_cart_cb cb,
                      void *data);
/** quantity 0 removes the line; quantity < 0 too (DELETE). */
void sq_cart_line_set(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *line_id, int quantity, sq_cart_cb cb,
                      void *data);

/** The priced cart and the version it was priced at (checkout passes the version on to detect changes). */
typedef void (*sq_cart_view_cb)(const char *json, const char *version, const sq_err_t *err, void *data);
void sq_cart_view(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_view_cb cb, void *data);

/** POST /carts/{id}/customer (who->customer_id required): the guest cart becomes the caller's, and the caller's
 * latest other active cart of the channel is merged into it (lines only; policy in migrations/0016). A cart that
 * already is the caller's is answered unchanged; another customer's is 404. */
void sq_cart_attach(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data);

/** One row of the cart view (exposed for unit tests): the cart's JSON, its lines ("qty\tsellable\tjson"
 * records separated by \x1e; sellable is t or f, followed by g for a gift card line), the price candidates of the lines (storefront.c format, index = line), the
 * pricing context. Returns the cart JSON with each line priced and the totals. */
typedef struct {
    const char *cart, *lines, *candidates, *currency, *channel_id, *region_id, *groups;
    int64_t now_us;
    /* tax and shipping (migrations/0020): the lines' tax classes ("\n"-separated, line order; NULL: all standard),
     * the rates for the cart's place (sq_tax_rates_parse), the chosen method's option when it is valid now
     * (sq_ship_option_parse; NULL: none), the region the cart is taxed and shipped in (souq_cart_region) and its
     * tax_inclusive, the shipping address's country and province (NULL when unknown) */
    const char *tax_classes, *tax_rates, *shipping, *tax_region_id, *country_code, *province;
    bool tax_inclusive;
    /* JSON arrays (migrations/0021): the promotions that may apply and the gift cards applied; NULL: none */
    const char *promotions, *gift_cards;
    /* points the cart redeems (migrations/0034, core/loyalty.h): "points\tbalance\tredeem_points\tredeem_value"; NULL: none */
    const char *loyalty;
} sq_cart_row_t;

/** A line of a cart being totalled. Pricing fills the price; the stages after it (discounts, shipping, tax;
 * see sq_cart_assemble) add their amounts and their JSON array elements; encoding writes it out. */
typedef struct {
    const char *json; /* the line's catalog JSON (cart_db.c LINE_JSON), without prices */
    int qty;
    bool sellable;              /* by the catalog, and priced */
    bool priced;                /* the resolver found a price */
    int64_t unit_price, compare_at;
    const char *price_list_id;  /* or NULL */
    const char *price_type;     /* "base" | "sale" | "override", or NULL */
    int64_t subtotal;           /* unit_price x qty (0 when unpriced); stages skip lines that are not sellable */
    int64_t discount_total;     /* promotions, points and pricing plugins (<= subtotal) */
    int64_t tax_total;          /* tax of this line (included in subtotal - discount when tax_inclusive) */
    sq_buf_t adjustments;       /* comma-separated JSON objects of "adjustments":[...] */
    sq_buf_t tax_lines;         /* comma-separated JSON objects of "tax_lines":[...] */
    const char *tax_class;      /* the variant's ("standard" when the row has none) */
    bool gift_card;             /* sells a gift card (migrations/0036): no discounts, no tax, not payable by gift card */
} sq_cart_line_t;

/** A cart being totalled: its lines and the cart-level amounts. Every amount is in minor units of currency.
 *   total = item_subtotal - discount_total + shipping_total - shipping_discount_total
 *           + (tax_inclusive ? 0 : tax_total)
 *   amount_due = total - gift_card_total   (what checkout asks the payment provider for)
 * discount_total is the sum of the lines' discount_total; tax_total the lines' tax plus shipping tax. */
typedef struct {
    const sq_cart_row_t *row;
    sq_cart_line_t *lines;
    int nlines;
    bool tax_inclusive;
    int64_t item_count, item_subtotal, discount_total, shipping_total, shipping_discount_total, shipping_tax_total, tax_total;
    int64_t gift_card_total; /* paid by gift cards applied to the cart (<= total) */
    /* the chosen shipping method (shipping stage): its option, whether its provider offers it now, its tax lines */
    const char *ship_option_id, *ship_provider, *ship_name_json;
    bool has_shipping;
    sq_buf_t shipping_tax_lines;
    /* promotions and gift cards (core/promotion.c): the discounts stage sets free_shipping, and the stage after
     * shipping (sq_promotion_free_shipping, at the start of the tax stage) then makes shipping_discount_total =
     * shipping_total; the gift cards stage runs after tax */
    bool free_shipping;
    const char *free_shipping_id, *free_shipping_code; /* the free-shipping promotion (code NULL: automatic) */
    sq_buf_t promotions;       /* comma-separated JSON objects of "promotions":[...] (those that gave something) */
    sq_buf_t gift_cards;       /* comma-separated JSON objects of "gift_cards":[...] */
    const char *trial_refusal; /* "code|detail" when the code being applied (row promotions, trial) gives nothing */
    /* loyalty points redeemed (core/loyalty.c, the stage after discounts): part of the lines' discount_total */
    bool has_loyalty;
    int64_t loyalty_requested, loyalty_points, loyalty_amount, loyalty_balance;
    /* who computed the tax (sq_tax_res_t.provider, "table" until the tax stage) and whether it records orders:
     * only checkout's view (sq_cart_view) shows them, as "tax_provider" and "tax_commit" (migrations/0040) */
    const char *tax_provider;
    bool tax_commits;
} sq_cart_totals_t;

/** Prices the lines of a view row (no stages run): the start of sq_cart_assemble, exposed for unit tests. */
void sq_cart_price(sq_arena_t *a, const sq_cart_row_t *row, sq_cart_totals_t *t);
/** Writes the cart JSON: the row's cart object with "items" (each line priced, with its amounts) and the totals. */
char *sq_cart_encode(sq_arena_t *a, const sq_cart_totals_t *t);
/** The totals of a view row: sq_cart_price, then each totals stage in order (discounts, the pricing plugins' adjustments,
 * shipping through the option's shipping provider, tax through the tax provider; core/hooks.h), then sq_cart_encode. cb gets the JSON (cx->arena);
 * it may run before sq_cart_compute returns (the built-in providers answer at once). A provider's error is cb's. */
void sq_cart_compute(sq_ctx_t *cx, const sq_cart_row_t *row, sq_cart_cb cb, void *data);
/** sq_cart_compute whose callback also gets the totals (t->trial_refusal for POST /promotions; t is cx->arena's). */
typedef void (*sq_cart_totals_cb)(const char *json, const sq_cart_totals_t *t, const sq_err_t *err, void *data);
void sq_cart_compute_totals(sq_ctx_t *cx, const sq_cart_row_t *row, sq_cart_totals_cb cb, void *data);
/** Grams of the sellable lines that require shipping (the variants' weight_g x quantity; no weight counts 0): what
 * shipping providers get as sq_ship_req_t.weight_g. */
int64_t sq_cart_weight(const sq_cart_totals_t *t);
/** The pricing adjustments request for the cart as it stands (core/hooks.h): its sellable lines that do not sell a gift card,
 * with their discounts so far. In a. */
const sq_adjust_req_t *sq_cart_adjust_request(sq_arena_t *a, const sq_cart_totals_t *t);
/** Applies a pricing plugin's answer to req (made by sq_cart_adjust_request of t) to t's lines, in the answer's order: each
 * adjustment is cut to what is left of its line (subtotal - discount_total, counting the adjustments before it), one cut
 * to 0 is dropped, and the rest add to the line's discount_total and its adjustments ({"promotion_id":null, "code",
 * "amount", "description", "kind":"plugin", "plugin"}). Returns the minor units applied. Pure. */
int64_t sq_cart_apply_adjustments(sq_arena_t *a, sq_cart_totals_t *t, const sq_adjust_req_t *req, const sq_adjust_res_t *res);
/** The cart's total by the formula above (sums of the lines). */
int64_t sq_cart_grand_total(const sq_cart_totals_t *t);
/** sq_cart_compute answered at once, for callers that cannot wait (unit tests): only valid while every provider the
 * cart uses answers before returning (the built-in ones do); NULL on a provider error. */
char *sq_cart_assemble(sq_arena_t *a, const sq_cart_row_t *row);

/** The shipping options a cart may choose, rated by their providers for its items (after discounts): options are
 * core/shipping.h records separated by \n; cb gets {"object":"list","data":[...],"has_more":false,"next_cursor":null}
 * (options their provider does not offer now are left out). May answer before it returns. */
void sq_cart_offer_shipping(sq_ctx_t *cx, const sq_cart_row_t *row, const char *options, sq_cart_cb cb, void *data);

/** GET /carts/{id}/shipping-options: {"object":"list","data":[shipping options with the cart's amounts]}. */
void sq_cart_shipping_options(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data);
/** POST /carts/{id}/shipping-methods {option_id}: the cart's method becomes the option (422 /option_id when it
 * does not exist or is not available for the cart); answers the cart. */
void sq_cart_shipping_method_set(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *option_id, sq_cart_cb cb,
                                 void *data);

/** DELETE /carts/{id}/shipping-method: the cart has no method any more (404 when it had none); answers the cart. */
void sq_cart_shipping_method_remove(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data);

/** The part of the cart's items that counts toward shipping prices and thresholds: the item subtotal after
 * discounts, without gift card lines (they never ship). */
int64_t sq_cart_shippable_total(const sq_cart_totals_t *t);

/** POST /carts/{id}/promotions: the code is first tried on the cart as it is (422 /code with coupon_invalid,
 * coupon_expired, coupon_not_started, coupon_exhausted, coupon_wrong_currency, coupon_not_eligible,
 * coupon_min_subtotal, coupon_not_applicable or coupon_not_combinable when it cannot or would give nothing), then
 * put on the cart. A code already on the cart is answered unchanged. */
void sq_cart_promotion_add(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *code, sq_cart_cb cb, void *data);
/** DELETE /carts/{id}/promotions/{code}: 404 when the code is not on the cart. */
void sq_cart_promotion_remove(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *code, sq_cart_cb cb,
                              void *data);
/** POST /carts/{id}/gift-cards: every attempt counts against rate_keys (limits per minute; 429 rate-limited with
 * Retry-After over them) before the code is looked up. */
void sq_cart_gift_card_add(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *code, const char *const rate_keys[2],
                           const int limits[2], sq_cart_cb cb, void *data);
/** DELETE /carts/{id}/gift-cards/{gift_card_id}: 404 when the card is not on the cart. */
void sq_cart_gift_card_remove(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *card_id, sq_cart_cb cb,
                              void *data);

/** A "pointer|code|detail" message of the cart's SQL functions as a per-field error (err unchanged otherwise). */
const sq_err_t *sq_cart_refine(sq_arena_t *a, const sq_err_t *err);

#endif
