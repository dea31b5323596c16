/* storefront_db.c: the storefront product query and its per-thread read cache. One statement template per sort
 * order, so each can walk its index with a keyset condition (deep pages cost what the first costs), made into
 * one prepared statement per request shape (shape_stmt: which filters, cursor or not). Parameters:
 *  $1 channel  $2 currency  $3 region  $4 locales text[]  $5 customer  $6 after (cursor key)  $7 limit+1
 *  $8 q  $9 category  $10 collection  $11 tag  $12 price_min  $13 price_max  $14 in_stock  $15 options jsonb
 *  $16 expand variants  $17 expand prices  $18 expand availability  $19 expand categories  $20 fields text[]
 *  $21 id or handle
 * Each row: product JSON, variant JSONs ('\x1e'-separated), price candidates (storefront.c), cursor key,
 * currency, locale, the customer's groups. */
#include <string.h>

#include "core/storefront.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/base/buf.h"
#include "core/base/cache.h"
#include "core/base/json.h"
#include "core/base/util.h"

/* the product's localized JSON; categories only when expanded */
#define PRODUCT_FIELDS                                                                                                             \
    "'id', b.id, 'object', 'product', 'title', b.l_title, 'handle', b.handle, 'subtitle', b.l_subtitle, "                          \
    "'description', b.l_description, 'type', b.type, 'brand', b.brand, 'tags', to_json(b.tags), "                                  \
    "'seo', json_build_object('title', b.l_seo_title, 'description', b.l_seo_description), "                                       \
    "'media', coalesce((SELECT json_agg(json_build_object('id', m.id, 'url', m.url, 'alt', m.alt) ORDER BY m.rank, m.id) "         \
    "  FROM product_media m WHERE m.product_id = b.id), '[]'::json), "                                                             \
    "'options', coalesce((SELECT json_agg(json_build_object('id', o.id, 'title', coalesce(ot.title, o.title), 'values', "          \
    "  (SELECT json_agg(coalesce(ovt.value, ov.value) ORDER BY ov.rank, ov.id) FROM product_option_values ov "                     \
    "   LEFT JOIN option_value_translations ovt ON ovt.option_value_id = ov.id AND ovt.locale = b.locale "                         \
    "   WHERE ov.option_id = o.id)) ORDER BY o.rank, o.id) FROM product_options o "                                                \
    "  LEFT JOIN option_translations ot ON ot.option_id = o.id AND ot.locale = b.locale WHERE o.product_id = b.id), '[]'::json), " \
    "'gift_card', b.gift_card, 'created_at', b.created_at, 'updated_at', b.updated_at"

#define CATEGORIES                                                                                                                 \
    "'categories', coalesce((SELECT json_agg(json_build_object('id', c.id, 'name', coalesce(ct.name, c.name), 'handle', "          \
    "c.handle) "                                                                                                                   \
    "  ORDER BY c.rank, c.id) FROM product_categories pc JOIN categories c ON c.id = pc.category_id AND "                          \
    "souq_category_visible(c.id) "                                                                                                 \
    "  LEFT JOIN category_translations ct ON ct.category_id = c.id AND ct.locale = b.locale WHERE pc.product_id = b.id), "         \
    "'[]'::json)"

#define PRODUCT_JSON                                                                                                               \
    "CASE WHEN $19 THEN json_build_object(" PRODUCT_FIELDS ", " CATEGORIES ") ELSE json_build_object(" PRODUCT_FIELDS ") END"

