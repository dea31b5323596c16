/* cart_db.c: SQL of carts. A change is one batch: the change (a function of migrations/0012_carts.sql, which
 * locks the cart row) and the cart view, in one transaction and one round trip. With If-Match, the view is
 * read first and priced, its ETag (sq_etag) compared with the ETag, and the change then carries the version it saw. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/util.h"
#include "core/auth_db.h"
#include "core/cart.h"

/* who reaches the cart: its id ($1), the key's channel ($2), the token's customer ($3), the ttl in seconds ($4); the
 * _ forms take these as SQL expressions (the coalesced view reads them from its JSON input) */
#define ACCESS_(ID, CH, CU, TTL)                                                                                                   \
    "c.id = " ID " AND c.sales_channel_id = " CH " AND (c.customer_id IS NULL OR c.customer_id = " CU ") "                          \
    "AND c.completed_at IS NULL AND c.merged_at IS NULL AND c.updated_at > now() - make_interval(secs => " TTL ")"
#define ACCESS ACCESS_("$1", "$2", "$3", "$4::int")

/* the cart's codes (migrations/0021; a code made automatic since is left out) */
#define PROMOTION_CODES                                                                                                            \
    "(SELECT coalesce(json_agg(p.code ORDER BY cp.created_at, p.id), '[]'::json) FROM cart_promotions cp "                          \
    " JOIN promotions p ON p.id = cp.promotion_id WHERE cp.cart_id = c.id AND p.code IS NOT NULL)"

#define CART_JSON_(TTL)                                                                                                            \
    "json_build_object('id', c.id, 'object', 'cart', 'sales_channel_id', c.sales_channel_id, 'customer_id', c.customer_id, "       \
    "'email', c.email, 'currency_code', c.currency_code, 'region_id', c.region_id, 'note', c.note, 'metadata', c.metadata, "       \
    "'shipping_address', c.shipping_address, 'billing_address', c.billing_address, "               \
    "'promotion_codes', " PROMOTION_CODES ", 'last_merge', c.last_merge, 'expires_at', c.updated_at + make_interval(secs => " TTL "), 'created_at', c.created_at, "     \
    "'updated_at', c.updated_at)"

#define LINE_JSON                                                                                                                  \
    "json_build_object('id', l.id, 'object', 'cart_line_item', 'variant_id', v.id, 'product_id', p.id, 'title', p.title, "         \
    "'variant_title', v.title, 'sku', v.sku, 'requires_shipping', v.requires_shipping, 'weight_g', v.weight_g, 'quantity', l.quantity, "                 \
    "'metadata', l.metadata, 'created_at', l.created_at, 'updated_at', l.updated_at)"

/* sellable by the catalog: an active product sold in the cart's channel (the price is the resolver's part);
 * a g after it marks a gift card line (migrations/0036) */
#define LINE_SELLABLE                                                                                                              \
    "CASE WHEN p.status = 'active' AND EXISTS (SELECT 1 FROM product_sales_channels psc WHERE psc.product_id = p.id "              \
    "AND psc.sales_channel_id = c.sales_channel_id) THEN 't' ELSE 'f' END || CASE WHEN p.gift_card THEN 'g' ELSE '' END"

#define RULES                                                                                                                      \
    "coalesce((SELECT string_agg(r.attribute || '=' || r.value, ';') FROM price_list_rules r WHERE r.price_list_id = pl.id), '')"
#define EPOCH(col) "coalesce((extract(epoch FROM " col ") * 1000000)::bigint, 0)"

/* price candidates of the lines (storefront.c format; the index is the line's): base and list prices in the
 * cart's currency, and percentage lists whose scope has the product */
#define CANDIDATES                                                                                                                 \
    "(SELECT string_agg(x.line, E'\\n') FROM ("                                                                                    \
    " SELECT concat_ws(E'\\t', lx.idx, pr.id, pr.amount, coalesce(pr.compare_at_amount, 0), pr.min_quantity, "                     \
    "   coalesce(pl.id, ''), coalesce(pl.kind, ''), coalesce(pl.priority, 0), " EPOCH("pl.starts_at") ", " EPOCH(                  \
        "pl.ends_at") ", 0, " RULES ") AS line "                                                                                   \
                      " FROM lx JOIN prices pr ON pr.variant_id = lx.variant_id AND pr.currency_code = c.currency_code "           \
                      " LEFT JOIN price_lists pl ON pl.id = pr.price_list_id WHERE pr.price_list_id IS NULL OR pl.status = "       \
                      "'active' "                                                                                                  \
                      " UNION ALL "                                                                                                \
                      " SELECT concat_ws(E'\\t', lx.idx, pl.id, 0, 0, 1, pl.id, pl.kind, pl.priority, " EPOCH(                     \
                          "pl.starts_at") ", " EPOCH("pl.ends_at") ", pl.percent_off_bp, " RULES ") "                              \
                                                                   " FROM lx JOIN product_variants v ON v.id = lx.variant_id "     \
                                                                   " JOIN price_lists pl ON pl.percent_off_bp IS NOT NULL AND "    \
                                                                   "pl.status = 'active' "                                         \
                                                                   "   AND (NOT EXISTS (SELECT 1 FROM price_list_products s "      \
                                                                   "WHERE s.price_list_id = pl.id) "                               \
                                                                   "        OR EXISTS (SELECT 1 FROM price_list_products s WHERE " \
                                                                   "s.price_list_id = pl.id AND s.product_id = v.product_id))"     \
                                                                   ") x)"

