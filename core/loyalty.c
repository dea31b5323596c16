/* loyalty.c: the rules of loyalty points and segments: redeeming points on a cart (the loyalty stage of the cart
 * pipeline) and the input rules of the loyalty and segment routes. Pure: unit-tested without a database. */
#include "core/loyalty.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/money.h"
#include "core/base/util.h"

#define F SQ_VFIELD

static bool parse_i64(const char **p, int64_t *out)
{
    char *end;
    if (**p < '0' || **p > '9')
        return false;
    long long v = strtoll(*p, &end, 10);
    if (end == *p || (*end != '\t' && *end != '\0') || v < 0)
        return false;
    *out = v;
    *p = *end == '\t' ? end + 1 : end;
    return true;
}

bool sq_loyalty_redeem_compute(const char *row, int64_t left, sq_loyalty_redeem_t *out)
{
    memset(out, 0, sizeof(*out));
    int64_t req, bal, rp, rv;
    const char *p = row;
    if (p == NULL || !parse_i64(&p, &req) || !parse_i64(&p, &bal) || !parse_i64(&p, &rp) || !parse_i64(&p, &rv) || *p != '\0' ||
        rp <= 0 || rv <= 0)
        return false;
    out->requested = req;
    out->balance = bal;
    /* not capped by the balance: a cart keeps the discount the buyer asked for, and checkout refuses the order when the
     * balance no longer covers it (never a silently higher price) */
    int64_t usable = req, value;
    /* floor(usable x rv / rp): muldiv rounds half away, so step down when it rounded up */
    if (!sq_money_muldiv(usable, rv, rp, &value))
        return false;
    if ((__int128)value * rp > (__int128)usable * rv)
        value--;
    if (left < 0)
        left = 0;
    out->amount = value < left ? value : left;
    if (out->amount == 0) {
        out->points = 0;
        return true;
    }
    /* the fewest points worth amount: ceil(amount x rp / rv) (<= usable, as amount <= value) */
    __int128 need = ((__int128)out->amount * rp + rv - 1) / rv;
    out->points = (int64_t)need;
    return true;
}

void sq_loyalty_stage(sq_arena_t *a, sq_cart_totals_t *t)
{
    if (t->row == NULL || t->row->loyalty == NULL)
        return;
    int64_t *weights = sq_arena_alloc(a, sizeof(int64_t) * (size_t)(t->nlines + 1));
    int64_t *shares = sq_arena_alloc(a, sizeof(int64_t) * (size_t)(t->nlines + 1));
    int64_t left = 0;
    for (int i = 0; i < t->nlines; i++) {
        const sq_cart_line_t *l = &t->lines[i];
        weights[i] = l->sellable && !l->gift_card ? l->subtotal - l->discount_total : 0; /* no discount on a gift card (0036) */
        if (weights[i] < 0)
            weights[i] = 0;
        left += weights[i];
    }
    sq_loyalty_redeem_t r;
    if (!sq_loyalty_redeem_compute(t->row->loyalty, left, &r))
        return;
    t->has_loyalty = true;
    t->loyalty_requested = r.requested;
    t->loyalty_points = r.points;
    t->loyalty_amount = r.amount;
    t->loyalty_balance = r.balance;
    if (r.amount == 0 || SQ_NEVER(!sq_money_allocate(r.amount, weights, t->nlines, shares)))
        return;
    for (int i = 0; i < t->nlines; i++) {
        sq_cart_line_t *l = &t->lines[i];
        if (shares[i] <= 0)
            continue;
        l->discount_total += shares[i];
        if (l->adjustments.len > 0)
            sq_buf_add(&l->adjustments, ",", 1);
        sq_buf_printf(
            &l->adjustments,
            "{\"promotion_id\":null,\"code\":null,\"amount\":%lld,\"description\":\"Loyalty points\",\"kind\":\"loyalty\"}",
            (long long)shares[i]);
    }
}

/* ---- input rules ------------------------------------------------------------------------------------------------ */

/* currencies: an object of currency -> object; the entries' fields are checked by SQL (souq_loyalty_program_save) */
static const char *check_currencies(const json_t *v, const char **code)
{
    if (!json_is_object(v)) {
        *code = "invalid_type";
        return "currencies is an object of currency codes";
    }
    if (json_object_size(v) > 200) {
        *code = "too_long";
        return "at most 200 currencies";
    }
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        json_t *s = json_string(k);
        const char *why = sq_check_currency(s, code);
        json_decref(s);
        if (why != NULL)
            return why;
        if (k[0] < 'a' || k[0] > 'z' || k[1] < 'a' || k[1] > 'z' || k[2] < 'a' || k[2] > 'z') {
            *code = "invalid_value";
            return "currency codes are lower-case";
        }
        if (!json_is_object(e)) {
            *code = "invalid_type";
            return "each currency is an object";
        }
    }
    return NULL;
}

const sq_field_t sq_loyalty_program_fields[] = {
    F("enabled", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    F("currencies", SQ_FT_JSON, 0, 0, 0, NULL, check_currencies, NULL),
    F("min_redeem_points", SQ_FT_INT, 0, 1, 1000000000, NULL, NULL, NULL),
    F("tier_period_days", SQ_FT_INT, 0, 1, 3660, NULL, NULL, NULL),
    F("expiry_days", SQ_FT_INT, SQ_F_NULLABLE, 1, 3660, NULL, NULL, NULL),
    {NULL},
};

const sq_field_t sq_loyalty_adjust_fields[] = {
    {"points", SQ_FT_INT, SQ_F_REQUIRED, offsetof(sq_loyalty_adjust_in_t, points), -1000000000000LL, 1000000000000LL, NULL, NULL,
     NULL},
    {"reason", SQ_FT_STR, SQ_F_REQUIRED, offsetof(sq_loyalty_adjust_in_t, reason), 1, 256, NULL, NULL, NULL},
    {NULL},
};

const sq_field_t sq_loyalty_cart_fields[] = {
    {"points", SQ_FT_INT, SQ_F_REQUIRED, 0, 1, 1000000000000LL, NULL, NULL, NULL},
    {NULL},
};
