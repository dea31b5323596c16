/* cart.c: input rules of cart requests, and pricing a cart view row: each line gets the price the one resolver
 * picks for its quantity, then lines and the cart get their totals. Pure: unit-tested without a database. */
#include "core/cart.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/money.h"
#include "core/base/util.h"
#include "core/customer.h"
#include "core/hooks.h"
#include "core/loyalty.h"
#include "core/pricing.h"
#include "core/promotion.h"
#include "core/shipping.h"
#include "core/storefront.h"
#include "core/tax.h"

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)
#define COMMON(region_flags)                                                                                                       \
    F("currency_code", SQ_FT_STR, 0, 3, 3, NULL, sq_check_currency, NULL),                                                         \
        F("region_id", SQ_FT_STR, (region_flags), 1, 40, NULL, sq_check_id, NULL),                                                 \
        F("email", SQ_FT_STR, SQ_F_NULLABLE, 0, 254, NULL, sq_check_email, NULL),                                                  \
        F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL), META,                                    \
        F("shipping_address", SQ_FT_OBJECT, SQ_F_NULLABLE, 0, 0, NULL, NULL, sq_address_postal_fields),                             \
        F("billing_address", SQ_FT_OBJECT, SQ_F_NULLABLE, 0, 0, NULL, NULL, sq_address_postal_fields),                              \
        F("shipping_address_id", SQ_FT_STR, 0, 1, 40, NULL, sq_check_id, NULL),                                                    \
        F("billing_address_id", SQ_FT_STR, 0, 1, 40, NULL, sq_check_id, NULL)

/* an address decodes into the 256-byte scratch of the handler's validation (api/handlers/store_carts.c) */
_Static_assert(sizeof(sq_address_t) <= 256, "cart bodies are validated into 256 bytes");