/* the region the cart is taxed and shipped in and its tax_inclusive: souq_cart_region (migrations/0020) written out,
 * as a plpgsql call cost more than the rest of the view */
#define CART_REGION                                                                                                                \
    "cr AS (SELECT g.id, g.tax_inclusive FROM c, regions g WHERE g.id = coalesce(c.region_id, "                                   \
    " (SELECT x.id FROM region_countries rc JOIN regions x ON x.id = rc.region_id "                                               \
    "   WHERE rc.country_code = c.shipping_address->>'country_code' AND x.currency_code = c.currency_code), "                       \
    " (SELECT x.id FROM sales_channels sc JOIN regions x ON x.id = sc.default_region_id "                                          \
    "   WHERE sc.id = c.sales_channel_id AND x.currency_code = c.currency_code)))"
#define SHIP_COUNTRY "c.shipping_address->>'country_code'"
/* a shipping option as core/shipping.h parses it */
#define SHIP_OPTION                                                                                                                \
    "concat_ws(E'\\t', o.id, o.provider, o.amount, coalesce(o.free_over, -1), to_json(o.name)::text, coalesce(o.min_subtotal, -1), " \
    "coalesce(o.max_subtotal, -1))"
/* tax: the lines' classes, the region's tax_inclusive, the rates of the cart's place (core/tax.h), the chosen
 * method when it is valid now, the region, the address's country and province */
#define TAX_SHIPPING_COLUMNS_(LINES)                                                                                               \
    "(SELECT string_agg(v.tax_class, E'\\n' ORDER BY l.seq) FROM " LINES " l "                                                     \
    " JOIN product_variants v ON v.id = l.variant_id WHERE l.cart_id = c.id), "                                                    \
    "coalesce((SELECT tax_inclusive FROM cr), false), "                                                                            \
    "(SELECT string_agg(concat_ws(E'\\t', t.id, t.rate_bp, t.tax_class, CASE WHEN t.province_code IS NOT NULL THEN 2 "               \
    "   WHEN t.country_code IS NOT NULL THEN 1 ELSE 0 END, to_json(t.code)::text, to_json(t.name)::text), E'\\n' ORDER BY t.code, t.id) " \
    " FROM tax_rates t WHERE t.region_id = (SELECT id FROM cr) OR (t.country_code = " SHIP_COUNTRY                                \
    "   AND (t.province_code IS NULL OR t.province_code = lower(c.shipping_address->>'province')))), "                             \
    "(SELECT " SHIP_OPTION " FROM cart_shipping_methods m JOIN shipping_options o ON o.id = m.shipping_option_id "                  \
    " WHERE m.cart_id = c.id AND souq_shipping_option_valid(o, (SELECT id FROM cr), " SHIP_COUNTRY ")), "                          \
    "(SELECT id FROM cr), " SHIP_COUNTRY ", c.shipping_address->>'province'"

/* the promotions that may apply (migrations/0021 souq_cart_promotions), asked for only when there is an active
 * automatic promotion or a code on the cart (the view is written out rather than calling plpgsql, as above) */
#define PROMOTIONS                                                                                                                 \
    "CASE WHEN EXISTS (SELECT 1 FROM promotions a WHERE a.code IS NULL AND a.status = 'active') "                                  \
    " OR EXISTS (SELECT 1 FROM cart_promotions cp WHERE cp.cart_id = c.id) THEN souq_cart_promotions(c.id, NULL) END"
/* the gift cards of the cart usable now, in the order they were applied (NULL: none) */
#define GIFT_CARDS                                                                                                                 \
    "(SELECT json_agg(json_build_object('id', g.id, 'last4', g.code_last4, 'balance', g.balance) ORDER BY cg.created_at, g.id)::text " \
    " FROM cart_gift_cards cg JOIN gift_cards g ON g.id = cg.gift_card_id WHERE cg.cart_id = c.id AND g.status = 'active' "         \
    "   AND g.currency_code = c.currency_code AND (g.expires_at IS NULL OR g.expires_at > now()) AND g.balance > 0)"

/* points the cart redeems (migrations/0034, core/loyalty.h): "points\tbalance\tredeem_points\tredeem_value", NULL when
 * none or not now (program off, currency not redeemable, a guest cart) */
#define LOYALTY                                                                                                                    \
    "(SELECT concat_ws(E'\\t', cl.points, coalesce((SELECT a.balance FROM loyalty_accounts a WHERE a.customer_id = c.customer_id), 0), " \
    " lp.currencies->c.currency_code->>'redeem_points', lp.currencies->c.currency_code->>'redeem_value') "                          \
    " FROM cart_loyalty cl, loyalty_program lp WHERE cl.cart_id = c.id AND c.customer_id IS NOT NULL AND lp.enabled "             \
    "   AND lp.currencies->c.currency_code->>'redeem_points' IS NOT NULL)"

