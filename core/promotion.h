/* promotion.h: promotions (discount codes and automatic promotions) and gift cards: their admin resources, the
 * discount engine (pure, unit-tested: tests/unit/promotion.c) and the cart stages that use it.
 *
 * Stacking (the rule the engine implements; README "Promotions and gift cards"):
 *   1. A promotion qualifies when its conditions hold on the priced cart: the item subtotal (sellable lines, before
 *      any discount) reaches min_subtotal; target items has at least one sellable matching line; buy X get Y has at
 *      least X+Y matching units. Status, dates, usage limits, customer groups and currency are checked in SQL
 *      before the engine sees a promotion (migrations/0021).
 *   2. Free-shipping promotions always combine with everything (their value is the shipping price, known only
 *      after the shipping stage); the qualifying one with the highest priority (then the lowest id) is applied.
 *   3. Item discounts: the combinable promotions form one stack, applied in priority order (highest first, then
 *      id), each on what the earlier ones left of the lines; a non-combinable promotion applies alone. Of the
 *      stack and each non-combinable promotion, the cart gets the option with the largest discount (ties: the
 *      stack, then the higher priority).
 * Rounding: a percentage is taken of the sum of the targeted lines (what is left of them) and rounded half away
 * from zero to the minor unit once (sq_money_fraction); an order-level amount (percentage or fixed) is split over
 * the targeted lines in proportion to what is left of them by the largest-remainder method (sq_money_allocate),
 * so the lines' discounts add up to it exactly; no line goes below 0. Buy X get Y: of every X+Y matching units the
 * Y cheapest get percent_bp off (10000 = free), per line, capped at what is left of the line. */
#ifndef SQ_PROMOTION_H
#define SQ_PROMOTION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/arena.h"
#include "core/cart.h"
#include "core/resource.h"

extern const sq_resource_t sq_res_promotion, sq_res_gift_card;

typedef enum { SQ_PROMO_PERCENTAGE, SQ_PROMO_FIXED, SQ_PROMO_FREE_SHIPPING, SQ_PROMO_BUY_X_GET_Y } sq_promo_type_t;

/** Why a promotion does not qualify (engine result). */
typedef enum { SQ_PROMO_OK, SQ_PROMO_MIN_SUBTOTAL, SQ_PROMO_NO_ITEMS } sq_promo_why_t;

/** A promotion as the engine reads it (the input part) and what it gave (the result part). */
typedef struct {
    const char *id, *code, *description; /* code NULL: automatic */
    sq_promo_type_t type;
    int64_t percent_bp;   /* percentage, buy_x_get_y */
    int64_t amount;       /* fixed, in the cart's currency */
    int64_t min_subtotal; /* < 0: none */
    int buy, get;         /* buy_x_get_y */
    const int *lines;     /* target items: indexes of the matching lines; NULL: the whole order */
    int nlines;
    int priority;
    bool combinable;
    bool trial; /* the code being applied (POST /carts/{id}/promotions) */
    /* results */
    sq_promo_why_t why; /* SQ_PROMO_OK when it qualifies */
    bool applied;       /* chosen by the stacking rule (free shipping: the one applied) */
    int64_t given;      /* the item discount it gave */
} sq_promo_t;

/** A line as the engine reads it. */
typedef struct {
    int64_t amount;     /* subtotal; 0 for a line that is not sellable (it takes no discount) */
    int64_t unit_price; /* for buy X get Y */
    int qty;
} sq_promo_line_t;

/** One line's share of one promotion. */
typedef struct {
    int promo, line;
    int64_t amount;
} sq_promo_adj_t;

/** The engine: decides which promotions apply (the stacking rule above) and what each line gets. Fills each
 * promotion's result part; adj (arena) gets one entry per line and promotion with an amount > 0, in the order
 * the promotions applied; discount[i] (caller's array of nlines) the line's total. Returns whether a
 * free-shipping promotion applies (*free_shipping_promo its index, else -1). */
bool sq_promo_compute(sq_arena_t *a, const sq_promo_line_t *lines, int nlines, sq_promo_t *promos, int npromos, int64_t *discount,
                      sq_promo_adj_t **adj, int *nadj, int *free_shipping_promo);

/** Parses the promotions JSON of a cart view row (migrations/0021 souq_cart_promotions); -1 when malformed. */
int sq_promo_parse(sq_arena_t *a, const char *json, sq_promo_t **out, int *n);

/** The discounts stage of the cart pipeline: runs the engine on t's lines and t->row->promotions, sets each
 * line's discount_total and adjustments, t->promotions and the free-shipping flag, and t->trial_refusal when the
 * trial code gives nothing. */
void sq_promotion_stage(sq_arena_t *a, sq_cart_totals_t *t);
/** After the shipping stage: a free-shipping promotion makes shipping_discount_total = shipping_total. */
void sq_promotion_free_shipping(sq_arena_t *a, sq_cart_totals_t *t);
/** The last stage before encoding: the gift cards of t->row->gift_cards pay what they can of the total, in the
 * order they were applied (gift_card_total <= total). */
void sq_gift_card_stage(sq_arena_t *a, sq_cart_totals_t *t);

/** Format checks of promotion bodies (exposed for unit tests). */
const char *sq_check_promo_code(const json_t *v, const char **code);
const char *sq_check_currency_amounts(const json_t *v, const char **code);

#endif