static const sq_field_t item_fields[] = {
    F("variant_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("quantity", SQ_FT_INT, SQ_F_REQUIRED, 1, SQ_CART_MAX_QUANTITY, NULL, NULL, NULL),
    {NULL},
};

const sq_field_t sq_cart_create_fields[] = {
    COMMON(0),
    F("items", SQ_FT_OBJECT_ARRAY, 0, 0, SQ_CART_MAX_LINES, NULL, NULL, item_fields),
    {NULL},
};

const sq_field_t sq_cart_update_fields[] = {COMMON(SQ_F_NULLABLE), {NULL}};

const sq_field_t sq_cart_line_add_fields[] = {
    {"variant_id", SQ_FT_STR, SQ_F_REQUIRED, offsetof(sq_cart_line_in_t, variant_id), 1, 40, NULL, sq_check_id, NULL},
    {"quantity", SQ_FT_INT, SQ_F_REQUIRED, offsetof(sq_cart_line_in_t, quantity), 1, SQ_CART_MAX_QUANTITY, NULL, NULL, NULL},
    {NULL},
};

const sq_field_t sq_cart_line_set_fields[] = {
    {"quantity", SQ_FT_INT, SQ_F_REQUIRED, offsetof(sq_cart_line_in_t, quantity), 0, SQ_CART_MAX_QUANTITY, NULL, NULL, NULL},
    {NULL},
};

bool sq_cart_id_valid(const char *s)
{
    if (strncmp(s, "cart_", 5) != 0 || strlen(s) != 5 + 43)
        return false;
    for (const char *c = s + 5; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_'))
            return false;
    return true;
}

/* The text of a JSON object without its closing brace. */
static size_t open_len(const char *obj, size_t len)
{
    while (len > 0 && obj[len - 1] != '}')
        len--;
    return len > 0 ? len - 1 : 0;
}

void sq_cart_price(sq_arena_t *a, const sq_cart_row_t *row, sq_cart_totals_t *t)
{
    static const char *const kinds[] = {"base", "sale", "override"};
    memset(t, 0, sizeof(*t));
    t->row = row;
    t->tax_inclusive = row->tax_inclusive;
    sq_buf_init(&t->shipping_tax_lines, a, 64);
    sq_buf_init(&t->promotions, a, 64);
    sq_buf_init(&t->gift_cards, a, 64);
    char *classes = sq_arena_strdup(a, row->tax_classes ? row->tax_classes : ""), *class_save = NULL;
    char *next_class = strtok_r(classes, "\n", &class_save);
    int ncand = 1;
    for (const char *p = row->candidates ? row->candidates : ""; *p; p++)
        ncand += *p == '\n';
    sq_indexed_candidate_t *cands = sq_arena_alloc(a, sizeof(*cands) * (size_t)ncand);
    ncand = sq_store_parse_candidates(a, row->candidates, row->currency, cands, ncand);
    sq_price_candidate_t *mine = sq_arena_alloc(a, sizeof(*mine) * (size_t)(ncand ? ncand : 1));
    const char *group_list[32];
    int ngroups = 0;
    if (row->groups != NULL && *row->groups) {
        char *g = sq_arena_strdup(a, row->groups), *save = NULL;
        for (char *tok = strtok_r(g, ",", &save); tok != NULL && ngroups < 32; tok = strtok_r(NULL, ",", &save))
            group_list[ngroups++] = tok;
    }
    const char *lines = row->lines ? row->lines : "";
    int cap = 1;
    for (const char *p = lines; *p; p++)
        cap += *p == '\x1e';
    t->lines = sq_arena_alloc(a, sizeof(*t->lines) * (size_t)cap);
    for (const char *v = lines; *v;) {
        const char *end = strchr(v, '\x1e');
        size_t rlen = end ? (size_t)(end - v) : strlen(v);
        char *rec = sq_arena_strndup(a, v, rlen);
        v += rlen + (end ? 1 : 0);
        char *t1 = strchr(rec, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (SQ_NEVER(t2 == NULL))
            continue;
        int idx = t->nlines;
        sq_cart_line_t *l = &t->lines[t->nlines++];
        memset(l, 0, sizeof(*l));
        l->qty = atoi(rec);
        l->json = t2 + 1;
        l->gift_card = t1[2] == 'g';
        sq_buf_init(&l->adjustments, a, 64);
        sq_buf_init(&l->tax_lines, a, 64);
        l->tax_class = next_class != NULL ? next_class : "standard";
        next_class = next_class != NULL ? strtok_r(NULL, "\n", &class_save) : NULL;
        int n = 0;
        for (int i = 0; i < ncand; i++)
            if (cands[i].vidx == idx)
                mine[n++] = cands[i].c;
        sq_price_context_t ctx = {row->currency, l->qty, row->channel_id, row->region_id, NULL, group_list, ngroups, row->now_us};
        sq_price_result_t r = {0};
        sq_price_resolve(mine, n, &ctx, &r);
        int64_t subtotal = 0;
        if (r.found && __builtin_mul_overflow(r.amount, (int64_t)l->qty, &subtotal))
            r.found = false;
        l->priced = r.found;
        l->unit_price = r.amount;
        l->compare_at = r.found ? r.compare_at : 0;
        l->price_list_id = r.found && r.list != NULL ? r.list->id : NULL;
        l->price_type = r.found ? kinds[r.kind] : NULL;
        l->sellable = t1[1] == 't' && r.found && sq_money_add(t->item_subtotal, subtotal, &t->item_subtotal);
        l->subtotal = r.found ? subtotal : 0; /* shown on an unsellable line too, left out of the totals */
        if (l->sellable)
            t->item_count += l->qty;
    }
}

static void amount_or_null(sq_buf_t *b, bool known, int64_t v)
{
    if (known)
        sq_buf_printf(b, "%lld", (long long)v);
    else
        sq_buf_str(b, "null");
}

static void string_or_null(sq_buf_t *b, const char *s)
{
    if (s != NULL)
        sq_buf_printf(b, "\"%s\"", s);
    else
        sq_buf_str(b, "null");
}

int64_t sq_cart_shippable_total(const sq_cart_totals_t *t)
{
    int64_t sum = t->item_subtotal;
    for (int i = 0; i < t->nlines; i++) {
        const sq_cart_line_t *l = &t->lines[i];
        sum -= l->discount_total + (l->sellable && l->gift_card ? l->subtotal : 0);
    }
    return sum;
}

int64_t sq_cart_grand_total(const sq_cart_totals_t *t)
{
    int64_t discount = 0, tax = t->shipping_tax_total;
    for (int i = 0; i < t->nlines; i++) {
        discount += t->lines[i].discount_total;
        tax += t->lines[i].tax_total;
    }
    return t->item_subtotal - discount + t->shipping_total - t->shipping_discount_total + (t->tax_inclusive ? 0 : tax);
}

char *sq_cart_encode(sq_arena_t *a, const sq_cart_totals_t *t)
{
    const char *cart = t->row->cart;
    size_t clen = strlen(cart);
    sq_buf_t b;
    sq_buf_init(&b, a, clen + (size_t)t->nlines * 640 + 512);
    sq_buf_add(&b, cart, open_len(cart, clen));
    sq_buf_str(&b, ",\"items\":[");
    int64_t discount = 0, tax = t->shipping_tax_total;
    for (int i = 0; i < t->nlines; i++) {
        const sq_cart_line_t *l = &t->lines[i];
        discount += l->discount_total;
        tax += l->tax_total;
        if (i > 0)
            sq_buf_add(&b, ",", 1);
        sq_buf_add(&b, l->json, open_len(l->json, strlen(l->json)));
        sq_buf_str(&b, ",\"unit_price\":");
        amount_or_null(&b, l->priced, l->unit_price);
        sq_buf_str(&b, ",\"compare_at_unit_price\":");
        amount_or_null(&b, l->priced && l->compare_at > 0, l->compare_at);
        sq_buf_str(&b, ",\"price_list_id\":");
        string_or_null(&b, l->price_list_id);
        sq_buf_str(&b, ",\"price_type\":");
        string_or_null(&b, l->price_type);
        int64_t total = l->subtotal - l->discount_total + (t->tax_inclusive ? 0 : l->tax_total);
        sq_buf_printf(&b, ",\"sellable\":%s,\"subtotal\":%lld,\"discount_total\":%lld,\"tax_total\":%lld,\"total\":%lld,",
                      l->sellable ? "true" : "false", (long long)l->subtotal, (long long)l->discount_total,
                      (long long)l->tax_total, (long long)total);
        sq_buf_printf(&b, "\"gift_card\":%s,", l->gift_card ? "true" : "false");
        sq_buf_str(&b, "\"adjustments\":[");
        sq_buf_add(&b, l->adjustments.p, l->adjustments.len);
        sq_buf_str(&b, "],\"tax_lines\":[");
        sq_buf_add(&b, l->tax_lines.p, l->tax_lines.len);
        sq_buf_str(&b, "]}");
    }
    int64_t total = sq_cart_grand_total(t);
    sq_buf_str(&b, "],\"shipping_methods\":[");
    if (t->has_shipping) {
        sq_buf_printf(&b,
                      "{\"object\":\"cart_shipping_method\",\"shipping_option_id\":\"%s\",\"name\":%s,\"provider\":\"%s\",\"amount\":%lld,"
                      "\"discount_total\":%lld,\"tax_total\":%lld,\"tax_lines\":[",
                      t->ship_option_id, t->ship_name_json, t->ship_provider, (long long)t->shipping_total,
                      (long long)t->shipping_discount_total, (long long)t->shipping_tax_total);
        sq_buf_add(&b, t->shipping_tax_lines.p, t->shipping_tax_lines.len);
        sq_buf_str(&b, "]}");
    }
    sq_buf_printf(&b,
                  "],\"item_count\":%lld,\"item_subtotal\":%lld,\"discount_total\":%lld,\"shipping_total\":%lld,"
                  "\"shipping_discount_total\":%lld,\"shipping_tax_total\":%lld,\"tax_total\":%lld,\"tax_inclusive\":%s,\"total\":%lld,\"gift_card_total\":%lld,"
                  "\"amount_due\":%lld,",
                  (long long)t->item_count, (long long)t->item_subtotal, (long long)discount, (long long)t->shipping_total,
                  (long long)t->shipping_discount_total, (long long)t->shipping_tax_total, (long long)tax, t->tax_inclusive ? "true" : "false", (long long)total,
                  (long long)t->gift_card_total, (long long)(total - t->gift_card_total));
    if (t->has_loyalty)
        sq_buf_printf(&b, "\"loyalty\":{\"points_requested\":%lld,\"points\":%lld,\"amount\":%lld,\"balance\":%lld},",
                      (long long)t->loyalty_requested, (long long)t->loyalty_points, (long long)t->loyalty_amount, (long long)t->loyalty_balance);
    else
        sq_buf_str(&b, "\"loyalty\":null,");
    sq_buf_str(&b, "\"promotions\":[");
    sq_buf_add(&b, t->promotions.p, t->promotions.len);
    sq_buf_str(&b, "],\"gift_cards\":[");
    sq_buf_add(&b, t->gift_cards.p, t->gift_cards.len);
    sq_buf_str(&b, "]}");
    return b.p;
}

/* ---- the totals stages after pricing: discounts (promotions, points), pricing plugins, shipping, tax (on what is left) */

typedef struct {
    sq_ctx_t *cx;
    sq_cart_totals_t t;
    int *item_line; /* tax item -> index of its line, -1 for shipping */
    sq_cart_cb cb;
    sq_cart_totals_cb tcb; /* instead of cb: sq_cart_compute_totals */
    void *data;
} view_t;

static void view_answer(view_t *v, const char *json, const sq_err_t *err)
{
    if (v->tcb != NULL)
        v->tcb(json, err == NULL ? &v->t : NULL, err, v->data);
    else
        v->cb(json, err, v->data);
}

static void stage_tax(view_t *v);

/* the value of "key" (an integer, else 0) in a line's catalog JSON as PostgreSQL's json_build_object writes it */
static int64_t line_int(const char *json, const char *key)
{
    const char *p = strstr(json, key);
    if (p == NULL)
        return 0;
    p += strlen(key);
    while (*p == ' ' || *p == ':')
        p++;
    return *p >= '0' && *p <= '9' ? strtoll(p, NULL, 10) : 0;
}

/* the sellable lines as a JSON array (for plugin shipping providers), in the arena */
static const char *items_json(sq_arena_t *a, const sq_cart_totals_t *t)
{
    sq_buf_t b;
    sq_buf_init(&b, a, 64 + (size_t)t->nlines * 256);
    sq_buf_str(&b, "[");
    for (int i = 0, n = 0; i < t->nlines; i++) {
        const sq_cart_line_t *l = &t->lines[i];
        if (!l->sellable || l->json == NULL)
            continue;
        if (n++ > 0)
            sq_buf_str(&b, ",");
        sq_buf_str(&b, l->json);
    }
    sq_buf_str(&b, "]");
    return b.p;
}

int64_t sq_cart_weight(const sq_cart_totals_t *t)
{
    int64_t g = 0;
    for (int i = 0; i < t->nlines; i++) {
        const sq_cart_line_t *l = &t->lines[i];
        if (l->sellable && l->json != NULL && strstr(l->json, "\"requires_shipping\" : true") != NULL)
            g += line_int(l->json, "\"weight_g\"") * l->qty;
    }
    return g;
}

static void on_ship_rate(const sq_ship_rate_t *res, const sq_err_t *err, void *data)
{
    view_t *v = data;
    /* an option its provider does not offer now (or a failing carrier) is not shown and not charged; checkout
     * rates it again and refuses it */
    if (err != NULL || res == NULL || !res->available) {
        v->t.has_shipping = false;
        v->t.shipping_total = 0;
    } else {
        v->t.shipping_total = res->amount;
    }
    stage_tax(v);
}

static void stage_shipping(view_t *v)
{
    sq_arena_t *a = v->cx->arena;
    const sq_cart_row_t *row = v->t.row;
    sq_ship_option_t o;
    const sq_shipping_provider_t *p = NULL;
    if (row->shipping != NULL && *row->shipping && sq_ship_option_parse(sq_arena_strdup(a, row->shipping), &o)
        && sq_ship_option_fits(&o, sq_cart_shippable_total(&v->t))) /* a subtotal range the cart left: not shown, not charged */
        p = sq_shipping_provider(o.provider);
    if (p == NULL) { /* no method, or an option of a provider this build does not have */
        stage_tax(v);
        return;
    }
    v->t.has_shipping = true;
    v->t.ship_option_id = o.id;
    v->t.ship_provider = o.provider;
    v->t.ship_name_json = o.name_json;
    int64_t discount = 0; /* (with the gift card lines, which do not count toward shipping: sq_cart_shippable_total) */
    for (int i = 0; i < v->t.nlines; i++)
        discount += v->t.lines[i].discount_total + (v->t.lines[i].sellable && v->t.lines[i].gift_card ? v->t.lines[i].subtotal : 0);
    sq_ship_req_t *req = SQ_NEW(a, sq_ship_req_t);
    *req = (sq_ship_req_t){o.id, row->currency, o.amount, o.free_over, NULL, row->country_code, row->province, NULL,
                           v->t.item_subtotal - discount, v->t.item_count, sq_cart_weight(&v->t), row->cart, row->tax_region_id,
                           p == sq_shipping_builtin(o.provider) ? NULL : items_json(a, &v->t), row->channel_id};
    p->rates(v->cx, req, on_ship_rate, v);
}

static void tax_line_json(sq_buf_t *b, const sq_tax_line_t *l)
{
    if (b->len > 0)
        sq_buf_add(b, ",", 1);
    sq_buf_printf(b, "{\"rate_id\":\"%s\",\"code\":%s,\"name\":%s,\"rate_bp\":%lld,\"amount\":%lld}", l->rate_id, l->code_json,
                  l->name_json, (long long)l->rate_bp, (long long)l->amount);
}

static void on_tax(const sq_tax_res_t *res, const sq_err_t *err, void *data)
{
    view_t *v = data;
    if (err != NULL) {
        view_answer(v, NULL, err);
        return;
    }
    sq_cart_totals_t *t = &v->t;
    t->tax_provider = res->provider != NULL ? res->provider : "table";
    t->tax_commits = res->commits;
    for (int i = 0; i < res->nlines; i++) {
        const sq_tax_line_t *l = &res->lines[i];
        int line = v->item_line[l->item];
        if (line >= 0) {
            t->lines[line].tax_total += l->amount;
            tax_line_json(&t->lines[line].tax_lines, l);
        } else {
            t->shipping_tax_total += l->amount;
            tax_line_json(&t->shipping_tax_lines, l);
        }
        t->tax_total += l->amount;
    }
    sq_gift_card_stage(v->cx->arena, t); /* last: gift cards pay what they can of the total */
    view_answer(v, sq_cart_encode(v->cx->arena, t), NULL);
}

static void stage_tax(view_t *v)
{
    sq_arena_t *a = v->cx->arena;
    sq_cart_totals_t *t = &v->t;
    const sq_cart_row_t *row = t->row;
    sq_promotion_free_shipping(a, t); /* after shipping, before tax: tax sees the discounted shipping */
    sq_tax_req_t *req = SQ_NEW(a, sq_tax_req_t);
    sq_tax_item_t *items = sq_arena_alloc(a, sizeof(*items) * (size_t)(t->nlines + 1));
    v->item_line = sq_arena_alloc(a, sizeof(int) * (size_t)(t->nlines + 1));
    int n = 0;
    for (int i = 0; i < t->nlines; i++) {
        const sq_cart_line_t *l = &t->lines[i];
        if (!l->sellable || l->gift_card) /* gift cards are not taxed when sold (tax applies when they pay) */
            continue;
        v->item_line[n] = i;
        items[n++] = (sq_tax_item_t){l->tax_class, l->subtotal - l->discount_total, l->qty};
    }
    if (t->has_shipping) {
        v->item_line[n] = -1;
        items[n++] = (sq_tax_item_t){"shipping", t->shipping_total - t->shipping_discount_total, 1};
    }
    sq_tax_rate_t *rates;
    int nrates = sq_tax_rates_parse(a, row->tax_rates, &rates);
    *req = (sq_tax_req_t){row->currency, t->tax_inclusive, row->tax_region_id, row->country_code, row->province, rates, nrates, items, n};
    sq_tax_provider()->calculate(v->cx, req, on_tax, v);
}

/* The discounts stage (promotions, core/promotion.c): fills the lines' discount_total and adjustments. */
static void stage_discounts(sq_arena_t *a, sq_cart_totals_t *t)
{
    sq_promotion_stage(a, t);
    sq_loyalty_stage(a, t); /* points redeemed: a discount after the promotions' (core/loyalty.c) */
}

const sq_pricing_plugins_t *sq_pricing_plugins;

int64_t sq_cart_apply_adjustments(sq_arena_t *a, sq_cart_totals_t *t, const sq_adjust_req_t *req, const sq_adjust_res_t *res)
{
    int64_t applied = 0;
    const char *plugin = res->plugin != NULL ? sq_arena_printf(a, "\"%s\"", res->plugin) : "null"; /* [a-z0-9-] */
    for (int i = 0; i < res->nadjs; i++) {
        const sq_adjustment_t *x = &res->adjs[i];
        if (SQ_NEVER(x->item < 0 || x->item >= req->nlines))
            continue;
        int line = req->lines[x->item].line;
        if (SQ_NEVER(line < 0 || line >= t->nlines))
            continue;
        sq_cart_line_t *l = &t->lines[line];
        int64_t left = l->subtotal - l->discount_total, amount = x->amount < left ? x->amount : left;
        if (amount <= 0) /* nothing left of the line (or a non-positive amount): not shown */
            continue;
        l->discount_total += amount;
        applied += amount;
        if (l->adjustments.len > 0)
            sq_buf_add(&l->adjustments, ",", 1);
        sq_buf_printf(&l->adjustments,
                      "{\"promotion_id\":null,\"code\":%s,\"amount\":%lld,\"description\":%s,\"kind\":\"plugin\",\"plugin\":%s}",
                      x->code_json ? x->code_json : "null", (long long)amount, x->description_json ? x->description_json : "null",
                      plugin);
    }
    return applied;
}

const sq_adjust_req_t *sq_cart_adjust_request(sq_arena_t *a, const sq_cart_totals_t *t)
{
    const sq_cart_row_t *row = t->row;
    sq_adjust_req_t *req = SQ_NEW(a, sq_adjust_req_t);
    sq_adjust_line_t *lines = sq_arena_alloc(a, sizeof(*lines) * (size_t)(t->nlines > 0 ? t->nlines : 1));
    int n = 0;
    int64_t discount = 0;
    for (int i = 0; i < t->nlines; i++) {
        const sq_cart_line_t *l = &t->lines[i];
        discount += l->discount_total;
        if (!l->sellable || l->gift_card) /* gift cards are never discounted (core/promotion.c does the same) */
            continue;
        lines[n++] = (sq_adjust_line_t){i, l->json, l->qty, l->unit_price, l->subtotal, l->discount_total};
    }
    *req = (sq_adjust_req_t){row->currency, row->tax_region_id, row->channel_id, row->cart, row->groups, lines, n,
                             t->item_subtotal, discount};
    return req;
}

/* The pricing adjustments stage (core/hooks.h): each plugin providing pricing in turn, then done(data). */
typedef struct {
    sq_ctx_t *cx;
    sq_cart_totals_t *t;
    const char **names;
    int next;
    const sq_adjust_req_t *req; /* of the plugin being asked */
    void (*done)(void *data);
    void *data;
} adjust_t;

static void adjust_next(adjust_t *x);

static void on_adjusted(const sq_adjust_res_t *res, void *data)
{
    adjust_t *x = data;
    if (res != NULL) /* NULL: the plugin failed (logged and counted by the host); the cart goes on without it */
        sq_cart_apply_adjustments(x->cx->arena, x->t, x->req, res);
    adjust_next(x);
}

static void adjust_next(adjust_t *x)
{
    const sq_pricing_plugins_t *pl = sq_pricing_plugins;
    while (x->names[x->next] != NULL) {
        const char *name = x->names[x->next++];
        x->req = sq_cart_adjust_request(x->cx->arena, x->t);
        if (x->req->nlines == 0)
            break;
        pl->adjust(x->cx, name, x->req, on_adjusted, x);
        return;
    }
    x->done(x->data);
}

static void stage_adjust(sq_ctx_t *cx, sq_cart_totals_t *t, void (*done)(void *data), void *data)
{
    const sq_pricing_plugins_t *pl = __atomic_load_n(&sq_pricing_plugins, __ATOMIC_ACQUIRE);
    if (pl == NULL || !pl->active()) { /* the common case costs a pointer test and a thread-local compare */
        done(data);
        return;
    }
    adjust_t *x = SQ_NEW(cx->arena, adjust_t);
    *x = (adjust_t){cx, t, pl->providers(cx->arena, t->row->channel_id), 0, NULL, done, data};
    adjust_next(x);
}

static void after_adjust(void *data)
{
    stage_shipping(data);
}

static void compute(sq_ctx_t *cx, const sq_cart_row_t *row, sq_cart_cb cb, sq_cart_totals_cb tcb, void *data)
{
    view_t *v = SQ_NEW(cx->arena, view_t);
    v->cx = cx;
    v->cb = cb;
    v->tcb = tcb;
    v->data = data;
    sq_cart_price(cx->arena, row, &v->t);
    stage_discounts(cx->arena, &v->t);
    stage_adjust(cx, &v->t, after_adjust, v);
}

void sq_cart_compute(sq_ctx_t *cx, const sq_cart_row_t *row, sq_cart_cb cb, void *data)
{
    compute(cx, row, cb, NULL, data);
}

void sq_cart_compute_totals(sq_ctx_t *cx, const sq_cart_row_t *row, sq_cart_totals_cb cb, void *data)
{
    compute(cx, row, NULL, cb, data);
}

/* ---- the shipping options a cart may choose ------------------------------------------------------------------ */

typedef struct {
    sq_ctx_t *cx;
    const sq_cart_row_t *row;
    sq_ship_option_t *opts;
    int nopts, next, rated;
    const char *selected; /* the option of the cart's method, or "" */
    int64_t item_total, item_count, weight_g;
    const char *items_json;
    const sq_cart_totals_t *t;
    sq_buf_t out;
    sq_cart_cb cb;
    void *data;
} offer_t;

static void offer_next(offer_t *f);

static void on_offer_rate(const sq_ship_rate_t *res, const sq_err_t *err, void *data)
{
    offer_t *f = data;
    const sq_ship_option_t *o = &f->opts[f->next++];
    if (err == NULL && res != NULL && res->available) {
        if (f->rated++ > 0)
            sq_buf_add(&f->out, ",", 1);
        sq_buf_printf(&f->out,
                      "{\"id\":\"%s\",\"object\":\"shipping_option\",\"name\":%s,\"provider\":\"%s\",\"amount\":%lld,"
                      "\"currency_code\":\"%s\",\"free_over\":",
                      o->id, o->name_json, o->provider, (long long)res->amount, f->row->currency);
        if (o->free_over >= 0)
            sq_buf_printf(&f->out, "%lld", (long long)o->free_over);
        else
            sq_buf_str(&f->out, "null");
        sq_buf_printf(&f->out, ",\"selected\":%s}", strcmp(o->id, f->selected) == 0 ? "true" : "false");
    }
    offer_next(f);
}

static void offer_next(offer_t *f)
{
    while (f->next < f->nopts) {
        const sq_ship_option_t *o = &f->opts[f->next];
        const sq_shipping_provider_t *p = sq_ship_option_fits(o, f->item_total) ? sq_shipping_provider(o->provider) : NULL;
        if (p == NULL) { /* no provider for it in this build, or the cart is outside its subtotal range */
            f->next++;
            continue;
        }
        sq_ship_req_t *req = SQ_NEW(f->cx->arena, sq_ship_req_t);
        *req = (sq_ship_req_t){.option_id = o->id,
                               .currency = f->row->currency,
                               .amount = o->amount,
                               .free_over = o->free_over,
                               .country_code = f->row->country_code,
                               .province = f->row->province,
                               .item_total = f->item_total,
                               .item_count = f->item_count,
                               .weight_g = f->weight_g,
                               .cart_json = f->row->cart,
                               .region_id = f->row->tax_region_id,
                               .items_json = p == sq_shipping_builtin(o->provider) ? NULL : f->items_json,
                               .channel_id = f->row->channel_id};
        p->rates(f->cx, req, on_offer_rate, f);
        return;
    }
    sq_buf_str(&f->out, "],\"has_more\":false,\"next_cursor\":null}");
    f->cb(f->out.p, NULL, f->data);
}

static void offer_start(void *data)
{
    offer_t *f = data;
    sq_arena_t *a = f->cx->arena;
    const sq_cart_totals_t *t = f->t;
    f->item_total = sq_cart_shippable_total(t);
    f->item_count = t->item_count;
    f->weight_g = sq_cart_weight(t);
    f->items_json = items_json(a, t);
    offer_next(f);
}

void sq_cart_offer_shipping(sq_ctx_t *cx, const sq_cart_row_t *row, const char *options, sq_cart_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    offer_t *f = SQ_NEW(a, offer_t);
    f->cx = cx;
    f->row = row;
    f->cb = cb;
    f->data = data;
    sq_cart_totals_t *t = SQ_NEW(a, sq_cart_totals_t);
    f->t = t;
    sq_cart_price(a, row, t);
    stage_discounts(a, t);
    sq_ship_option_t cur;
    f->selected = row->shipping != NULL && sq_ship_option_parse(sq_arena_strdup(a, row->shipping), &cur) ? cur.id : "";
    int cap = 1;
    for (const char *p = options ? options : ""; *p; p++)
        cap += *p == '\n';
    f->opts = sq_arena_alloc(a, sizeof(*f->opts) * (size_t)cap);
    char *s = sq_arena_strdup(a, options ? options : ""), *save = NULL;
    for (char *rec = strtok_r(s, "\n", &save); rec != NULL && f->nopts < cap; rec = strtok_r(NULL, "\n", &save))
        if (!SQ_NEVER(!sq_ship_option_parse(rec, &f->opts[f->nopts])))
            f->nopts++;
    sq_buf_init(&f->out, a, 256 + (size_t)f->nopts * 200);
    sq_buf_str(&f->out, "{\"object\":\"list\",\"data\":[");
    stage_adjust(cx, t, offer_start, f); /* rated on the items after every discount, as the cart's own method is */
}

typedef struct {
    char *json;
    bool answered;
} capture_t;

static void capture(const char *json, const sq_err_t *err, void *data)
{
    capture_t *c = data;
    c->json = err == NULL ? (char *)json : NULL;
    c->answered = true;
}

char *sq_cart_assemble(sq_arena_t *a, const sq_cart_row_t *row)
{
    sq_ctx_t cx = {.arena = a};
    capture_t c = {NULL, false};
    sq_cart_compute(&cx, row, capture, &c);
    if (SQ_NEVER(!c.answered))
        return NULL;
    return c.json;
}

const sq_err_t *sq_cart_refine(sq_arena_t *a, const sq_err_t *err)
{
    if (err == NULL || (err->code != SQ_E_VALIDATION && err->code != SQ_E_INSUFFICIENT_STOCK))
        return err;
    const char *bar1 = strchr(err->detail, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
    if (bar2 == NULL || (bar1 != err->detail && err->detail[0] != '/'))
        return err;
    sq_err_t *e = SQ_NEW(a, sq_err_t);
    sq_err_copy(e, err);
    e->nfields = 0;
    char pointer[96], code[28];
    snprintf(pointer, sizeof(pointer), "%.*s", (int)(bar1 - err->detail), err->detail);
    snprintf(code, sizeof(code), "%.*s", (int)(bar2 - bar1 - 1), bar1 + 1);
    sq_err_set(e, err->code, "%s", bar2 + 1);
    sq_err_field(e, pointer, code, "%s", bar2 + 1);
    return e;
}
