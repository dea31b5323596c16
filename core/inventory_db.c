/* inventory_db.c: SQL of inventory items, stock changes, the ledger and reservations (functions in
 * migrations/0003_inventory.sql and 0007_inventory_api.sql). */
#include "core/inventory.h"

extern const sq_field_t sq_inventory_item_fields[];

SQ_STMT_RO(item_get, "SELECT souq_inventory_item_json(i) FROM inventory_items i WHERE i.id = $1");
SQ_STMT_RO(item_list, "SELECT souq_inventory_item_json(i), i.id FROM inventory_items i WHERE ($1::text IS NULL OR i.id < $1) "
                      "AND ($3::text IS NULL OR i.sku = $3) "
                      "AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM inventory_levels l WHERE l.inventory_item_id = i.id "
                      "  AND l.location_id = $4)) "
                      "ORDER BY i.id DESC LIMIT $2");
SQ_STMT(item_update, "SELECT souq_inventory_item_save($1, $2::jsonb, $3)");
SQ_STMT(stock_change, "SELECT souq_inventory_change($1, $2, $3::jsonb, $4)");

/* newest first; the key is the ledger's own sequence */
SQ_STMT_RO(ledger_list, "SELECT souq_ledger_json(l), l.id::text FROM inventory_ledger l "
                        "WHERE ($1::bigint IS NULL OR l.id < $1::bigint) "
                        "AND ($3::text IS NULL OR l.inventory_item_id = $3) AND ($4::text IS NULL OR l.location_id = $4) "
                        "AND ($5::text IS NULL OR l.reason = $5) AND ($6::text IS NULL OR l.reference = $6) "
                        "ORDER BY l.id DESC LIMIT $2");

SQ_STMT(reserve, "SELECT souq_reserve_json($1::jsonb, $2, $3, $4::int)");
SQ_STMT(release, "SELECT souq_release($1)");
SQ_STMT(commit, "SELECT souq_commit($1)");
SQ_STMT(release_expired, "SELECT souq_release_expired($1::int)");

static const sq_constraint_t item_constraints[] = {
    {"inventory_levels_location_id_fkey", "/location_id", SQ_E_VALIDATION, "The stock location does not exist."},
    {"inventory_transfer_from_fkey", "/from_location_id", SQ_E_VALIDATION, "The stock location does not exist."},
    {"inventory_transfer_to_fkey", "/to_location_id", SQ_E_VALIDATION, "The stock location does not exist."},
    {NULL},
};

static const char *const item_filters[] = {"sku", "location_id", NULL};
static const char *const ledger_filters[] = {"inventory_item_id", "location_id", "reason", "reference", NULL};

const sq_resource_t sq_res_inventory_item = {
    .name = "inventory item",
    .prefix = "iitem",
    .update_fields = sq_inventory_item_fields,
    .get = &item_get,
    .list = &item_list,
    .update = &item_update,
    .filters = item_filters,
    .constraints = item_constraints,
};

const sq_resource_t sq_res_inventory_ledger = {
    .name = "ledger entry",
    .prefix = "",
    .list = &ledger_list,
    .filters = ledger_filters,
};

typedef struct {
    sq_json_cb cb;
    sq_count_cb count;
    void *data;
    sq_arena_t *arena;
} op_t;

static op_t *op(sq_ctx_t *cx, sq_json_cb cb, sq_count_cb count, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    o->cb = cb;
    o->count = count;
    o->data = data;
    o->arena = cx->arena;
    return o;
}

static void on_item(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The inventory item does not exist.");
        o->cb(NULL, &e, o->data);
        return;
    }
    o->cb(json, sq_resource_refine(o->arena, &sq_res_inventory_item, err), o->data);
}

void sq_stock_change(sq_ctx_t *cx, const char *item_id, sq_stock_change_t kind, const char *body, const char *actor,
                     sq_json_cb cb, void *data)
{
    static const char *const kinds[] = {"adjustment", "count", "transfer"};
    sq_db_json(cx->db, cx->arena, &stock_change, 4, sq_db_params(cx->arena, 4, item_id, kinds[kind], body, actor), on_item,
               op(cx, cb, NULL, data));
}

void sq_stock_reserve(sq_ctx_t *cx, const char *lines_json, const char *channel_id, const char *reference, int ttl_s,
                      sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &reserve, 4,
               sq_db_params(cx->arena, 4, lines_json, channel_id, reference, sq_db_int(cx->arena, ttl_s)), cb, data);
}

static void on_count(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    o->count(err == NULL && sq_rows_count(rows) > 0 ? (long)sq_rows_int64(rows, 0, 0) : 0, err, o->data);
}

void sq_stock_release(sq_ctx_t *cx, const char *reference, sq_count_cb cb, void *data)
{
    sq_db_query(cx->db, cx->arena, &release, 1, sq_db_params(cx->arena, 1, reference), on_count, op(cx, NULL, cb, data));
}

void sq_stock_commit(sq_ctx_t *cx, const char *reference, sq_count_cb cb, void *data)
{
    sq_db_query(cx->db, cx->arena, &commit, 1, sq_db_params(cx->arena, 1, reference), on_count, op(cx, NULL, cb, data));
}

void sq_stock_release_expired(sq_ctx_t *cx, int limit, sq_count_cb cb, void *data)
{
    sq_db_query(cx->db, cx->arena, &release_expired, 1, sq_db_params(cx->arena, 1, sq_db_int(cx->arena, limit)), on_count,
                op(cx, NULL, cb, data));
}
