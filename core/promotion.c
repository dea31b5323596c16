/* promotion.c: the discount engine (which promotions apply to a priced cart and what each line gets), the cart
 * stages built on it (discounts, free shipping, gift cards), and the input rules of promotions and gift cards.
 * Pure: unit-tested without a database (tests/unit/promotion.c). The rules are in promotion.h. */
#include "core/promotion.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/money.h"
#include "core/base/util.h"

/* ---- the engine ------------------------------------------------------------------------------------------ */

static bool targets(const sq_promo_t *p, int line)
{
    if (p->lines == NULL)
        return true;
    for (int i = 0; i < p->nlines; i++)
        if (p->lines[i] == line)
            return true;
    return false;
}

/* Whether p qualifies on the cart (item subtotal before discounts; only sellable lines, amount > 0, count). */
static sq_promo_why_t qualifies(const sq_promo_t *p, const sq_promo_line_t *lines, int nlines, int64_t item_subtotal)
{
    if (p->min_subtotal >= 0 && item_subtotal < p->min_subtotal)
        return SQ_PROMO_MIN_SUBTOTAL;
    if (p->type == SQ_PROMO_FREE_SHIPPING)
        return SQ_PROMO_OK; /* free shipping of the whole order, whatever its target */
    int64_t units = 0;
    for (int i = 0; i < nlines; i++)
        if (lines[i].amount > 0 && targets(p, i))
            units += lines[i].qty;
    if (units == 0)
        return SQ_PROMO_NO_ITEMS;
    if (p->type == SQ_PROMO_BUY_X_GET_Y && units < (int64_t)p->buy + p->get)
        return SQ_PROMO_NO_ITEMS;
    return SQ_PROMO_OK;
}

/* What p takes off the lines given what is left of them (rem); share[i] gets each line's part. Returns the sum. */
static int64_t discount_of(const sq_promo_t *p, const sq_promo_line_t *lines, int nlines, const int64_t *rem, int64_t *share,
                           int64_t *w, bool *done)
{
    memset(share, 0, sizeof(*share) * (size_t)nlines);
    int64_t base = 0;
    for (int i = 0; i < nlines; i++) {
        w[i] = lines[i].amount > 0 && targets(p, i) ? rem[i] : 0;
        base += w[i];
    }
    if (base <= 0)
        return 0;
    int64_t d = 0;
    switch (p->type) {
    case SQ_PROMO_PERCENTAGE:
        if (!sq_money_fraction(base, p->percent_bp, &d))
            return 0;
        break;
    case SQ_PROMO_FIXED:
        d = p->amount < base ? p->amount : base;
        break;
    case SQ_PROMO_BUY_X_GET_Y: {
        /* of every buy+get matching units, the get cheapest ones: walk the lines cheapest first */
        int64_t units = 0;
        for (int i = 0; i < nlines; i++)
            if (w[i] > 0)
                units += lines[i].qty;
        int64_t free_units = units / (p->buy + p->get) * p->get, sum = 0;
        memset(done, 0, sizeof(*done) * (size_t)nlines);
        while (free_units > 0) {
            int best = -1;
            for (int i = 0; i < nlines; i++)
                if (w[i] > 0 && !done[i] && (best < 0 || lines[i].unit_price < lines[best].unit_price))
                    best = i;
            if (best < 0)
                break;
            done[best] = true;
            int64_t k = free_units < lines[best].qty ? free_units : lines[best].qty, off = 0;
            free_units -= k;
            if (!sq_money_fraction(lines[best].unit_price * k, p->percent_bp, &off))
                off = 0;
            share[best] = off < rem[best] ? off : rem[best];
            sum += share[best];
        }
        return sum;
    }
    case SQ_PROMO_FREE_SHIPPING:
        return 0;
    }
    if (d <= 0 || !sq_money_allocate(d, w, nlines, share)) {
        memset(share, 0, sizeof(*share) * (size_t)nlines);
        return 0;
    }
    return d;
}

/* Order of application: priority high first, then id. */
static bool before(const sq_promo_t *a, const sq_promo_t *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return strcmp(a->id ? a->id : "", b->id ? b->id : "") < 0;
}