/* a variant's localized JSON; availability only when expanded */
#define VARIANT_FIELDS                                                                                                             \
    "'id', v.id, 'object', 'variant', 'title', coalesce(vt.title, v.title), 'sku', v.sku, "                                        \
    "'options', coalesce((SELECT json_object_agg(coalesce(ot.title, o.title), coalesce(ovt.value, ov.value) ORDER BY o.rank, "     \
    "o.id) "                                                                                                                       \
    "  FROM variant_option_values vov JOIN product_option_values ov ON ov.id = vov.option_value_id "                               \
    "  JOIN product_options o ON o.id = ov.option_id "                                                                             \
    "  LEFT JOIN option_translations ot ON ot.option_id = o.id AND ot.locale = b.locale "                                          \
    "  LEFT JOIN option_value_translations ovt ON ovt.option_value_id = ov.id AND ovt.locale = b.locale "                          \
    "  WHERE vov.variant_id = v.id), '{}'::json), "                                                                                \
    "'requires_shipping', v.requires_shipping, 'weight_g', v.weight_g, 'allow_backorder', v.allow_backorder"

#define AVAILABILITY                                                                                                               \
    "'availability', (SELECT json_build_object('in_stock', NOT v.manage_inventory OR v.allow_backorder OR a.n > 0, "               \
    "  'quantity', CASE WHEN v.manage_inventory THEN a.n END) FROM (SELECT souq_variant_available(v.id, $1) AS n) a)"

#define VARIANTS                                                                                                                   \
    "CASE WHEN $16 OR $17 OR $18 THEN coalesce((SELECT string_agg((CASE WHEN $18 THEN json_build_object(" VARIANT_FIELDS           \
    ", " AVAILABILITY ") ELSE json_build_object(" VARIANT_FIELDS ") END)::text, E'\\x1e' ORDER BY v.rank, v.id) "                  \
    "  FROM product_variants v LEFT JOIN variant_translations vt ON vt.variant_id = v.id AND vt.locale = b.locale "                \
    "  WHERE v.product_id = b.id), '') END"

/* base and list prices in the currency, and percentage lists whose scope has the product */
#define CANDIDATES                                                                                                                 \
    "CASE WHEN $17 THEN (SELECT string_agg(x.line, E'\\n') FROM ("                                                                 \
    " SELECT concat_ws(E'\\t', vx.idx, pr.id, pr.amount, coalesce(pr.compare_at_amount, 0), pr.min_quantity, "                     \
    "   coalesce(pl.id, ''), coalesce(pl.kind, ''), coalesce(pl.priority, 0), "                                                    \
    "   coalesce((extract(epoch FROM pl.starts_at) * 1000000)::bigint, 0), coalesce((extract(epoch FROM pl.ends_at) * "            \
    "1000000)::bigint, 0), "                                                                                                       \
    "   0, coalesce((SELECT string_agg(r.attribute || '=' || r.value, ';') FROM price_list_rules r WHERE r.price_list_id = "       \
    "pl.id), '')) AS line "                                                                                                        \
    " FROM (SELECT v.id, (row_number() OVER (ORDER BY v.rank, v.id) - 1) AS idx FROM product_variants v WHERE v.product_id = "     \
    "b.id) vx "                                                                                                                    \
    " JOIN prices pr ON pr.variant_id = vx.id AND pr.currency_code = b.currency "                                                  \
    " LEFT JOIN price_lists pl ON pl.id = pr.price_list_id "                                                                       \
    " WHERE pr.price_list_id IS NULL OR pl.status = 'active' "                                                                     \
    " UNION ALL "                                                                                                                  \
    " SELECT concat_ws(E'\\t', vx.idx, pl.id, 0, 0, 1, pl.id, pl.kind, pl.priority, "                                              \
    "   coalesce((extract(epoch FROM pl.starts_at) * 1000000)::bigint, 0), coalesce((extract(epoch FROM pl.ends_at) * "            \
    "1000000)::bigint, 0), "                                                                                                       \
    "   pl.percent_off_bp, coalesce((SELECT string_agg(r.attribute || '=' || r.value, ';') FROM price_list_rules r WHERE "         \
    "r.price_list_id = pl.id), '')) "                                                                                              \
    " FROM (SELECT v.id, (row_number() OVER (ORDER BY v.rank, v.id) - 1) AS idx FROM product_variants v WHERE v.product_id = "     \
    "b.id) vx "                                                                                                                    \
    " JOIN price_lists pl ON pl.percent_off_bp IS NOT NULL AND pl.status = 'active' "                                              \
    "   AND (NOT EXISTS (SELECT 1 FROM price_list_products s WHERE s.price_list_id = pl.id) "                                      \
    "        OR EXISTS (SELECT 1 FROM price_list_products s WHERE s.price_list_id = pl.id AND s.product_id = b.id))"               \
    ") x) END"

