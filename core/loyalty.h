/* loyalty.h: loyalty points and customer segments. The program (earn and redeem rates per currency, tiers, expiry),
 * each customer's account and ledger, points redeemed as a discount on a cart (the loyalty stage of the cart
 * pipeline, core/cart.h) and debited by checkout, and segments: customers grouped by rules and materialised as a
 * customer group. Rules are here (pure, unit-tested); SQL in loyalty_db.c and migrations/0034_loyalty_segments.sql. */
#ifndef SQ_LOYALTY_H
#define SQ_LOYALTY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/json.h"
#include "core/cart.h"
#include "core/ctx.h"
#include "core/resource.h"

/* ---- the cart stage -------------------------------------------------------------------------------------------- */

/** What redeeming points gives a cart. row->loyalty is "points\tbalance\tredeem_points\tredeem_value" (the cart's
 * cart_loyalty row, the customer's balance now and the rate of the cart's currency), NULL when none. */
typedef struct {
    int64_t requested; /* points the buyer asked to redeem */
    int64_t balance;   /* the customer's balance now (checkout refuses the order when it is below points) */
    int64_t points;    /* points the discount uses (<= requested; fewer when the items cost less) */
    int64_t amount;    /* minor units off the items */
} sq_loyalty_redeem_t;

/** Parses row text and computes the redemption against what is left of the items (their subtotal less the discounts
 * so far): value = floor(requested x redeem_value / redeem_points), amount = min(value, left), and
 * points = the fewest points worth amount (ceil(amount x redeem_points / redeem_value)). false when the text is not
 * a redemption (NULL, malformed, a rate of 0): nothing is redeemed. */
bool sq_loyalty_redeem_compute(const char *row, int64_t left, sq_loyalty_redeem_t *out);

/** The loyalty stage (after the promotions stage, before shipping and tax, so tax is on the discounted price): splits
 * the amount over the sellable lines in proportion to what is left of each (sq_money_allocate), adds it to their
 * discount_total with an adjustment {"promotion_id":null,"code":null,"amount":..,"description":"Loyalty points",
 * "kind":"loyalty"}, and records it in t (loyalty_*). */
void sq_loyalty_stage(sq_arena_t *a, sq_cart_totals_t *t);

/* ---- input rules ------------------------------------------------------------------------------------------------ */

extern const sq_field_t sq_loyalty_program_fields[]; /* PATCH /v1/admin/loyalty/program */
extern const sq_field_t sq_loyalty_adjust_fields[];  /* POST .../loyalty/adjustments {points, reason} */
extern const sq_field_t sq_loyalty_cart_fields[];    /* POST /v1/store/carts/{id}/loyalty {points} */
extern const sq_resource_t sq_res_loyalty_tier, sq_res_segment;
extern const sq_resource_t sq_res_loyalty_ledger; /* list only: every customer's ledger rows, filters customer_id, kind, order_id */

typedef struct {
    int64_t points;
    const char *reason;
} sq_loyalty_adjust_in_t;

/* ---- operations (loyalty_db.c) ---------------------------------------------------------------------------------- */

void sq_loyalty_program_get(sq_ctx_t *cx, sq_json_cb cb, void *data);
/** body: validated JSON of sq_loyalty_program_fields; currencies are checked by SQL (422 /currencies/<code>/...). */
void sq_loyalty_program_update(sq_ctx_t *cx, const char *body, sq_json_cb cb, void *data);
/** The customer's account: balance, tier, next tier, expiry and the latest 50 ledger rows (an empty account when the
 * customer never had points). SQ_E_NOT_FOUND when the customer does not exist. */
void sq_loyalty_account_get(sq_ctx_t *cx, const char *customer_id, sq_json_cb cb, void *data);
/** Staff adjustment; a debit beyond the balance is 422 /points insufficient_points. Answers the account. */
void sq_loyalty_adjust(sq_ctx_t *cx, const char *customer_id, const sq_loyalty_adjust_in_t *in, const char *actor, sq_json_cb cb,
                       void *data);
/** POST /v1/store/carts/{id}/loyalty: sets the points the cart redeems (422 /points when it cannot), answers the cart. */
void sq_cart_loyalty_set(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, int64_t points, sq_cart_cb cb, void *data);
/** DELETE /v1/store/carts/{id}/loyalty: 404 when the cart redeems no points; answers the cart. */
void sq_cart_loyalty_remove(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data);
/** POST /v1/admin/segments/{id}/refresh: recomputes the members now; answers the segment (404 when none). */
void sq_segment_refresh(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);
/** GET /v1/admin/segments/{id}/export.csv: the members as CSV (email, first_name, last_name, has_account). */
typedef void (*sq_loyalty_csv_cb)(const char *text, size_t len, const sq_err_t *err, void *data);
void sq_segment_export(sq_ctx_t *cx, const char *id, sq_loyalty_csv_cb cb, void *data);

/** Registers the job kinds "loyalty.maintain" (expiry, tiers) and "segments.refresh" (every segment), whose hourly
 * schedules migration 0034 creates. Before the server starts its threads. */
void sq_loyalty_register_jobs(void);

#endif