/* $1 id  $2 channel  $3 customer  $4 ttl seconds -> cart json, lines, candidates, currency, region, groups, version,
 * then TAX_SHIPPING_COLUMNS (7..13), then the promotions that may apply and the gift cards (14, 15): PROMOS, then LOYALTY (16) */
#define CART_VIEW(PROMOS) CART_VIEW_(PROMOS, "$1", "$2", "$3", "$4::int")
#define CART_VIEW_(PROMOS, ID, CH, CU, TTL) CART_VIEW_FROM_("carts", "cart_line_items", PROMOS, ID, CH, CU, TTL)
/* The one definition of the view, over the cart rows CARTS and the line rows LINES: the tables, or in a creation the
 * rows the statement has just inserted (cart_create_many), which the tables do not show it yet. */
#define CART_VIEW_FROM_(CARTS, LINES, PROMOS, ID, CH, CU, TTL)                                                                    \
           "WITH c AS (SELECT * FROM " CARTS " c WHERE " ACCESS_(ID, CH, CU, TTL) "), " CART_REGION ", " \
           "lx AS (SELECT l.variant_id, (row_number() OVER (ORDER BY l.seq) - 1) AS idx " \
           "  FROM " LINES " l JOIN c ON l.cart_id = c.id) " \
           "SELECT " CART_JSON_(TTL) "::text, " \
           "(SELECT string_agg(l.quantity || E'\\t' || " LINE_SELLABLE " || E'\\t' || " LINE_JSON "::text, E'\\x1e' " \
           "   ORDER BY l.seq) " \
           " FROM " LINES " l JOIN product_variants v ON v.id = l.variant_id JOIN products p ON p.id = v.product_id " \
           " WHERE l.cart_id = c.id), " CANDIDATES ", c.currency_code, c.region_id, " \
           "(SELECT string_agg(m.group_id, ',') FROM customer_group_members m WHERE m.customer_id = c.customer_id), c.version, " \
           TAX_SHIPPING_COLUMNS_(LINES) ", " PROMOS ", " GIFT_CARDS ", " LOYALTY " FROM c"
SQ_STMT_RO(cart_view, CART_VIEW(PROMOTIONS));
/* the view with a code ($5) tried on it: souq_cart_promotion_check raises (422 /code) when the code cannot be used */
/* the views of many carts at once (core/db's coalesced calls): $1 [{"id", "channel", "customer", "ttl"}...] -> the
 * call's position, then the columns of cart_view; a cart the caller cannot reach has no row */
#define IN(f) "(k.x->>'" f "')"
SQ_STMT_RO(cart_view_many, "SELECT k.ord, v.* FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY k(x, ord) CROSS JOIN LATERAL ("
                           CART_VIEW_(PROMOTIONS, IN("id"), IN("channel"), IN("customer"), "(k.x->>'ttl')::int") ") v");
SQ_STMT_RO(cart_view_trial, CART_VIEW("souq_cart_promotions(c.id, CASE WHEN souq_cart_promotion_check(c.id, $5) THEN $5 END)"));

/* $1 id  $2 channel  $3 customer  $4 ttl -> the options the cart may choose (core/shipping.h records), by configured amount */
SQ_STMT_RO(cart_shipping_options,
           "WITH c AS (SELECT * FROM carts c WHERE " ACCESS "), " CART_REGION " "
           "SELECT " SHIP_OPTION " FROM c, shipping_options o "
           "WHERE o.region_id = (SELECT id FROM cr) AND souq_shipping_option_valid(o, (SELECT id FROM cr), " SHIP_COUNTRY ") "
           "ORDER BY o.amount, o.id LIMIT 100");
SQ_STMT(cart_shipping_method_set, "SELECT souq_cart_shipping_method_set_within($1, $2, $3, $4::int, $5::int, $6, $7::bigint)");
SQ_STMT(cart_shipping_method_remove, "SELECT souq_cart_shipping_method_remove($1, $2, $3, $4::int, $5::int)");

SQ_STMT(cart_create, "SELECT souq_cart_create($1, $2, $3, $4::jsonb)");
SQ_STMT(cart_update, "SELECT souq_cart_update($1, $2, $3, $4::int, $5::int, $6::jsonb)");
SQ_STMT(cart_line_add, "SELECT souq_cart_line_add($1, $2, $3, $4::int, $5::int, $6, $7::int)");
SQ_STMT(cart_attach, "SELECT souq_cart_attach($1, $2, $3, $4::int, $5::int)");
SQ_STMT(cart_line_set, "SELECT souq_cart_line_set($1, $2, $3, $4::int, $5::int, $6, $7::int)");
SQ_STMT(cart_promotion_add, "SELECT souq_cart_promotion_add($1, $2, $3, $4::int, $5::int, $6)");
SQ_STMT(cart_promotion_remove, "SELECT souq_cart_promotion_remove($1, $2, $3, $4::int, $5::int, $6)");
SQ_STMT(cart_gift_card_add, "SELECT souq_cart_gift_card_add($1, $2, $3, $4::int, $5::int, $6)");
SQ_STMT(cart_gift_card_remove, "SELECT souq_cart_gift_card_remove($1, $2, $3, $4::int, $5::int, $6)");