/* The WHERE of the inner query, built per request shape (which filters and whether a cursor is given; see
 * shape_stmt): a filter that is not given is `$n IS NULL` (so the statement still types every parameter),
 * one that is given is its bare condition. One statement per shape lets PostgreSQL keep a generic plan for it;
 * one statement with every filter optional (`$n IS NULL OR ...`) needed a new custom plan on every call,
 * which cost more than running it. */
#define FILTERS " /*F*/ "
enum { F_ID, F_Q, F_CATEGORY, F_COLLECTION, F_TAG, F_PRICE_MIN, F_PRICE_MAX, F_IN_STOCK, F_OPTIONS, F_CURSOR, F_COUNT };
static const char *const filter_sql[F_CURSOR][2] = {
    [F_ID] = {" AND $21::text IS NULL", " AND (p.id = $21 OR p.handle = $21)"},
    [F_Q] = {" AND $8::text IS NULL",
             " AND p.id IN (SELECT t.product_id FROM product_translations t WHERE t.locale = ctx.locale "
             "AND t.search_vector @@ ctx.tsq UNION ALL SELECT s.id FROM products s WHERE s.search_vector @@ ctx.tsq) "
             "AND coalesce(tr.search_vector, p.search_vector) @@ ctx.tsq"},
    [F_CATEGORY] = {" AND $9::text IS NULL", " AND EXISTS (SELECT 1 FROM product_categories pc WHERE pc.product_id = p.id "
                                             "AND pc.category_id IN (SELECT souq_category_subtree($9)))"},
    [F_COLLECTION] = {" AND $10::text IS NULL",
                      " AND EXISTS (SELECT 1 FROM collections col WHERE col.id = $10 AND ("
                      "(col.kind = 'manual' AND EXISTS (SELECT 1 FROM collection_products cp WHERE cp.collection_id = col.id "
                      "AND cp.product_id = p.id)) "
                      "OR (col.kind = 'rule' AND (col.rule_tags = '{}' OR p.tags && col.rule_tags) AND (col.rule_types = '{}' "
                      "OR p.type = ANY (col.rule_types)) "
                      "AND (col.rule_currency IS NULL OR EXISTS (SELECT 1 FROM product_price_index i WHERE i.product_id = p.id "
                      "AND i.currency_code = col.rule_currency AND (col.rule_price_min IS NULL OR i.amount >= col.rule_price_min) "
                      "AND (col.rule_price_max IS NULL OR i.amount <= col.rule_price_max))))))"},
    [F_TAG] = {" AND $11::text IS NULL", " AND p.tags @> ARRAY[$11::text]"},
    [F_PRICE_MIN] = {" AND $12::bigint IS NULL", " AND ppi.amount >= $12::bigint"},
    [F_PRICE_MAX] = {" AND $13::bigint IS NULL", " AND ppi.amount <= $13::bigint"},
    [F_IN_STOCK] = {" AND $14::boolean IS NULL",
                    " AND $14::boolean = EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id "
                    "AND (NOT v.manage_inventory OR v.allow_backorder OR souq_variant_available(v.id, $1) > 0))"},
    [F_OPTIONS] = {" AND $15::jsonb IS NULL",
                   " AND EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id AND NOT EXISTS ("
                   "SELECT 1 FROM jsonb_each_text($15::jsonb) k WHERE NOT EXISTS (SELECT 1 FROM variant_option_values vov "
                   "JOIN product_option_values ov ON ov.id = vov.option_value_id JOIN product_options o ON o.id = ov.option_id "
                   "WHERE vov.variant_id = v.id AND o.title = k.key AND ov.value = k.value)))"},
};

