/* purchasing_db.c: SQL of suppliers, reorder rules and purchase orders (functions in
 * migrations/0033_reorder_purchasing.sql; these statements only call them). */
#include "core/purchasing.h"

#include <string.h>

extern const sq_field_t sq_supplier_create_fields[], sq_supplier_update_fields[], sq_reorder_rule_create_fields[],
    sq_reorder_rule_update_fields[], sq_po_create_fields[], sq_po_update_fields[];

SQ_STMT_RO(supplier_get, "SELECT souq_supplier_json(t) FROM suppliers t WHERE t.id = $1");
SQ_STMT_RO(supplier_list, "SELECT souq_supplier_json(t), t.id FROM suppliers t WHERE ($1::text IS NULL OR t.id < $1) "
                          "AND ($3::text IS NULL OR t.currency_code = lower($3)) "
                          "AND ($4::text IS NULL OR lower(t.name) LIKE '%' || lower($4) || '%' OR t.email = lower($4)) "
                          "ORDER BY t.id DESC LIMIT $2");
SQ_STMT(supplier_create, "SELECT souq_supplier_save(NULL, $1::jsonb, NULL)");
SQ_STMT(supplier_update, "SELECT souq_supplier_save($1, $2::jsonb, $3)");
SQ_STMT(supplier_remove, "DELETE FROM suppliers WHERE id = $1");

SQ_STMT_RO(rule_get, "SELECT souq_reorder_rule_json(t) FROM reorder_rules t WHERE t.id = $1");
SQ_STMT_RO(rule_list, "SELECT souq_reorder_rule_json(t), t.id FROM reorder_rules t WHERE ($1::text IS NULL OR t.id < $1) "
                      "AND ($3::text IS NULL OR t.inventory_item_id = $3) AND ($4::text IS NULL OR t.location_id = $4) "
                      "AND ($5::text IS NULL OR t.supplier_id = $5) ORDER BY t.id DESC LIMIT $2");
SQ_STMT(rule_create, "SELECT souq_reorder_rule_save(NULL, $1::jsonb, NULL)");
SQ_STMT(rule_update, "SELECT souq_reorder_rule_save($1, $2::jsonb, $3)");
SQ_STMT(rule_remove, "DELETE FROM reorder_rules WHERE id = $1");

SQ_STMT_RO(po_get, "SELECT souq_purchase_order_json(t) FROM purchase_orders t WHERE t.id = $1");
SQ_STMT_RO(po_list, "SELECT souq_purchase_order_json(t), t.id FROM purchase_orders t WHERE ($1::text IS NULL OR t.id < $1) "
                    "AND souq_purchase_order_matches(t, $3, $4, $5, $6) ORDER BY t.id DESC LIMIT $2");
SQ_STMT(po_create, "SELECT souq_purchase_order_save(NULL, $1::jsonb, NULL, $2)");
SQ_STMT(po_update, "SELECT souq_purchase_order_save($1, $2::jsonb, $3, NULL)");
SQ_STMT(po_send, "SELECT souq_purchase_order_send($1, $2)");
SQ_STMT(po_cancel, "SELECT souq_purchase_order_cancel($1, $2)");
SQ_STMT(po_receive, "SELECT souq_purchase_order_receive($1, $2::jsonb, $3, $4)");
SQ_STMT_RO(po_csv,
           "SELECT coalesce(string_agg(l, E'\\r\\n'), '') || E'\\r\\n' FROM souq_export_purchase_orders_csv($1, $2, $3, $4) l");

static const char *const supplier_filters[] = {"currency_code", "q", NULL};
static const sq_filter_rule_t supplier_rules[] = {{"currency_code", 3, NULL, NULL}, {"q", 256, NULL, NULL}, {NULL}};
static const sq_constraint_t supplier_constraints[] = {
    {"suppliers_currency_code_fkey", "/currency_code", SQ_E_VALIDATION, "The currency is not known."},
    {"reorder_rules_supplier_fkey", NULL, SQ_E_CONFLICT,
     "The supplier has reorder rules; point them at another supplier or delete them first."},
    {"purchase_orders_supplier_fkey", NULL, SQ_E_CONFLICT, "The supplier has purchase orders; they keep their supplier."},
    {NULL},
};

static const char *const rule_filters[] = {"inventory_item_id", "location_id", "supplier_id", NULL};
static const sq_filter_rule_t rule_rules[] = {
    {"inventory_item_id", 40, NULL, NULL}, {"location_id", 40, NULL, NULL}, {"supplier_id", 40, NULL, NULL}, {NULL}};