static void sort_order(const sq_promo_t *promos, int *order, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: a cart has a handful of promotions */
        for (int j = i; j > 0 && before(&promos[order[j]], &promos[order[j - 1]]); j--) {
            int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
}

/* Runs the promotions of order[0..n) in turn on fresh remainders; total discount; adjustments when adj != NULL. */
static int64_t run_option(const sq_promo_line_t *lines, int nlines, sq_promo_t *promos, const int *order, int n, int64_t *rem,
                          int64_t *share, int64_t *w, bool *done, int64_t *given, sq_promo_adj_t *adj, int *nadj)
{
    int64_t total = 0;
    for (int i = 0; i < nlines; i++)
        rem[i] = lines[i].amount > 0 ? lines[i].amount : 0;
    for (int k = 0; k < n; k++) {
        sq_promo_t *p = &promos[order[k]];
        int64_t d = discount_of(p, lines, nlines, rem, share, w, done);
        given[k] = d;
        total += d;
        for (int i = 0; i < nlines; i++) {
            if (share[i] <= 0)
                continue;
            rem[i] -= share[i];
            if (adj != NULL)
                adj[(*nadj)++] = (sq_promo_adj_t){order[k], i, share[i]};
        }
    }
    return total;
}

bool sq_promo_compute(sq_arena_t *a, const sq_promo_line_t *lines, int nlines, sq_promo_t *promos, int npromos, int64_t *discount,
                      sq_promo_adj_t **adj, int *nadj, int *free_shipping_promo)
{
    int64_t item_subtotal = 0;
    for (int i = 0; i < nlines; i++) {
        discount[i] = 0;
        if (lines[i].amount > 0)
            item_subtotal += lines[i].amount;
    }
    *adj = NULL;
    *nadj = 0;
    *free_shipping_promo = -1;
    int cap = npromos > 0 ? npromos : 1;
    int *order = sq_arena_alloc(a, sizeof(int) * (size_t)cap), norder = 0;
    for (int k = 0; k < npromos; k++) {
        promos[k].applied = false;
        promos[k].given = 0;
        promos[k].why = qualifies(&promos[k], lines, nlines, item_subtotal);
        if (promos[k].why == SQ_PROMO_OK)
            order[norder++] = k;
    }
    sort_order(promos, order, norder);
    /* free shipping: the first qualifying one in priority order */
    int *stack = sq_arena_alloc(a, sizeof(int) * (size_t)cap), nstack = 0;
    for (int k = 0; k < norder; k++) {
        sq_promo_t *p = &promos[order[k]];
        if (p->type == SQ_PROMO_FREE_SHIPPING) {
            if (*free_shipping_promo < 0) {
                *free_shipping_promo = order[k];
                p->applied = true;
            }
        } else if (p->combinable) {
            stack[nstack++] = order[k];
        }
    }
    size_t nl = (size_t)(nlines > 0 ? nlines : 1);
    int64_t *rem = sq_arena_alloc(a, sizeof(int64_t) * nl), *share = sq_arena_alloc(a, sizeof(int64_t) * nl);
    int64_t *w = sq_arena_alloc(a, sizeof(int64_t) * nl), *given = sq_arena_alloc(a, sizeof(int64_t) * (size_t)cap);
    bool *done = sq_arena_alloc(a, sizeof(bool) * nl);
    /* the options: the stack of combinable promotions, then each non-combinable one alone (priority order) */
    const int *best = stack;
    int nbest = nstack;
    int64_t best_total = nstack > 0 ? run_option(lines, nlines, promos, stack, nstack, rem, share, w, done, given, NULL, NULL) : -1;
    for (int k = 0; k < norder; k++) {
        sq_promo_t *p = &promos[order[k]];
        if (p->type == SQ_PROMO_FREE_SHIPPING || p->combinable)
            continue;
        int64_t t = run_option(lines, nlines, promos, &order[k], 1, rem, share, w, done, given, NULL, NULL);
        if (t > best_total) {
            best_total = t;
            best = &order[k];
            nbest = 1;
        }
    }
    if (nbest == 0)
        return *free_shipping_promo >= 0;
    sq_promo_adj_t *out = sq_arena_alloc(a, sizeof(*out) * (size_t)nbest * nl);
    run_option(lines, nlines, promos, best, nbest, rem, share, w, done, given, out, nadj);
    for (int k = 0; k < nbest; k++) {
        promos[best[k]].applied = true;
        promos[best[k]].given = given[k];
    }
    for (int j = 0; j < *nadj; j++)
        discount[out[j].line] += out[j].amount;
    *adj = out;
    return *free_shipping_promo >= 0;
}

/* ---- the cart stages ----------------------------------------------------------------------------------- */

static const char *str_or_null(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s;
}

int sq_promo_parse(sq_arena_t *a, const char *text, sq_promo_t **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (text == NULL || *text == '\0')
        return 0;
    json_error_t e;
    json_t *arr = json_loads(text, 0, &e);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return -1;
    }
    size_t cnt = json_array_size(arr);
    sq_promo_t *ps = sq_arena_zalloc(a, sizeof(*ps) * (cnt ? cnt : 1));
    int k = 0;
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        sq_promo_t *p = &ps[k];
        const char *type = str_or_null(o, "type"), *id = str_or_null(o, "id");
        if (type == NULL || id == NULL)
            continue;
        p->id = sq_arena_strdup(a, id);
        const char *code = str_or_null(o, "code"), *desc = str_or_null(o, "description");
        p->code = code ? sq_arena_strdup(a, code) : NULL;
        p->description = sq_arena_strdup(a, desc ? desc : "");
        if (strcmp(type, "percentage") == 0)
            p->type = SQ_PROMO_PERCENTAGE;
        else if (strcmp(type, "fixed") == 0)
            p->type = SQ_PROMO_FIXED;
        else if (strcmp(type, "free_shipping") == 0)
            p->type = SQ_PROMO_FREE_SHIPPING;
        else if (strcmp(type, "buy_x_get_y") == 0)
            p->type = SQ_PROMO_BUY_X_GET_Y;
        else
            continue;
        p->percent_bp = json_integer_value(json_object_get(o, "percent_bp"));
        p->amount = json_integer_value(json_object_get(o, "amount"));
        json_t *min = json_object_get(o, "min_subtotal");
        p->min_subtotal = json_is_integer(min) ? json_integer_value(min) : -1;
        p->buy = (int)json_integer_value(json_object_get(o, "buy"));
        p->get = (int)json_integer_value(json_object_get(o, "get"));
        if (p->type == SQ_PROMO_BUY_X_GET_Y && (p->buy < 1 || p->get < 1))
            continue;
        p->priority = (int)json_integer_value(json_object_get(o, "priority"));
        p->combinable = json_is_true(json_object_get(o, "combinable"));
        p->trial = json_is_true(json_object_get(o, "trial"));
        json_t *lines = json_object_get(o, "lines");
        if (json_is_array(lines)) {
            int *ix = sq_arena_alloc(a, sizeof(int) * (json_array_size(lines) + 1));
            size_t j;
            json_t *v;
            json_array_foreach(lines, j, v) ix[p->nlines++] = (int)json_integer_value(v);
            p->lines = ix;
        }
        k++;
    }
    json_decref(arr);
    *out = ps;
    *n = k;
    return 0;
}

