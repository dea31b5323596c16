/* pricing.h: the one price resolver. Every price Souq shows or charges comes from sq_price_resolve():
 * storefront lists, carts, orders, B2B quotes. It is pure (no I/O, no clock of its own) and unit-tested.
 *
 * Precedence, for one variant, a context (currency, quantity, channel, region, customer groups, company, time):
 *  1. Only prices in the context currency count.
 *  2. A price list counts when it is active at the context time (starts_at <= now < ends_at, open ends
 *     allowed) and every rule attribute it has matches the context (values of one attribute are OR-ed,
 *     attributes are AND-ed). Base prices always count.
 *  3. Volume tiers: within one source (the base prices, or one list), the price with the greatest
 *     min_quantity not above the quantity applies.
 *  4. An override list (negotiated, customer-group, channel or company prices) beats everything else, even
 *     when higher. Among overrides: the highest priority, then the lowest amount, then the smallest list id.
 *  5. Otherwise a sale list applies when it is lower than the base price (or there is no base price); among
 *     sales the lowest amount wins, then the highest priority, then the smallest list id.
 *  6. A percentage list takes percent_off_bp basis points off the tiered base price, rounded half away from
 *     zero in minor units (core/base/money.c); without a base price it does not apply.
 *  7. compare_at: a winning sale shows the base price as compare_at (the "was" price) unless the base has an
 *     explicit higher compare_at; a base or override price shows its own explicit compare_at, if any, and
 *     only when it is higher than the amount. */
#ifndef SQ_PRICING_H
#define SQ_PRICING_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { SQ_PRICE_BASE, SQ_PRICE_SALE, SQ_PRICE_OVERRIDE } sq_price_kind_t;

typedef enum { SQ_RULE_CHANNEL, SQ_RULE_REGION, SQ_RULE_CUSTOMER_GROUP, SQ_RULE_COMPANY } sq_rule_attr_t;

typedef struct {
    sq_rule_attr_t attr;
    const char *value;
} sq_price_rule_t;

/** A price list as the resolver needs it. */
typedef struct {
    const char *id;
    sq_price_kind_t kind; /* SALE or OVERRIDE */
    int priority;
    int64_t starts_at_us, ends_at_us; /* 0 = open */
    int percent_off_bp;               /* > 0: a percentage list (no per-variant amounts) */
    const sq_price_rule_t *rules;
    int nrules;
} sq_price_list_t;

/** One price of a variant: a base price (list NULL) or a price of a list. Percentage lists come as one
 * candidate with amount 0 per currency they apply to. */
typedef struct {
    const char *id;
    const char *currency;
    int64_t amount;
    int64_t compare_at; /* 0 = none */
    int min_quantity;   /* >= 1 */
    const sq_price_list_t *list;
} sq_price_candidate_t;

typedef struct {
    const char *currency;
    int quantity;
    const char *channel_id, *region_id, *company_id;
    const char *const *customer_groups;
    int ngroups;
    int64_t now_us;
} sq_price_context_t;

typedef struct {
    bool found;
    int64_t amount;
    int64_t compare_at;  /* 0 = none */
    int64_t base_amount; /* the tiered base price, 0 if none */
    const char *currency;
    const char *price_id;
    const sq_price_list_t *list; /* NULL: the base price applied */
    sq_price_kind_t kind;
    int min_quantity; /* of the tier that applied */
} sq_price_result_t;

/** Picks the price of one variant for a context from its candidates. */
void sq_price_resolve(const sq_price_candidate_t *c, int n, const sq_price_context_t *ctx, sq_price_result_t *out);
/** True if a list applies in the context (time window and rules). */
bool sq_price_list_applies(const sq_price_list_t *l, const sq_price_context_t *ctx);

#endif