/* SELECT list of the inner query: the product, its translation and its sort values */
#define INNER INNER_CTX "b AS (" INNER_SELECT
#define INNER_CTX                                                                                                                  \
    "WITH ctx AS NOT MATERIALIZED (SELECT c.*, CASE WHEN $8::text IS NULL THEN NULL ELSE "                                         \
    "  souq_search_query(souq_ts_config(c.locale), $8) END AS tsq "                                                                \
    "  FROM (SELECT souq_pick_currency($2, $3, $1) AS currency, souq_pick_locale($4::text[]) AS locale) c), "
#define INNER_SELECT                                                                                                               \
    "SELECT p.*, ctx.currency, ctx.locale, coalesce(tr.title, p.title) AS l_title, coalesce(tr.subtitle, p.subtitle) AS "          \
    "l_subtitle, "                                                                                                                 \
    "  coalesce(tr.description, p.description) AS l_description, coalesce(tr.seo_title, p.seo_title) AS l_seo_title, "             \
    "  coalesce(tr.seo_description, p.seo_description) AS l_seo_description, ppi.amount AS min_price, "                            \
    "  CASE WHEN $8::text IS NULL THEN 0::real ELSE ts_rank(coalesce(tr.search_vector, p.search_vector), "                         \
    "    ctx.tsq) END AS rank "                                                          \
    " FROM ctx CROSS JOIN products p "                                                                                             \
    " JOIN product_sales_channels psc ON psc.product_id = p.id AND psc.sales_channel_id = $1 "                                     \
    " LEFT JOIN product_translations tr ON tr.product_id = p.id AND tr.locale = ctx.locale "                                       \
    " LEFT JOIN product_price_index ppi ON ppi.product_id = p.id AND ppi.currency_code = ctx.currency "

#define OUTER(key, order)                                                                                                          \
    "SELECT CASE WHEN $20::text[] IS NULL THEN (" PRODUCT_JSON ")::text ELSE (SELECT json_object_agg(j.key, j.value) "             \
    "  FROM json_each(" PRODUCT_JSON ") j WHERE j.key = 'id' OR j.key = ANY ($20::text[]))::text END, " VARIANTS ", " CANDIDATES   \
    ", " key ", b.currency, b.locale, "                                                                                            \
    "(SELECT string_agg(m.group_id, ',') FROM customer_group_members m WHERE m.customer_id = $5) "                                 \
    "FROM b ORDER BY " order

#define STORE_STMT(name, keyset, inner_order, order, key)                                                                          \
    SQ_STMT_RO(name, INNER FILTERS " AND " keyset " ORDER BY " inner_order " LIMIT $7) " OUTER(key, order))

/* keyset conditions on the sort key and id; $6 is "<sort value>|<id>" (ids never contain '|', values may) */
#define AFTER "(/*A*/" /* "$6 IS NULL OR " without a cursor, nothing with one */
#define KV "regexp_replace($6, '\\|[^|]*$', '')"
#define KI "substring($6 from '[^|]*$')"
STORE_STMT(store_products_newest, AFTER "(p.created_at, p.id) < (" KV "::timestamptz, " KI "))", "p.created_at DESC, p.id DESC",
           "created_at DESC, id DESC", "b.created_at::text || '|' || b.id");
STORE_STMT(store_products_title, AFTER "(lower(coalesce(tr.title, p.title)), p.id) > (" KV ", " KI "))",
           "lower(coalesce(tr.title, p.title)), p.id", "lower(l_title), id", "lower(b.l_title) || '|' || b.id");
/* Price sorts keep products without a price in the currency, after the priced ones (by id in the sort's
 * direction); their cursor key has an empty value. The priced half walks the price index as before; the
 * unpriced half is only read when the priced one has not filled the page (an InitPlan, so page 1 of a priced
 * catalog costs what it did), and a cursor in the unpriced half skips the priced one. */