static const sq_constraint_t rule_constraints[] = {
    {"reorder_rules_item_fkey", "/inventory_item_id", SQ_E_VALIDATION, "The inventory item does not exist."},
    {"reorder_rules_location_fkey", "/location_id", SQ_E_VALIDATION, "The stock location does not exist."},
    {"reorder_rules_supplier_fkey", "/supplier_id", SQ_E_VALIDATION, "The supplier does not exist."},
    {"reorder_rules_item_location_key", "/location_id", SQ_E_ALREADY_EXISTS,
     "The item already has a reorder rule at this location; change that one."},
    {NULL},
};

static const char *const po_filters[] = {"status", "supplier_id", "location_id", "q", NULL};
static const char *const po_statuses[] = {"draft", "sent", "partially_received", "received", "canceled", NULL};
static const sq_filter_rule_t po_rules[] = {{"status", 32, po_statuses, NULL},
                                            {"supplier_id", 40, NULL, NULL},
                                            {"location_id", 40, NULL, NULL},
                                            {"q", 64, NULL, NULL},
                                            {NULL}};
static const sq_constraint_t po_constraints[] = {
    {"purchase_orders_one_draft", "/supplier_id", SQ_E_ALREADY_EXISTS,
     "This supplier already has an open draft for this location; add the lines to it."},
    {"purchase_order_lines_item_key", "/lines", SQ_E_VALIDATION, "An inventory item is given twice."},
    {NULL},
};

const sq_resource_t sq_res_supplier = {
    .name = "supplier",
    .prefix = "sup",
    .create_fields = sq_supplier_create_fields,
    .update_fields = sq_supplier_update_fields,
    .get = &supplier_get,
    .list = &supplier_list,
    .create = &supplier_create,
    .update = &supplier_update,
    .remove = &supplier_remove,
    .filters = supplier_filters,
    .filter_rules = supplier_rules,
    .constraints = supplier_constraints,
};

const sq_resource_t sq_res_reorder_rule = {
    .name = "reorder rule",
    .prefix = "rrule",
    .create_fields = sq_reorder_rule_create_fields,
    .update_fields = sq_reorder_rule_update_fields,
    .get = &rule_get,
    .list = &rule_list,
    .create = &rule_create,
    .update = &rule_update,
    .remove = &rule_remove,
    .filters = rule_filters,
    .filter_rules = rule_rules,
    .constraints = rule_constraints,
};

const sq_resource_t sq_res_purchase_order = {
    .name = "purchase order",
    .prefix = "po",
    .create_fields = sq_po_create_fields,
    .update_fields = sq_po_update_fields,
    .check = sq_purchase_order_check,
    .get = &po_get,
    .list = &po_list,
    .create = &po_create,
    .update = &po_update,
    .filters = po_filters,
    .filter_rules = po_rules,
    .constraints = po_constraints,
    .create_takes_actor = true,
};

typedef struct {
    sq_json_cb cb;
    void *data;
    sq_arena_t *arena;
} op_t;

static op_t *op(sq_ctx_t *cx, sq_json_cb cb, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    o->cb = cb;
    o->data = data;
    o->arena = cx->arena;
    return o;
}

/* NULL from a function that takes an id: the purchase order does not exist */
static void on_po(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The purchase order does not exist.");
        o->cb(NULL, &e, o->data);
        return;
    }
    o->cb(json, sq_resource_refine(o->arena, &sq_res_purchase_order, err), o->data);
}

void sq_purchase_order_send(sq_ctx_t *cx, const char *id, const char *actor, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &po_send, 2, sq_db_params(cx->arena, 2, id, actor), on_po, op(cx, cb, data));
}

void sq_purchase_order_cancel(sq_ctx_t *cx, const char *id, const char *actor, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &po_cancel, 2, sq_db_params(cx->arena, 2, id, actor), on_po, op(cx, cb, data));
}

void sq_purchase_order_receive(sq_ctx_t *cx, const char *id, const char *body, const char *key, const char *actor, sq_json_cb cb,
                               void *data)
{
    sq_db_json(cx->db, cx->arena, &po_receive, 4, sq_db_params(cx->arena, 4, id, body, key, actor), on_po, op(cx, cb, data));
}

static void on_csv(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    o->cb(err == NULL && sq_rows_count(rows) > 0 ? sq_rows_text(rows, 0, 0) : NULL, err, o->data);
}

void sq_purchase_orders_csv(sq_ctx_t *cx, const char *const *filters, sq_json_cb cb, void *data)
{
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * 4);
    for (int i = 0; i < 4; i++)
        p[i] = filters[i];
    sq_db_query(cx->db, cx->arena, &po_csv, 4, p, on_csv, op(cx, cb, data));
}
