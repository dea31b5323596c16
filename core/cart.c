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
#include "core/pricing.h"
#include "core/storefront.h"

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
        sq_buf_init(&l->adjustments, a, 64);
        sq_buf_init(&l->tax_lines, a, 64);
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
        sq_buf_str(&b, "\"adjustments\":[");
        sq_buf_add(&b, l->adjustments.p, l->adjustments.len);
        sq_buf_str(&b, "],\"tax_lines\":[");
        sq_buf_add(&b, l->tax_lines.p, l->tax_lines.len);
        sq_buf_str(&b, "]}");
    }
    int64_t total = t->item_subtotal - discount + t->shipping_total - t->shipping_discount_total + (t->tax_inclusive ? 0 : tax);
    sq_buf_printf(&b,
                  "],\"item_count\":%lld,\"item_subtotal\":%lld,\"discount_total\":%lld,\"shipping_total\":%lld,"
                  "\"shipping_discount_total\":%lld,\"tax_total\":%lld,\"tax_inclusive\":%s,\"total\":%lld,\"gift_card_total\":%lld,"
                  "\"amount_due\":%lld}",
                  (long long)t->item_count, (long long)t->item_subtotal, (long long)discount, (long long)t->shipping_total,
                  (long long)t->shipping_discount_total, (long long)tax, t->tax_inclusive ? "true" : "false", (long long)total,
                  (long long)t->gift_card_total, (long long)(total - t->gift_card_total));
    return b.p;
}

char *sq_cart_assemble(sq_arena_t *a, const sq_cart_row_t *row)
{
    sq_cart_totals_t t;
    sq_cart_price(a, row, &t);
    /* the totals stages, in this order: discounts (promotions), shipping, tax (on what is left after discounts) */
    return sq_cart_encode(a, &t);
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