#define KP "nullif(" KV ", '')::bigint"
#define PRICE_STMT(name, cmp, dir)                                                                                                 \
    SQ_STMT_RO(name, INNER_CTX "pr AS (" INNER_SELECT FILTERS " AND ppi.amount IS NOT NULL AND (/*A*/(" KV          \
                               " <> '' AND (ppi.amount, ppi.product_id) " cmp " (" KP ", " KI "))) ORDER BY ppi.amount " dir       \
                               ", ppi.product_id " dir " LIMIT $7), b AS (SELECT * FROM pr UNION ALL (" INNER_SELECT FILTERS       \
                               " AND ppi.amount IS NULL "                                                                          \
                               "AND (/*A*/" KV " <> '' OR p.id " cmp " " KI ") AND (SELECT count(*) FROM pr) < $7 " \
                               "ORDER BY p.id " dir " LIMIT greatest($7 - (SELECT count(*) FROM pr), 0))) " OUTER(                 \
                                   "coalesce(b.min_price::text, '') || '|' || b.id", "min_price " dir " NULLS LAST, id " dir))
PRICE_STMT(store_products_price_asc, ">", "ASC");
PRICE_STMT(store_products_price_desc, "<", "DESC");
STORE_STMT(
    store_products_relevance,
    AFTER "(ts_rank(coalesce(tr.search_vector, p.search_vector), ctx.tsq), p.id) "
          "< (" KV "::real, " KI "))",
    "ts_rank(coalesce(tr.search_vector, p.search_vector), ctx.tsq) DESC, p.id DESC",
    "rank DESC, id DESC", "b.rank::text || '|' || b.id");

/* the templates, one per sort: FILTERS and AFTER are filled in per shape */
static sq_stmt_t *const by_sort[] = {&store_products_newest, &store_products_title, &store_products_price_asc,
                                     &store_products_price_desc, &store_products_relevance};

/* Built on first use and kept for the process (at most 5 x 1024, in practice a few dozen). */
static sq_stmt_t *shapes[5][1 << F_COUNT];

/* text with every occurrence of marker replaced by with */
static void replace_all(sq_buf_t *b, const char *text, const char *marker, const char *with)
{
    size_t ml = strlen(marker);
    for (const char *m; (m = strstr(text, marker)) != NULL; text = m + ml) {
        sq_buf_add(b, text, (size_t)(m - text));
        sq_buf_str(b, with);
    }
    sq_buf_str(b, text);
}

