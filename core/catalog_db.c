/* catalog_db.c: SQL of the catalog's plain resources. Their JSON and save logic are SQL functions
 * (migrations/0004_catalog_api.sql), so these statements only call them. */
#include "core/catalog.h"

extern const sq_field_t sq_channel_create_fields[], sq_channel_update_fields[], sq_region_create_fields[],
    sq_region_update_fields[], sq_location_create_fields[], sq_location_update_fields[], sq_group_create_fields[],
    sq_group_update_fields[], sq_category_create_fields[], sq_category_update_fields[], sq_collection_create_fields[],
    sq_collection_update_fields[], sq_price_list_create_fields[], sq_price_list_update_fields[], sq_category_translation_fields[],
    sq_collection_translation_fields[];
int sq_collection_check(const json_t *b, bool create, sq_err_t *err);

/* get / list / create / update for a resource whose table is T, JSON function souq_N_json, save souq_N_save */
#define RESOURCE_STMTS(N, T)                                                                                                       \
    SQ_STMT_RO(N##_get, "SELECT souq_" #N "_json(t) FROM " T " t WHERE t.id = $1");                                                \
    SQ_STMT(N##_create, "SELECT souq_" #N "_save(NULL, $1::jsonb, NULL)");                                                         \
    SQ_STMT(N##_update, "SELECT souq_" #N "_save($1, $2::jsonb, $3)")

RESOURCE_STMTS(sales_channel, "sales_channels");
SQ_STMT_RO(sales_channel_list, "SELECT souq_sales_channel_json(t), t.id FROM sales_channels t "
                               "WHERE ($1::text IS NULL OR t.id < $1) ORDER BY t.id DESC LIMIT $2");
RESOURCE_STMTS(region, "regions");
SQ_STMT_RO(region_list, "SELECT souq_region_json(t), t.id FROM regions t WHERE ($1::text IS NULL OR t.id < $1) "
                        "AND ($3::text IS NULL OR t.currency_code = lower($3)) ORDER BY t.id DESC LIMIT $2");
SQ_STMT(region_remove, "DELETE FROM regions WHERE id = $1");
RESOURCE_STMTS(stock_location, "stock_locations");
SQ_STMT_RO(stock_location_list, "SELECT souq_stock_location_json(t), t.id FROM stock_locations t "
                                "WHERE ($1::text IS NULL OR t.id < $1) ORDER BY t.id DESC LIMIT $2");
RESOURCE_STMTS(customer_group, "customer_groups");
SQ_STMT_RO(customer_group_list, "SELECT souq_customer_group_json(t), t.id FROM customer_groups t "
                                "WHERE ($1::text IS NULL OR t.id < $1) ORDER BY t.id DESC LIMIT $2");
SQ_STMT(customer_group_remove, "DELETE FROM customer_groups WHERE id = $1");
RESOURCE_STMTS(category, "categories");
SQ_STMT_RO(category_list, "SELECT souq_category_json(t), t.id FROM categories t WHERE ($1::text IS NULL OR t.id < $1) "
                          "AND ($3::text IS NULL OR t.parent_id = $3) ORDER BY t.id DESC LIMIT $2");
SQ_STMT(category_remove, "DELETE FROM categories WHERE id = $1");
RESOURCE_STMTS(collection, "collections");
SQ_STMT_RO(collection_list, "SELECT souq_collection_json(t), t.id FROM collections t WHERE ($1::text IS NULL OR t.id < $1) "
                            "ORDER BY t.id DESC LIMIT $2");
SQ_STMT(collection_remove, "DELETE FROM collections WHERE id = $1");
RESOURCE_STMTS(price_list, "price_lists");
SQ_STMT_RO(price_list_list, "SELECT souq_price_list_json(t), t.id FROM price_lists t WHERE ($1::text IS NULL OR t.id < $1) "
                            "AND ($3::text IS NULL OR t.kind = $3) ORDER BY t.id DESC LIMIT $2");
SQ_STMT(price_list_remove, "SELECT 1 FROM souq_price_list_delete_as($1, $2) n WHERE n > 0"); /* $2: the caller (0035) */

SQ_STMT(channel_location_set,
        "WITH c AS (SELECT id FROM sales_channels WHERE id = $1 FOR UPDATE), "
        "u AS (INSERT INTO sales_channel_locations (sales_channel_id, location_id, priority) "
        "  SELECT c.id, $2::jsonb->>'location_id', coalesce(($2::jsonb->>'priority')::int, 0) FROM c "
        "  ON CONFLICT (sales_channel_id, location_id) DO UPDATE SET priority = EXCLUDED.priority RETURNING 1) "
        "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM c)");
SQ_STMT(channel_location_remove, "DELETE FROM sales_channel_locations WHERE sales_channel_id = $1 AND location_id = $2");
SQ_STMT(group_members,
        "WITH g AS (SELECT id FROM customer_groups WHERE id = $1 FOR UPDATE), "
        "d AS (DELETE FROM customer_group_members m USING g WHERE m.group_id = g.id "
        "  AND m.customer_id = ANY (coalesce(souq_text_array($2::jsonb->'remove'), '{}'))), "
        "i AS (INSERT INTO customer_group_members (group_id, customer_id) "
        "  SELECT g.id, c FROM g, jsonb_array_elements_text(coalesce($2::jsonb->'add', '[]')) c ON CONFLICT DO NOTHING) "
        "SELECT count(*) FROM g");
SQ_STMT(collection_products, "SELECT souq_collection_products($1, $2::jsonb)");
SQ_STMT(price_list_prices, "SELECT souq_price_list_prices($1, $2::jsonb)");
SQ_STMT(price_list_prices_as, "SELECT souq_price_list_prices_as($1, $2::jsonb, $3)"); /* 0035: the ledger records who */

static const sq_constraint_t channel_constraints[] = {
    {"sales_channels_default_region_id_fkey", "/default_region_id", SQ_E_VALIDATION, "The region does not exist."},
    {"sales_channel_locations_location_id_fkey", "/location_id", SQ_E_VALIDATION, "The stock location does not exist."},
    {NULL},
};
static const sq_constraint_t region_constraints[] = {
    {"region_countries_pkey", "/countries", SQ_E_ALREADY_EXISTS, "A country can belong to one region only."},
    {"regions_currency_code_fkey", "/currency_code", SQ_E_VALIDATION, "Run souq seed to load currencies first."},
    {NULL},
};
static const sq_constraint_t group_constraints[] = {
    {"customer_groups_name_key", "/name", SQ_E_ALREADY_EXISTS, "A customer group with this name exists."},
    {"customer_group_members_customer_id_fkey", "/add", SQ_E_VALIDATION, "A customer does not exist."},
    {NULL},
};
static const sq_constraint_t category_constraints[] = {
    {"categories_handle_key", "/handle", SQ_E_ALREADY_EXISTS, "A category with this handle exists."},
    {"categories_parent_id_fkey", "/parent_id", SQ_E_CONFLICT,
     "The parent category does not exist, or the category has subcategories."},
    {NULL},
};
static const sq_constraint_t collection_constraints[] = {
    {"collections_handle_key", "/handle", SQ_E_ALREADY_EXISTS, "A collection with this handle exists."},
    {"collection_products_product_id_fkey", "/add", SQ_E_VALIDATION, "A product does not exist."},
    {NULL},
};
static const sq_constraint_t price_list_constraints[] = {
    {"price_lists_check", "/ends_at", SQ_E_VALIDATION, "ends_at must be after starts_at."},
    {"prices_variant_id_fkey", "/upsert", SQ_E_VALIDATION, "A variant does not exist."},
    {"price_list_products_product_id_fkey", "/product_ids", SQ_E_VALIDATION, "A product does not exist."},
    {NULL},
};

static const char *const region_filters[] = {"currency_code", NULL};
static const char *const category_filters[] = {"parent_id", NULL};
static const char *const price_list_filters[] = {"kind", NULL};
static const char *const price_list_kinds[] = {"sale", "override", NULL};
static const sq_filter_rule_t price_list_filter_rules[] = {{"kind", 16, price_list_kinds}, {NULL}};

const sq_resource_t sq_res_sales_channel = {"sales channel",
                                            "sc",
                                            sq_channel_create_fields,
                                            sq_channel_update_fields,
                                            NULL,
                                            &sales_channel_get,
                                            &sales_channel_list,
                                            &sales_channel_create,
                                            &sales_channel_update,
                                            NULL,
                                            NULL,
                                            channel_constraints,
                                            false};
const sq_resource_t sq_res_region = {
    "region",     "reg",          sq_region_create_fields, sq_region_update_fields, NULL,           &region_get,
    &region_list, &region_create, &region_update,          &region_remove,          region_filters, region_constraints,
    false};
const sq_resource_t sq_res_stock_location = {"stock location",
                                             "sloc",
                                             sq_location_create_fields,
                                             sq_location_update_fields,
                                             NULL,
                                             &stock_location_get,
                                             &stock_location_list,
                                             &stock_location_create,
                                             &stock_location_update,
                                             NULL,
                                             NULL,
                                             NULL,
                                             false};
const sq_resource_t sq_res_customer_group = {"customer group",
                                             "cgrp",
                                             sq_group_create_fields,
                                             sq_group_update_fields,
                                             NULL,
                                             &customer_group_get,
                                             &customer_group_list,
                                             &customer_group_create,
                                             &customer_group_update,
                                             &customer_group_remove,
                                             NULL,
                                             group_constraints,
                                             false};
/* translations (migrations/0008) */
SQ_STMT_RO(category_tr_get, "SELECT souq_category_translation_json($1, $2)");
SQ_STMT(category_tr_save, "SELECT souq_category_translation_save($1, $2, $3::jsonb)");
SQ_STMT(category_tr_remove, "DELETE FROM category_translations WHERE category_id = $1 AND locale = $2");
SQ_STMT_RO(collection_tr_get, "SELECT souq_collection_translation_json($1, $2)");
SQ_STMT(collection_tr_save, "SELECT souq_collection_translation_save($1, $2, $3::jsonb)");
SQ_STMT(collection_tr_remove, "DELETE FROM collection_translations WHERE collection_id = $1 AND locale = $2");

const sq_resource_t sq_res_category = {"category",
                                       "pcat",
                                       sq_category_create_fields,
                                       sq_category_update_fields,
                                       NULL,
                                       &category_get,
                                       &category_list,
                                       &category_create,
                                       &category_update,
                                       &category_remove,
                                       category_filters,
                                       category_constraints,
                                       false,
                                       sq_category_translation_fields,
                                       &category_tr_get,
                                       &category_tr_save,
                                       &category_tr_remove};
const sq_resource_t sq_res_collection = {"collection",
                                         "pcol",
                                         sq_collection_create_fields,
                                         sq_collection_update_fields,
                                         sq_collection_check,
                                         &collection_get,
                                         &collection_list,
                                         &collection_create,
                                         &collection_update,
                                         &collection_remove,
                                         NULL,
                                         collection_constraints,
                                         false,
                                         sq_collection_translation_fields,
                                         &collection_tr_get,
                                         &collection_tr_save,
                                         &collection_tr_remove};
const sq_resource_t sq_res_price_list = {"price list",
                                         "plist",
                                         sq_price_list_create_fields,
                                         sq_price_list_update_fields,
                                         NULL,
                                         &price_list_get,
                                         &price_list_list,
                                         &price_list_create,
                                         &price_list_update,
                                         &price_list_remove,
                                         price_list_filters,
                                         price_list_constraints,
                                         false,
                                         .filter_rules = price_list_filter_rules,
                                         .remove_takes_actor = true};

/* ---- sub-operations: change, then answer with the parent ---------------------------------------------------- */

typedef struct {
    sq_ctx_t *cx;
    const sq_resource_t *res;
    const char *id;
    sq_json_cb cb;
    void *data;
} sub_t;

static sub_t *sub(sq_ctx_t *cx, const sq_resource_t *res, const char *id, sq_json_cb cb, void *data)
{
    sub_t *s = SQ_NEW(cx->arena, sub_t);
    s->cx = cx;
    s->res = res;
    s->id = id;
    s->cb = cb;
    s->data = data;
    return s;
}

static void on_sub(const char *json, const sq_err_t *err, void *data)
{
    sub_t *s = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The %s does not exist.", s->res->name);
        s->cb(NULL, &e, s->data);
        return;
    }
    s->cb(json, sq_resource_refine(s->cx->arena, s->res, err), s->data);
}

/* Sub-operations run as a batch: the change, then the parent's JSON, in one transaction. */
static void send_then_get(sub_t *s, sq_stmt_t *change, int n, const char *const *params)
{
    sq_batch_t *b = sq_db_batch(s->cx->db, s->cx->arena);
    sq_batch_add(b, change, n, params);
    sq_batch_add(b, s->res->get, 1, sq_db_params(s->cx->arena, 1, s->id));
    sq_batch_send_json(b, on_sub, s);
}

void sq_channel_location_set(sq_ctx_t *cx, const char *channel_id, const char *body, sq_json_cb cb, void *data)
{
    send_then_get(sub(cx, &sq_res_sales_channel, channel_id, cb, data), &channel_location_set, 2,
                  sq_db_params(cx->arena, 2, channel_id, body));
}

void sq_channel_location_remove(sq_ctx_t *cx, const char *channel_id, const char *location_id, sq_json_cb cb, void *data)
{
    send_then_get(sub(cx, &sq_res_sales_channel, channel_id, cb, data), &channel_location_remove, 2,
                  sq_db_params(cx->arena, 2, channel_id, location_id));
}

void sq_group_members(sq_ctx_t *cx, const char *group_id, const char *body, sq_json_cb cb, void *data)
{
    send_then_get(sub(cx, &sq_res_customer_group, group_id, cb, data), &group_members, 2,
                  sq_db_params(cx->arena, 2, group_id, body));
}

void sq_collection_products(sq_ctx_t *cx, const char *collection_id, const char *body, sq_json_cb cb, void *data)
{
    send_then_get(sub(cx, &sq_res_collection, collection_id, cb, data), &collection_products, 2,
                  sq_db_params(cx->arena, 2, collection_id, body));
}

void sq_price_list_prices(sq_ctx_t *cx, const char *list_id, const char *body, sq_json_cb cb, void *data)
{
    send_then_get(sub(cx, &sq_res_price_list, list_id, cb, data), &price_list_prices, 2, sq_db_params(cx->arena, 2, list_id, body));
}

void sq_price_list_prices_as(sq_ctx_t *cx, const char *list_id, const char *body, const char *actor, sq_json_cb cb, void *data)
{
    send_then_get(sub(cx, &sq_res_price_list, list_id, cb, data), &price_list_prices_as, 3,
                  sq_db_params(cx->arena, 3, list_id, body, actor));
}