/* s as a JSON string literal (arena). */
static const char *jstr(sq_arena_t *a, const char *s)
{
    if (s == NULL)
        return "null";
    json_t *j = json_string(s);
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    const char *r = d ? sq_arena_strdup(a, d) : "\"\"";
    free(d);
    json_decref(j);
    return r;
}

static void entry(sq_buf_t *b, sq_arena_t *a, const char *id, const char *code, int64_t amount, const char *kind)
{
    if (b->len > 0)
        sq_buf_add(b, ",", 1);
    sq_buf_printf(b, "{\"id\":\"%s\",\"code\":%s,\"kind\":\"%s\",\"amount\":%lld}", id, jstr(a, code), kind, (long long)amount);
}

void sq_promotion_stage(sq_arena_t *a, sq_cart_totals_t *t)
{
    sq_promo_t *ps;
    int np;
    if (t->row->promotions == NULL || sq_promo_parse(a, t->row->promotions, &ps, &np) != 0 || np == 0)
        return;
    sq_promo_line_t *lines = sq_arena_alloc(a, sizeof(*lines) * (size_t)(t->nlines > 0 ? t->nlines : 1));
    int64_t *discount = sq_arena_alloc(a, sizeof(int64_t) * (size_t)(t->nlines > 0 ? t->nlines : 1));
    for (int i = 0; i < t->nlines; i++) {
        const sq_cart_line_t *l = &t->lines[i];
        bool counts = l->sellable && !l->gift_card; /* no promotion discounts a gift card, nor counts it toward a threshold */
        lines[i] = (sq_promo_line_t){counts ? l->subtotal : 0, counts ? l->unit_price : 0, l->qty};
    }
    sq_promo_adj_t *adj;
    int nadj, fs;
    t->free_shipping = sq_promo_compute(a, lines, t->nlines, ps, np, discount, &adj, &nadj, &fs);
    if (fs >= 0) {
        t->free_shipping_id = ps[fs].id;
        t->free_shipping_code = ps[fs].code;
    }
    for (int j = 0; j < nadj; j++) {
        sq_cart_line_t *l = &t->lines[adj[j].line];
        const sq_promo_t *p = &ps[adj[j].promo];
        l->discount_total += adj[j].amount;
        if (l->adjustments.len > 0)
            sq_buf_add(&l->adjustments, ",", 1);
        sq_buf_printf(&l->adjustments, "{\"promotion_id\":\"%s\",\"code\":%s,\"amount\":%lld,\"description\":%s}", p->id,
                      jstr(a, p->code), (long long)adj[j].amount, jstr(a, p->description));
    }
    for (int k = 0; k < np; k++) {
        const sq_promo_t *p = &ps[k];
        if (p->applied && p->type != SQ_PROMO_FREE_SHIPPING && p->given > 0)
            entry(&t->promotions, a, p->id, p->code, p->given, "items");
        if (!p->trial)
            continue;
        if (p->why == SQ_PROMO_MIN_SUBTOTAL)
            t->trial_refusal = sq_arena_printf(a, "coupon_min_subtotal|The cart's subtotal is below the %lld the code needs.",
                                               (long long)p->min_subtotal);
        else if (p->why == SQ_PROMO_NO_ITEMS)
            t->trial_refusal =
                p->type == SQ_PROMO_BUY_X_GET_Y
                    ? sq_arena_printf(a, "coupon_not_applicable|The code needs %d matching units in the cart.", p->buy + p->get)
                    : "coupon_not_applicable|No item of the cart qualifies for the code.";
        else if (!p->applied || (p->type != SQ_PROMO_FREE_SHIPPING && p->given == 0))
            t->trial_refusal =
                "coupon_not_combinable|The code cannot be combined with the promotions of the cart, or gives less than they do.";
    }
}