static sq_stmt_t *shape_stmt(sq_sort_t sort, unsigned mask)
{
    sq_stmt_t *st = __atomic_load_n(&shapes[sort][mask], __ATOMIC_ACQUIRE);
    if (st != NULL)
        return st;
    sq_arena_t *a = sq_arena_new();
    sq_buf_t where, step, sql;
    sq_buf_init(&where, a, 2048);
    sq_buf_str(&where, " WHERE p.status = 'active'");
    for (int f = 0; f < F_CURSOR; f++)
        sq_buf_str(&where, filter_sql[f][(mask >> f) & 1]);
    sq_buf_init(&step, a, 16384);
    replace_all(&step, by_sort[sort]->sql, "/*F*/", where.p);
    sq_buf_init(&sql, a, 16384);
    replace_all(&sql, step.p, "/*A*/", (mask >> F_CURSOR) & 1 ? "" : "$6::text IS NULL OR ");
    st = sq_xcalloc(1, sizeof(*st));
    char name[64];
    snprintf(name, sizeof(name), "%s_%x", by_sort[sort]->name, mask);
    st->name = sq_xstrdup(name);
    st->sql = sq_xstrdup(sql.p);
    st->readonly = true;
    sq_arena_unref(a);
    sq_stmt_t *expected = NULL;
    if (!__atomic_compare_exchange_n(&shapes[sort][mask], &expected, st, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        free((char *)st->name); /* another thread built it first */
        free((char *)st->sql);
        free(st);
        st = expected;
    }
    return st;
}

/* Each result row keeps the first NCOLS columns in the read cache; the customer's groups (column 6) are never
 * cached: a customer's reads bypass the cache. */
#define NCOLS 6

typedef struct op {
    const sq_store_query_t *q;
    sq_arena_t *arena;
    sq_cache_t *cache;
    const char *key;
    size_t klen;
    uint64_t gen; /* the generation when the read started: a change meanwhile makes what it stores stale */
    sq_store_products_cb cb;
    void *data;
    struct op *next;    /* in this thread's list of reads in flight, or of one read's waiters */
    struct op *waiters; /* the same reads (same key and generation) that arrived meanwhile */
} op_t;

/* Cache misses in flight on this thread (single-flight): a read that misses while the same read is already on
 * its way to the database waits for that one instead of asking again, so a page that falls out of the cache
 * under load costs one query per thread, not one per client. Only the event-loop thread touches it. */
static __thread op_t *inflight;

/* Turns rows (cells[row * 7 + col], col 6 the groups) into the list and answers. */
static void finish(op_t *o, int n, const char *const *cells)
{
    const sq_store_query_t *q = o->q;
    sq_list_t list = {0};
    list.has_more = n > q->page.limit;
    list.n = list.has_more ? q->page.limit : n;
    list.items = sq_arena_alloc(o->arena, sizeof(char *) * (size_t)(list.n + 1));
    for (int i = 0; i < list.n; i++) {
        const char *const *r = cells + i * 7;
        list.items[i] = sq_store_assemble(o->arena, r[0], r[1], r[2], r[4], q->channel_id, q->region_id, r[6], q->now_us,
                                          (q->expand & SQ_EXPAND_PRICES) != 0);
    }
    if (list.has_more && list.n > 0)
        list.next_key = cells[(list.n - 1) * 7 + 3];
    o->cb(&list, n > 0 ? cells[5] : NULL, NULL, o->data);
}

/* Cache values: the row count, then per cell a length (-1 for NULL) and the bytes. */
static void store(op_t *o, int n, const char *const *cells)
{
    size_t size = sizeof(int);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < NCOLS; c++)
            size += sizeof(int) + (cells[i * 7 + c] != NULL ? strlen(cells[i * 7 + c]) : 0);
    char *buf = sq_xmalloc(size), *p = buf;
    memcpy(p, &n, sizeof(int));
    p += sizeof(int);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < NCOLS; c++) {
            const char *v = cells[i * 7 + c];
            int len = v != NULL ? (int)strlen(v) : -1;
            memcpy(p, &len, sizeof(int));
            p += sizeof(int);
            if (len > 0) {
                memcpy(p, v, (size_t)len);
                p += len;
            }
        }
    sq_cache_put(o->cache, o->gen, o->key, o->klen, buf, size);
    free(buf);
}

static const char **load(sq_arena_t *a, const char *val, int *n)
{
    memcpy(n, val, sizeof(int));
    const char *p = val + sizeof(int);
    const char **cells = sq_arena_zalloc(a, sizeof(char *) * (size_t)(*n * 7 + 1));
    for (int i = 0; i < *n; i++)
        for (int c = 0; c < NCOLS; c++) {
            int len;
            memcpy(&len, p, sizeof(int));
            p += sizeof(int);
            if (len >= 0) {
                char *v = sq_arena_alloc(a, (size_t)len + 1);
                memcpy(v, p, (size_t)len);
                v[len] = '\0';
                cells[i * 7 + c] = v;
                p += len;
            }
        }
    return cells;
}

/* Takes the read off the in-flight list and returns its waiters. */
static op_t *landed(op_t *o)
{
    if (o->key == NULL)
        return NULL;
    for (op_t **p = &inflight; *p != NULL; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            break;
        }
    return o->waiters;
}

