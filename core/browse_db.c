/* browse_db.c: SQL of the storefront's category tree and collections (core/browse.h). */
#include "core/browse.h"

/* visible categories: active, under active parents, with their depth and a sort path (rank, then id, per level) */
#define VISIBLE                                                                                                                    \
    "WITH RECURSIVE ctx AS (SELECT souq_pick_locale($1::text[]) AS locale), "                                                      \
    "t AS (SELECT c.id, 0 AS depth, ARRAY[lpad((c.rank::bigint + 2147483648)::text, 10, '0') || c.id] AS path "                    \
    "        FROM categories c WHERE c.parent_id IS NULL AND c.is_active "                                                         \
    "      UNION ALL SELECT c.id, t.depth + 1, t.path || (lpad((c.rank::bigint + 2147483648)::text, 10, '0') || c.id) "            \
    "        FROM categories c JOIN t ON c.parent_id = t.id WHERE c.is_active AND t.depth < 32), "                                 \
    "v AS (SELECT c.id, c.handle, c.parent_id, c.rank, t.depth, t.path, coalesce(ct.name, c.name) AS name, "                       \
    "        coalesce(ct.description, c.description) AS description "                                                              \
    "      FROM t JOIN categories c ON c.id = t.id CROSS JOIN ctx "                                                                \
    "      LEFT JOIN category_translations ct ON ct.category_id = c.id AND ct.locale = ctx.locale) "

#define CATEGORY_JSON(v)                                                                                                           \
    "json_build_object('id', " v ".id, 'object', 'category', 'name', " v ".name, 'handle', " v ".handle, 'description', " v        \
    ".description, 'parent_id', " v ".parent_id, 'rank', " v ".rank, 'depth', " v ".depth)"

#define LIST(items, order)                                                                                                         \
    "json_build_object('object', 'list', 'data', coalesce(json_agg(" items " ORDER BY " order "), '[]'::json), "                   \
    "'has_more', false, 'next_cursor', NULL)"

SQ_STMT_RO(categories, VISIBLE "SELECT " LIST(CATEGORY_JSON("v"), "v.path") ", (SELECT locale FROM ctx) FROM v "
                                                                            "WHERE $2::text IS NULL OR v.parent_id = $2");
SQ_STMT_RO(category, VISIBLE "SELECT json_build_object('id', v.id, 'object', 'category', 'name', v.name, 'handle', v.handle, "
                             "'description', v.description, 'parent_id', v.parent_id, 'rank', v.rank, 'depth', v.depth, "
                             "'ancestors', coalesce((SELECT json_agg(json_build_object('id', a.id, 'name', a.name, 'handle', "
                             "a.handle) ORDER BY a.depth) FROM v a WHERE a.id = ANY (SELECT substr(p, 11) FROM unnest(v.path) p) "
                             "AND a.id <> v.id), '[]'::json), "
                             "'children', coalesce((SELECT json_agg(json_build_object('id', k.id, 'name', k.name, 'handle', "
                             "k.handle) ORDER BY k.path) FROM v k WHERE k.parent_id = v.id), '[]'::json)), "
                             "(SELECT locale FROM ctx) FROM v WHERE v.id = $2 OR v.handle = $2");

#define COLLECTIONS                                                                                                                \
    "WITH ctx AS (SELECT souq_pick_locale($1::text[]) AS locale), "                                                                \
    "v AS (SELECT c.id, c.handle, coalesce(t.title, c.title) AS title, coalesce(t.description, c.description) AS description "     \
    "      FROM collections c CROSS JOIN ctx LEFT JOIN collection_translations t ON t.collection_id = c.id "                       \
    "       AND t.locale = ctx.locale) "
#define COLLECTION_JSON "json_build_object('id', v.id, 'object', 'collection', 'title', v.title, 'handle', v.handle, 'description', v.description)"

SQ_STMT_RO(collections, COLLECTIONS "SELECT " LIST(COLLECTION_JSON, "lower(v.title), v.id") ", (SELECT locale FROM ctx) FROM v");
SQ_STMT_RO(collection, COLLECTIONS "SELECT " COLLECTION_JSON ", (SELECT locale FROM ctx) FROM v WHERE v.id = $2 OR v.handle = $2");

typedef struct {
    sq_browse_cb cb;
    void *data;
} op_t;

static void on_rows(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL || sq_rows_count(rows) == 0)
        o->cb(NULL, NULL, err, o->data);
    else
        o->cb(sq_rows_text(rows, 0, 0), sq_rows_text(rows, 0, 1), NULL, o->data);
}

/* n: 1 when the statement takes only the locales */
static void run(sq_ctx_t *cx, sq_stmt_t *st, int n, const char *locales, const char *arg, sq_browse_cb cb, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    o->cb = cb;
    o->data = data;
    sq_db_query(cx->db, cx->arena, st, n, sq_db_params(cx->arena, 2, locales, arg), on_rows, o);
}

void sq_browse_categories(sq_ctx_t *cx, const char *locales, const char *parent_id, sq_browse_cb cb, void *data)
{
    run(cx, &categories, 2, locales, parent_id, cb, data);
}

void sq_browse_category(sq_ctx_t *cx, const char *locales, const char *key, sq_browse_cb cb, void *data)
{
    run(cx, &category, 2, locales, key, cb, data);
}

void sq_browse_collections(sq_ctx_t *cx, const char *locales, sq_browse_cb cb, void *data)
{
    run(cx, &collections, 1, locales, NULL, cb, data);
}

void sq_browse_collection(sq_ctx_t *cx, const char *locales, const char *key, sq_browse_cb cb, void *data)
{
    run(cx, &collection, 2, locales, key, cb, data);
}