typedef enum {
    OP_GET,
    OP_CREATE,
    OP_UPDATE,
    OP_ADD,
    OP_SET,
    OP_ATTACH,
    OP_SHIP_METHOD,
    OP_SHIP_OPTIONS,
    OP_PROMO_ADD,
    OP_PROMO_REMOVE,
    OP_GIFT_ADD,
    OP_GIFT_REMOVE,
    OP_SHIP_REMOVE
} op_kind_t;

typedef struct {
    sq_ctx_t *cx;
    sq_arena_t *arena;
    op_kind_t kind;
    sq_cart_caller_t who;
    const char *id;
    const char *body, *variant_id, *line_id; /* body: JSON of create/update */
    const char *option_id;                   /* OP_SHIP_METHOD */
    const char *code;                        /* promotion code, gift card code or gift card id */
    const char *version;                     /* of the view an If-Match was checked against */
    int quantity;
    int64_t shippable;       /* the shippable subtotal of the view read before the change (-1: none read) */
    int col0;                /* the view's first column in its rows (1 in a coalesced view: column 0 is the position) */
    sq_cart_cb cb;
    sq_cart_view_cb view_cb; /* sq_cart_view */
    sq_cart_cb next;         /* price_view's continuation */
    void *data;
} op_t;

/* Row 0 of a cart view as the pricing input; false (404 in err) when there is none. */
static bool view_row(op_t *o, sq_rows_t *rows, sq_cart_row_t *row, sq_err_t *err)
{
    if (sq_rows_count(rows) == 0) {
        sq_err_set(err, SQ_E_NOT_FOUND, "The cart does not exist.");
        return false;
    }
#define COL(i) sq_rows_text(rows, 0, o->col0 + (i))
    *row = (sq_cart_row_t){COL(0), COL(1), COL(2), COL(3), o->who.channel_id, COL(4), COL(5), sq_now_us(), COL(7), COL(9), COL(10),
                           COL(11), COL(12), COL(13), sq_rows_bool(rows, 0, o->col0 + 8), COL(14), COL(15), COL(16)};
    o->version = COL(6);
#undef COL
    return true;
}

/* The answer of an operation: the cart (cb), or for sq_cart_view the cart and its version (view_cb). */
static void answer(op_t *o, const char *json, const sq_err_t *err)
{
    if (o->view_cb != NULL)
        o->view_cb(err == NULL ? json : NULL, err == NULL ? o->version : NULL, err, o->data);
    else
        o->cb(err == NULL ? json : NULL, err, o->data);
}

static void on_priced(const char *json, const sq_err_t *err, void *data)
{
    answer(data, json, err);
}

static void on_totals(const char *json, const sq_cart_totals_t *t, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (t != NULL)
        o->shippable = sq_cart_shippable_total(t); /* POST shipping-methods checks the option's subtotal range with it */
    if (o->view_cb != NULL && json != NULL && json[0] == '{' && t != NULL && t->tax_provider != NULL)
        /* checkout's view: who computed the tax, for the order (migrations/0040); not part of the store API's cart */
        json = sq_arena_printf(o->arena, "{\"tax_provider\":\"%s\",\"tax_commit\":%s,%s", t->tax_provider,
                               t->tax_commits ? "true" : "false", json + 1);
    o->next(json, err, o);
}

/* Prices the view (core/cart.h stages) and answers it; next (NULL: answer) gets the JSON instead. */
static void price_view(op_t *o, sq_rows_t *rows, sq_cart_cb next)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_cart_row_t *row = SQ_NEW(o->arena, sq_cart_row_t);
    if (!view_row(o, rows, row, &e)) {
        answer(o, NULL, &e);
        return;
    }
    o->next = next != NULL ? next : on_priced;
    sq_cart_compute_totals(o->cx, row, on_totals, o);
}

static void on_view(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        answer(o, NULL, o->view_cb != NULL ? err : sq_cart_refine(o->arena, err));
        return;
    }
    price_view(o, rows, NULL);
}

static void on_changed(sq_batch_t *b, const sq_err_t *err, void *data)
{
    if (err != NULL) {
        op_t *o = data;
        o->cb(NULL, sq_cart_refine(o->arena, err), o->data);
        return;
    }
    on_view(sq_batch_rows(b, 1), NULL, data);
}