static void on_rows(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    op_t *w = landed(o);
    if (err != NULL) {
        o->cb(NULL, NULL, err, o->data);
        for (op_t *next; w != NULL; w = next) {
            next = w->next;
            w->cb(NULL, NULL, err, w->data);
            sq_arena_unref(w->arena);
        }
        return;
    }
    int n = sq_rows_count(rows);
    const char **cells = sq_arena_alloc(o->arena, sizeof(char *) * (size_t)(n * 7 + 1));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 7; c++) /* the JSON without PostgreSQL's blanks: 15% fewer bytes to keep and send */
            cells[i * 7 + c] = c <= 1 ? sq_json_minify(o->arena, sq_rows_text(rows, i, c)) : sq_rows_text(rows, i, c);
    if (o->key != NULL)
        store(o, n, cells);
    finish(o, n, cells);
    for (op_t *next; w != NULL; w = next) {
        next = w->next;
        finish(w, n, cells);
        sq_arena_unref(w->arena);
    }
}

/* The cache key: every input of the statement but the customer, each with a presence mark. */
static char *cache_key(sq_arena_t *a, const sq_store_query_t *q, size_t *len)
{
    const char *parts[] = {q->channel_id, q->currency,  q->region_id, q->locales, q->q,       q->category_id,
                           q->collection_id, q->tag,    q->price_min, q->price_max, q->in_stock, q->options,
                           q->fields,     q->id_or_handle, q->page.after};
    char head[64];
    int hn = snprintf(head, sizeof(head), "%d|%u|%d", (int)q->sort, q->expand, q->page.limit);
    size_t n = (size_t)hn;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        n += 2 + (parts[i] != NULL ? strlen(parts[i]) : 0);
    char *k = sq_arena_alloc(a, n + 1), *p = k;
    memcpy(p, head, (size_t)hn);
    p += hn;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        *p++ = '\x1f';
        *p++ = parts[i] != NULL ? '+' : '-';
        if (parts[i] != NULL) {
            size_t l = strlen(parts[i]);
            memcpy(p, parts[i], l);
            p += l;
        }
    }
    *p = '\0';
    *len = (size_t)(p - k);
    return k;
}

void sq_store_products(sq_ctx_t *cx, const sq_store_query_t *q, sq_store_products_cb cb, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    o->q = q;
    o->arena = cx->arena;
    o->cb = cb;
    o->data = data;
    sq_arena_t *a = cx->arena;
    if (cx->cache != NULL && q->customer_id == NULL) {
        o->cache = cx->cache;
        o->gen = sq_store_generation();
        o->key = cache_key(a, q, &o->klen);
        size_t vlen;
        const char *hit = sq_cache_get(o->cache, o->gen, o->key, o->klen, &vlen);
        if (hit != NULL) {
            int n;
            const char **cells = load(a, hit, &n);
            finish(o, n, cells);
            return;
        }
        for (op_t *l = inflight; l != NULL; l = l->next)
            if (l->gen == o->gen && l->klen == o->klen && memcmp(l->key, o->key, o->klen) == 0) {
                sq_arena_ref(a); /* the request may end (client gone) before the read lands */
                o->next = l->waiters;
                l->waiters = o;
                return;
            }
        o->next = inflight;
        inflight = o;
    }
    const char *t = "t", *f = "f";
    const char **p = sq_db_params(a, 21, q->channel_id, q->currency, q->region_id, q->locales ? q->locales : "{}", q->customer_id,
                                  q->page.after, sq_db_int(a, q->page.limit + 1), q->q, q->category_id, q->collection_id, q->tag,
                                  q->price_min, q->price_max, q->in_stock, q->options, (q->expand & SQ_EXPAND_VARIANTS) ? t : f,
                                  (q->expand & SQ_EXPAND_PRICES) ? t : f, (q->expand & SQ_EXPAND_AVAILABILITY) ? t : f,
                                  (q->expand & SQ_EXPAND_CATEGORIES) ? t : f, q->fields, q->id_or_handle);
    const char *given[F_COUNT] = {q->id_or_handle, q->q,         q->category_id, q->collection_id, q->tag,
                                  q->price_min,    q->price_max, q->in_stock,    q->options,       q->page.after};
    unsigned mask = 0;
    for (int f = 0; f < F_COUNT; f++)
        mask |= given[f] != NULL ? 1u << f : 0;
    sq_db_query(cx->db, a, shape_stmt(q->sort, mask), 21, p, on_rows, o);
}