void sq_promotion_free_shipping(sq_arena_t *a, sq_cart_totals_t *t)
{
    if (!t->free_shipping)
        return;
    t->shipping_discount_total = t->shipping_total;
    entry(&t->promotions, a, t->free_shipping_id, t->free_shipping_code, t->shipping_discount_total, "shipping");
}

void sq_gift_card_stage(sq_arena_t *a, sq_cart_totals_t *t)
{
    if (t->row->gift_cards == NULL || *t->row->gift_cards == '\0')
        return;
    json_error_t e;
    json_t *arr = json_loads(t->row->gift_cards, 0, &e);
    int64_t left = sq_cart_grand_total(t);
    for (int k = 0; k < t->nlines; k++) /* a gift card cannot buy a gift card (their lines are never taxed nor discounted) */
        if (t->lines[k].sellable && t->lines[k].gift_card)
            left -= t->lines[k].subtotal;
    size_t i;
    json_t *g;
    json_array_foreach(arr, i, g)
    {
        const char *id = json_string_value(json_object_get(g, "id")), *last4 = json_string_value(json_object_get(g, "last4"));
        int64_t bal = json_integer_value(json_object_get(g, "balance"));
        if (id == NULL || last4 == NULL || bal < 0)
            continue;
        int64_t use = left > 0 ? (bal < left ? bal : left) : 0;
        left -= use;
        t->gift_card_total += use;
        if (t->gift_cards.len > 0)
            sq_buf_add(&t->gift_cards, ",", 1);
        sq_buf_printf(&t->gift_cards, "{\"id\":\"%s\",\"last4\":%s,\"amount\":%lld,\"balance\":%lld}", id, jstr(a, last4),
                      (long long)use, (long long)bal);
    }
    json_decref(arr);
}

/* ---- input rules ----------------------------------------------------------------------------------------- */

const char *sq_check_promo_code(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    *code = "invalid_format";
    if (n < 3 || n > 64)
        return "must be 3 to 64 letters, digits, - or _";
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return "must be 3 to 64 letters, digits, - or _";
    return NULL;
}

const char *sq_check_currency_amounts(const json_t *v, const char **code)
{
    *code = "invalid_format";
    if (json_is_null(v))
        return NULL;
    if (!json_is_object(v) || json_object_size(v) == 0 || json_object_size(v) > 50)
        return "must be an object of 1 to 50 currency codes and amounts, as {\"eur\": 500}";
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        if (strlen(k) != 3 || k[0] < 'a' || k[0] > 'z' || k[1] < 'a' || k[1] > 'z' || k[2] < 'a' || k[2] > 'z')
            return "keys must be lower-case ISO 4217 currency codes";
        if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > 1000000000000LL)
            return "amounts must be integers from 1 to 10^12 (minor units)";
    }
    return NULL;
}