/* The change and the view in one batch; version NULL skips the If-Match check. */
static void change(op_t *o, const char *version)
{
    sq_arena_t *a = o->arena;
    const char *ttl = sq_db_int(a, o->who.ttl_s);
    const char *const *view = sq_db_params(a, 4, o->id, o->who.channel_id, o->who.customer_id, ttl);
    sq_batch_t *b = sq_db_batch(o->cx->db, a);
    switch (o->kind) {
    case OP_CREATE:
        sq_batch_add(b, &cart_create, 4, sq_db_params(a, 4, o->id, o->who.channel_id, o->who.customer_id, o->body));
        break;
    case OP_UPDATE:
        sq_batch_add(b, &cart_update, 6, sq_db_params(a, 6, o->id, o->who.channel_id, o->who.customer_id, ttl, version, o->body));
        break;
    case OP_ADD:
        sq_batch_add(b, &cart_line_add, 7,
                     sq_db_params(a, 7, o->id, o->who.channel_id, o->who.customer_id, ttl, version, o->variant_id,
                                  sq_db_int(a, o->quantity)));
        break;
    case OP_SET:
        sq_batch_add(b, &cart_line_set, 7,
                     sq_db_params(a, 7, o->id, o->who.channel_id, o->who.customer_id, ttl, version, o->line_id,
                                  o->quantity >= 0 ? sq_db_int(a, o->quantity) : NULL));
        break;
    case OP_ATTACH:
        sq_batch_add(b, &cart_attach, 5, sq_db_params(a, 5, o->id, o->who.channel_id, o->who.customer_id, ttl, version));
        break;
    case OP_SHIP_METHOD:
        sq_batch_add(b, &cart_shipping_method_set, 7,
                     sq_db_params(a, 7, o->id, o->who.channel_id, o->who.customer_id, ttl, version, o->option_id,
                                  o->shippable >= 0 ? sq_db_int(a, o->shippable) : NULL));
        break;
    case OP_SHIP_REMOVE:
        sq_batch_add(b, &cart_shipping_method_remove, 5, sq_db_params(a, 5, o->id, o->who.channel_id, o->who.customer_id, ttl, version));
        break;
    case OP_PROMO_ADD:
    case OP_PROMO_REMOVE:
    case OP_GIFT_ADD:
    case OP_GIFT_REMOVE: {
        sq_stmt_t *st = o->kind == OP_PROMO_ADD      ? &cart_promotion_add
                        : o->kind == OP_PROMO_REMOVE ? &cart_promotion_remove
                        : o->kind == OP_GIFT_ADD     ? &cart_gift_card_add
                                                     : &cart_gift_card_remove;
        sq_batch_add(b, st, 6, sq_db_params(a, 6, o->id, o->who.channel_id, o->who.customer_id, ttl, version, o->code));
        break;
    }
    case OP_GET:
    case OP_SHIP_OPTIONS:
        (void)SQ_NEVER(true);
        break;
    }
    sq_batch_add(b, &cart_view, 4, view);
    sq_batch_send(b, on_changed, o);
}

/* If-Match: the client's ETag must be the sq_etag of the cart as it would be answered now. */
static void on_checked(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        o->cb(NULL, err, o->data);
        return;
    }
    char hex[33];
    sq_etag(json, strlen(json), hex);
    if (strcmp(hex, o->who.if_match) != 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_PRECONDITION_FAILED, "The cart changed since you read it; read it again (If-Match).");
        o->cb(NULL, &e, o->data);
        return;
    }
    change(o, o->version);
}

/* POST shipping-methods without If-Match: the view was read for its shippable subtotal only */
static void on_read(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    (void)json;
    if (err != NULL) {
        o->cb(NULL, err, o->data);
        return;
    }
    change(o, NULL);
}

static void on_precondition(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        o->cb(NULL, err, o->data);
        return;
    }
    price_view(o, rows, o->who.if_match != NULL ? on_checked : on_read);
}

/* GET .../shipping-options: the view (for the items' total) and the options, rated by their providers. */
static void on_options(sq_batch_t *b, const sq_err_t *err, void *data)
{
    op_t *o = data;
    sq_err_t e;
    sq_err_clear(&e);
    sq_cart_row_t *row = SQ_NEW(o->arena, sq_cart_row_t);
    if (err != NULL || !view_row(o, sq_batch_rows(b, 0), row, &e)) {
        o->cb(NULL, err != NULL ? err : &e, o->data);
        return;
    }
    sq_rows_t *rows = sq_batch_rows(b, 1);
    sq_buf_t opts;
    sq_buf_init(&opts, o->arena, 256);
    for (int i = 0; i < sq_rows_count(rows); i++) {
        if (i > 0)
            sq_buf_add(&opts, "\n", 1);
        sq_buf_str(&opts, sq_rows_text(rows, i, 0));
    }
    sq_cart_offer_shipping(o->cx, row, opts.p, o->cb, o->data);
}

static op_t *op(sq_ctx_t *cx, op_kind_t kind, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    o->cx = cx;
    o->arena = cx->arena;
    o->kind = kind;
    o->who = *who;
    o->id = id;
    o->cb = cb;
    o->data = data;
    o->shippable = -1;
    return o;
}

/* POST /promotions: the cart priced with the code tried on it; the code must give something (t->trial_refusal) */
static void on_trial_priced(const char *json, const sq_cart_totals_t *t, const sq_err_t *err, void *data)
{
    op_t *o = data;
    (void)json;
    if (err != NULL) {
        o->cb(NULL, err, o->data);
        return;
    }
    if (t->trial_refusal != NULL) { /* "code|detail" */
        const char *bar = strchr(t->trial_refusal, '|');
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_VALIDATION, "%s", bar + 1);
        sq_err_field(&e, "/code", sq_arena_printf(o->arena, "%.*s", (int)(bar - t->trial_refusal), t->trial_refusal), "%s", bar + 1);
        o->cb(NULL, &e, o->data);
        return;
    }
    change(o, NULL);
}

static void on_trial(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    sq_err_t e;
    sq_err_clear(&e);
    sq_cart_row_t *row = SQ_NEW(o->arena, sq_cart_row_t);
    if (err != NULL || !view_row(o, rows, row, &e)) {
        o->cb(NULL, err != NULL ? sq_cart_refine(o->arena, err) : &e, o->data);
        return;
    }
    sq_cart_compute_totals(o->cx, row, on_trial_priced, o);
}

