/* pricing.c: the price resolver (rules in pricing.h). */
#include "core/pricing.h"

#include <string.h>

#include "core/base/money.h"

static bool rule_matches(const sq_price_rule_t *r, const sq_price_context_t *ctx)
{
    const char *v = NULL;
    switch (r->attr) {
    case SQ_RULE_CHANNEL:
        v = ctx->channel_id;
        break;
    case SQ_RULE_REGION:
        v = ctx->region_id;
        break;
    case SQ_RULE_COMPANY:
        v = ctx->company_id;
        break;
    case SQ_RULE_CUSTOMER_GROUP:
        for (int i = 0; i < ctx->ngroups; i++)
            if (strcmp(ctx->customer_groups[i], r->value) == 0)
                return true;
        return false;
    }
    return v != NULL && strcmp(v, r->value) == 0;
}

bool sq_price_list_applies(const sq_price_list_t *l, const sq_price_context_t *ctx)
{
    if (l->starts_at_us != 0 && ctx->now_us < l->starts_at_us)
        return false;
    if (l->ends_at_us != 0 && ctx->now_us >= l->ends_at_us)
        return false;
    /* AND across attributes, OR within one */
    for (int a = SQ_RULE_CHANNEL; a <= SQ_RULE_COMPANY; a++) {
        bool has = false, ok = false;
        for (int i = 0; i < l->nrules; i++) {
            if ((int)l->rules[i].attr != a)
                continue;
            has = true;
            ok |= rule_matches(&l->rules[i], ctx);
        }
        if (has && !ok)
            return false;
    }
    return true;
}

/* The tier of one source (base: list == NULL) that applies at the quantity: greatest min_quantity <= qty. */
static const sq_price_candidate_t *tier(const sq_price_candidate_t *c, int n, const sq_price_list_t *src,
                                        const sq_price_context_t *ctx)
{
    const sq_price_candidate_t *best = NULL;
    int qty = ctx->quantity < 1 ? 1 : ctx->quantity;
    for (int i = 0; i < n; i++) {
        if (c[i].list != src || strcmp(c[i].currency, ctx->currency) != 0)
            continue;
        int minq = c[i].min_quantity < 1 ? 1 : c[i].min_quantity;
        if (minq > qty)
            continue;
        if (best == NULL || minq > best->min_quantity || (minq == best->min_quantity && c[i].amount < best->amount))
            best = &c[i];
    }
    return best;
}

static int cmp_id(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

void sq_price_resolve(const sq_price_candidate_t *c, int n, const sq_price_context_t *ctx, sq_price_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->currency = ctx->currency;
    const sq_price_candidate_t *base = tier(c, n, NULL, ctx);
    const sq_price_candidate_t *ov = NULL, *sale = NULL;
    int64_t ov_amount = 0, sale_amount = 0;

    for (int i = 0; i < n; i++) {
        const sq_price_list_t *l = c[i].list;
        if (l == NULL || strcmp(c[i].currency, ctx->currency) != 0 || !sq_price_list_applies(l, ctx))
            continue;
        /* consider each list once, through its applicable tier */
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = c[j].list == l && strcmp(c[j].currency, ctx->currency) == 0;
        if (seen)
            continue;
        const sq_price_candidate_t *t = tier(c, n, l, ctx);
        if (t == NULL)
            continue;
        int64_t amount = t->amount;
        if (l->percent_off_bp > 0) {
            if (base == NULL || !sq_money_percent_off(base->amount, l->percent_off_bp, &amount))
                continue;
        }
        if (l->kind == SQ_PRICE_OVERRIDE) {
            if (ov == NULL || l->priority > ov->list->priority ||
                (l->priority == ov->list->priority &&
                 (amount < ov_amount || (amount == ov_amount && cmp_id(l->id, ov->list->id) < 0)))) {
                ov = t;
                ov_amount = amount;
            }
        } else {
            if (sale == NULL || amount < sale_amount ||
                (amount == sale_amount && (l->priority > sale->list->priority ||
                                           (l->priority == sale->list->priority && cmp_id(l->id, sale->list->id) < 0)))) {
                sale = t;
                sale_amount = amount;
            }
        }
    }

    out->base_amount = base ? base->amount : 0;
    if (ov != NULL) {
        out->found = true;
        out->amount = ov_amount;
        out->compare_at = ov->compare_at > ov_amount ? ov->compare_at : 0;
        out->price_id = ov->id;
        out->list = ov->list;
        out->kind = SQ_PRICE_OVERRIDE;
        out->min_quantity = ov->min_quantity < 1 ? 1 : ov->min_quantity;
        return;
    }
    if (sale != NULL && (base == NULL || sale_amount < base->amount)) {
        out->found = true;
        out->amount = sale_amount;
        int64_t was = base ? base->amount : 0;
        if (base != NULL && base->compare_at > was)
            was = base->compare_at;
        if (sale->compare_at > was)
            was = sale->compare_at;
        out->compare_at = was > sale_amount ? was : 0;
        out->price_id = sale->id;
        out->list = sale->list;
        out->kind = SQ_PRICE_SALE;
        out->min_quantity = sale->min_quantity < 1 ? 1 : sale->min_quantity;
        return;
    }
    if (base != NULL) {
        out->found = true;
        out->amount = base->amount;
        out->compare_at = base->compare_at > base->amount ? base->compare_at : 0;
        out->price_id = base->id;
        out->kind = SQ_PRICE_BASE;
        out->min_quantity = base->min_quantity < 1 ? 1 : base->min_quantity;
    }
}