/* ---- coalesced views and creations (core/db.h: many requests' carts in one statement) ----------------------- */

/* $1 [{"id", "channel", "customer", "ttl", "body", "line"}...]: creates the carts whose every check passes and answers
 * each one's position and view (the columns of cart_view, over the rows it inserted: CART_VIEW_FROM_). The contract is
 * migrations/0042's (souq_carts_create, whose body this statement is since 0043): a call is created only when every
 * check of souq_cart_create passes, with the same result; a call it does not create is not answered, and runs alone.
 * What 0043 changed, measured: a statement rather than a plpgsql function (the call cost about 0.1 ms a group, 7 us a
 * cart at 16); the view answered here rather than by a second statement reading the new rows back; the first line's
 * id made in C ("line", sq_id_new: souq_id() is a plpgsql call, 5-7 us a row; further lines still get souq_id()).
 * The view here leaves the promotions out (NULL): souq_cart_promotions reads the lines from the table, where this
 * statement cannot see them. So the last column says whether an automatic promotion is active, and then the caller
 * reads the cart's view (cart_view_many, coalesced) after the commit: one more round trip only while a store runs an
 * automatic promotion. (A second statement in the batch that answered the table view only in that case cost more
 * than it saved: its executor starts the whole view's plan for every group, one-time filter or not.) */
SQ_STMT(cart_create_many,
    "WITH ac AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)), " /* souq_cart_async_commit (0012) */
    "k AS ( "
    "    SELECT e.ordinality::int AS ord, e.value->>'id' AS id, e.value->>'channel' AS channel, e.value->>'customer' AS customer, "
    "           e.value->'body' AS b, e.value->>'line' AS line, (e.value->>'ttl')::int AS ttl, "
    "           lower(e.value->'body'->>'currency_code') AS want, e.value->'body'->>'region_id' AS region "
    "      FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY e "
    "), kc AS ( "
    "    SELECT k.*, r.currency_code AS reg_cur, "
    "           coalesce(k.want, r.currency_code, "
    "                    (SELECT x.currency_code FROM sales_channels sc JOIN regions x ON x.id = sc.default_region_id "
    "                      WHERE sc.id = k.channel), "
    "                    (SELECT x.currency_code FROM regions x ORDER BY x.created_at, x.id LIMIT 1)) AS cur "
    "      FROM k LEFT JOIN regions r ON r.id = k.region "
    "), ok AS ( " /* souq_cart_currency's checks, and no addresses */
    "    SELECT kc.* FROM kc "
    "     WHERE EXISTS (SELECT 1 FROM currencies cu WHERE cu.code = kc.cur) "
    "       AND (kc.region IS NULL OR (kc.reg_cur IS NOT NULL AND (kc.want IS NULL OR kc.want = kc.reg_cur))) "
    "       AND NOT kc.b ?| ARRAY['shipping_address', 'billing_address', 'shipping_address_id', 'billing_address_id'] "
    "), it AS ( " /* a line per variant (souq_cart_add adds a repeated variant to its line) */
    "    SELECT o.ord, i.value->>'variant_id' AS variant, sum((i.value->>'quantity')::int) AS qty, min(i.ordinality) AS first, "
    "           min((i.value->>'quantity')::int) AS least, count(*) - count(i.value->>'quantity') AS missing "
    "      FROM ok o, jsonb_array_elements(coalesce(o.b->'items', '[]')) WITH ORDINALITY i "
    "     GROUP BY o.ord, i.value->>'variant_id' "
    "), chk AS MATERIALIZED ( " /* souq_cart_check_variant's checks, once per variant, currency and channel of the group
                                  (carts created together mostly add the same popular variants) */
    "    SELECT v.variant, v.cur, v.channel, "
    "           pr.status = 'active' AND EXISTS (SELECT 1 FROM product_sales_channels psc "
    "                                            WHERE psc.product_id = pr.id AND psc.sales_channel_id = v.channel) AS sellable, "
    "           souq_cart_priced(v.variant, v.cur) AS priced, "
    "           CASE WHEN pv.manage_inventory AND NOT pv.allow_backorder "
    "                THEN souq_variant_available(v.variant, v.channel) END AS avail "
    "      FROM (SELECT DISTINCT it.variant, o.cur, o.channel FROM it JOIN ok o ON o.ord = it.ord) v "
    "      JOIN product_variants pv ON pv.id = v.variant JOIN products pr ON pr.id = pv.product_id "
    "), bad AS MATERIALIZED ( " /* souq_cart_add's checks per line (a variant with no chk row does not exist); the item
                                  rules C checks too (quantity 1..10000), so that this statement is safe alone */
    "    SELECT it.ord FROM it JOIN ok o ON o.ord = it.ord "
    "      LEFT JOIN chk ON chk.variant = it.variant AND chk.cur = o.cur AND chk.channel = o.channel "
    "     WHERE chk.variant IS NULL OR NOT chk.sellable OR NOT chk.priced OR chk.avail < it.qty "
    "        OR it.qty > 10000 OR it.least < 1 OR it.missing > 0 "
    "    UNION ALL "
    "    SELECT it.ord FROM it GROUP BY it.ord HAVING count(*) > 250 "
    "), good AS ( "
    "    SELECT ok.* FROM ok WHERE ok.ord NOT IN (SELECT bad.ord FROM bad) "
    "), ins AS ( "
    "    INSERT INTO carts (id, sales_channel_id, customer_id, email, currency_code, region_id, note, metadata) "
    "    SELECT g.id, g.channel, g.customer, "
    "           coalesce(lower(g.b->>'email'), (SELECT cu.email FROM customers cu WHERE cu.id = g.customer)), "
    "           g.cur, g.region, g.b->>'note', coalesce(g.b->'metadata', '{}') "
    "      FROM good g ORDER BY g.ord RETURNING * "
    "), lines AS ( " /* (a data-modifying WITH always runs to completion; the parent rows are checked at the statement's end) */
    "    INSERT INTO cart_line_items (id, cart_id, variant_id, quantity) "
    "    SELECT CASE WHEN it.first = 1 AND g.line IS NOT NULL THEN g.line ELSE souq_id('cali') END, g.id, it.variant, it.qty "
    "      FROM good g JOIN it ON it.ord = g.ord ORDER BY g.ord, it.first RETURNING * "
    ") "
    "SELECT g.ord, v.*, pm.promoted FROM good g CROSS JOIN ac LEFT JOIN LATERAL ("
    CART_VIEW_FROM_("ins", "lines", "NULL", "g.id", "g.channel", "g.customer", "g.ttl") ") v ON true, "
    "LATERAL (SELECT EXISTS (SELECT 1 FROM promotions a WHERE a.code IS NULL AND a.status = 'active') AS promoted) pm");
static sq_stmt_t *const create_stmts[] = {&cart_create_many};
static const sq_coalesce_t create_many = {"cart_create", create_stmts, 1, 32};
static sq_stmt_t *const view_stmts[] = {&cart_view_many};
static const sq_coalesce_t view_many = {"cart_view", view_stmts, 1, 32};

/* an id as it may stand in a JSON string unescaped (ours always can: base32 and base64url) */
static bool plain(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return false;
    return true;
}

/* The input of a coalesced call: who asks for which cart, and a creation's body; NULL: the call goes alone. */
static const char *call_input(op_t *o)
{
    const char *cu = o->who.customer_id;
    if (!plain(o->id) || !plain(o->who.channel_id) || (cu != NULL && !plain(cu)))
        return NULL;
    return sq_arena_printf(o->arena, "{\"id\":\"%s\",\"channel\":\"%s\",\"customer\":%s%s%s,\"ttl\":%d%s%s%s%s%s}", o->id,
                           o->who.channel_id, cu ? "\"" : "", cu ? cu : "null", cu ? "\"" : "", o->who.ttl_s,
                           o->body != NULL ? ",\"body\":" : "", o->body != NULL ? o->body : "",
                           o->kind == OP_CREATE ? ",\"line\":\"" : "", o->kind == OP_CREATE ? sq_id_new(o->arena, "cali") : "",
                           o->kind == OP_CREATE ? "\"" : "");
}

/* The cart's view by itself (cart_view), answered by on_view. */
static void view_alone(op_t *o)
{
    o->col0 = 0;
    sq_db_query(o->cx->db, o->arena, &cart_view, 4,
                sq_db_params(o->arena, 4, o->id, o->who.channel_id, o->who.customer_id, sq_db_int(o->arena, o->who.ttl_s)), on_view, o);
}

static void on_view_many(sq_rows_t *const *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL && err->code != SQ_E_UNAVAILABLE) { /* another cart's view failed the batch: this one alone */
        view_alone(o);
        return;
    }
    o->col0 = 1;
    on_view(err == NULL ? rows[0] : NULL, err, o);
}

static void on_created_many(sq_rows_t *const *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err == NULL && sq_rows_count(rows[0]) > 0) { /* created: its view, or the one with the promotions when they apply */
        o->col0 = 1;
        const char *promoted = sq_rows_text(rows[0], 0, 18);
        if (promoted != NULL && promoted[0] == 't') { /* the view with the promotions, read as a GET reads it */
            o->kind = OP_GET;
            o->body = NULL;
            const char *in = call_input(o); /* (not NULL: the creation's input was made of the same ids) */
            if (in != NULL)
                sq_db_coalesce(o->cx->db, o->arena, &view_many, in, on_view_many, o);
            else
                view_alone(o);
        } else if (sq_rows_text(rows[0], 0, 1) != NULL) {
            price_view(o, rows[0], NULL);
        } else { /* created, but not seen (cannot happen): read it alone */
            view_alone(o);
        }
    } else { /* refused by a check, or the batch failed: alone, for its own answer (the error a lone request gets) */
        change(o, NULL);
    }
}

static void run(op_t *o)
{
    if (o->kind == OP_PROMO_ADD) { /* try the code on the cart first */
        sq_arena_t *a = o->arena;
        sq_db_query(o->cx->db, a, &cart_view_trial, 5,
                    sq_db_params(a, 5, o->id, o->who.channel_id, o->who.customer_id, sq_db_int(a, o->who.ttl_s), o->code), on_trial, o);
        return;
    }
    if (o->kind == OP_SHIP_OPTIONS) {
        sq_arena_t *a = o->arena;
        const char *const *params = sq_db_params(a, 4, o->id, o->who.channel_id, o->who.customer_id, sq_db_int(a, o->who.ttl_s));
        sq_batch_t *b = sq_db_batch(o->cx->db, a);
        sq_batch_add(b, &cart_view, 4, params);
        sq_batch_add(b, &cart_shipping_options, 4, params);
        sq_batch_send(b, on_options, o);
        return;
    }
    const char *in;
    if (o->kind == OP_GET && (in = call_input(o)) != NULL) {
        sq_db_coalesce(o->cx->db, o->arena, &view_many, in, on_view_many, o);
        return;
    }
    if (o->kind == OP_CREATE && (in = call_input(o)) != NULL) {
        sq_db_coalesce(o->cx->db, o->arena, &create_many, in, on_created_many, o);
        return;
    }
    if (o->kind == OP_GET || o->kind == OP_SHIP_METHOD || (o->who.if_match != NULL && o->kind != OP_CREATE)) {
        sq_arena_t *a = o->arena;
        sq_db_query(o->cx->db, a, &cart_view, 4,
                    sq_db_params(a, 4, o->id, o->who.channel_id, o->who.customer_id, sq_db_int(a, o->who.ttl_s)),
                    o->kind == OP_GET ? on_view : on_precondition, o);
        return;
    }
    change(o, NULL);
}

void sq_cart_get(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data)
{
    run(op(cx, OP_GET, who, id, cb, data));
}

void sq_cart_view(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_view_cb cb, void *data)
{
    op_t *o = op(cx, OP_GET, who, id, NULL, data);
    o->view_cb = cb;
    run(o);
}

void sq_cart_create(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *body, sq_cart_cb cb, void *data)
{
    op_t *o = op(cx, OP_CREATE, who, sq_token_new(cx->arena, "cart_"), cb, data);
    o->body = body;
    run(o);
}

void sq_cart_update(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *body, sq_cart_cb cb, void *data)
{
    op_t *o = op(cx, OP_UPDATE, who, id, cb, data);
    o->body = body;
    run(o);
}

void sq_cart_line_add(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const sq_cart_line_in_t *in, sq_cart_cb cb,
                      void *data)
{
    op_t *o = op(cx, OP_ADD, who, id, cb, data);
    o->variant_id = in->variant_id;
    o->quantity = (int)in->quantity;
    run(o);
}

void sq_cart_line_set(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *line_id, int quantity, sq_cart_cb cb,
                      void *data)
{
    op_t *o = op(cx, OP_SET, who, id, cb, data);
    o->line_id = line_id;
    o->quantity = quantity;
    run(o);
}

void sq_cart_attach(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data)
{
    assert(who->customer_id != NULL);
    run(op(cx, OP_ATTACH, who, id, cb, data));
}

void sq_cart_shipping_options(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data)
{
    run(op(cx, OP_SHIP_OPTIONS, who, id, cb, data));
}

void sq_cart_shipping_method_set(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *option_id, sq_cart_cb cb,
                                 void *data)
{
    op_t *o = op(cx, OP_SHIP_METHOD, who, id, cb, data);
    o->option_id = option_id;
    run(o);
}

void sq_cart_shipping_method_remove(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data)
{
    run(op(cx, OP_SHIP_REMOVE, who, id, cb, data));
}

/* ---- promotion codes and gift cards (migrations/0021): set operations, so no If-Match ---------------------- */

static op_t *code_op(sq_ctx_t *cx, op_kind_t kind, const sq_cart_caller_t *who, const char *id, const char *code, sq_cart_cb cb,
                     void *data)
{
    op_t *o = op(cx, kind, who, id, cb, data);
    o->who.if_match = NULL;
    o->code = code;
    return o;
}

void sq_cart_promotion_add(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *code, sq_cart_cb cb, void *data)
{
    run(code_op(cx, OP_PROMO_ADD, who, id, code, cb, data));
}

void sq_cart_promotion_remove(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *code, sq_cart_cb cb,
                              void *data)
{
    run(code_op(cx, OP_PROMO_REMOVE, who, id, code, cb, data));
}

static void on_rate(int retry_after, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        o->cb(NULL, err, o->data);
        return;
    }
    if (retry_after > 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_RATE_LIMITED, "Too many gift card attempts; try again in %d seconds.", retry_after);
        e.retry_after = retry_after;
        o->cb(NULL, &e, o->data);
        return;
    }
    run(o);
}

void sq_cart_gift_card_add(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *code, const char *const rate_keys[2],
                           const int limits[2], sq_cart_cb cb, void *data)
{
    op_t *o = code_op(cx, OP_GIFT_ADD, who, id, code, cb, data);
    /* every attempt counts, in its own transaction (a refused code rolls back the change, not the count) */
    sq_auth_db_rate_take(cx, rate_keys, limits, 60, on_rate, o);
}

void sq_cart_gift_card_remove(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, const char *card_id, sq_cart_cb cb,
                              void *data)
{
    run(code_op(cx, OP_GIFT_REMOVE, who, id, card_id, cb, data));
}
