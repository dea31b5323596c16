/* product_db.c: SQL of products and variants (their JSON and save logic: migrations/0005_products_api.sql). */
#include "core/product.h"

extern const sq_field_t sq_product_create_fields[], sq_product_update_fields[];
int sq_product_check(const json_t *b, bool create, sq_err_t *err);

SQ_STMT_RO(product_get, "SELECT souq_product_json(t) FROM products t WHERE t.id = $1");
SQ_STMT_RO(product_list,
           "SELECT souq_product_json(t), t.id FROM products t WHERE ($1::text IS NULL OR t.id < $1) "
           "AND ($3::text IS NULL OR t.status = $3) "
           "AND ($4::text IS NULL OR t.search_vector @@ souq_search_query(souq_ts_config("
           "(SELECT default_locale FROM store_settings)), $4) "
           "  OR EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = t.id AND lower(v.sku) = lower($4))) "
           "AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = t.id AND v.sku = $5)) "
           "ORDER BY t.id DESC LIMIT $2");
SQ_STMT(product_create, "SELECT souq_product_save(NULL, $1::jsonb, NULL, $2)");
SQ_STMT(product_update, "SELECT souq_product_save($1, $2::jsonb, $3, $4)"); /* $4: the caller, for the price ledger */
SQ_STMT(variant_save, "SELECT souq_variant_save($1, $2, $3::jsonb, $4)");
SQ_STMT(variant_delete, "SELECT 1 FROM souq_variant_delete($1, $2) n WHERE n > 0");
SQ_STMT(variant_delete_as, "SELECT 1 FROM souq_variant_delete_as($1, $2, $3) n WHERE n > 0"); /* 0035: the ledger records who */

/* translations: the product's text, its variants' titles, its options' titles and values (0006) */
SQ_STMT_RO(translation_get, "SELECT souq_product_translation_json($1, $2)");
SQ_STMT(translation_save, "SELECT souq_product_translation_save($1, $2, $3::jsonb)");
SQ_STMT(translation_remove, "WITH v AS (DELETE FROM variant_translations vt USING product_variants pv WHERE vt.variant_id = pv.id "
                            "  AND pv.product_id = $1 AND vt.locale = $2 RETURNING 1), "
                            "o AS (DELETE FROM option_translations ot USING product_options po WHERE ot.option_id = po.id "
                            "  AND po.product_id = $1 AND ot.locale = $2 RETURNING 1), "
                            "ov AS (DELETE FROM option_value_translations ovt USING product_option_values pov, product_options po "
                            "  WHERE ovt.option_value_id = pov.id AND pov.option_id = po.id AND po.product_id = $1 AND ovt.locale = $2 "
                            "  RETURNING 1), "
                            "p AS (DELETE FROM product_translations WHERE product_id = $1 AND locale = $2 RETURNING 1) "
                            "SELECT 1 WHERE EXISTS (SELECT 1 FROM v) OR EXISTS (SELECT 1 FROM o) OR EXISTS (SELECT 1 FROM ov) "
                            "OR EXISTS (SELECT 1 FROM p)");

static const sq_constraint_t product_constraints[] = {
    {"products_handle_key", "/handle", SQ_E_ALREADY_EXISTS,
     "A product with this handle exists (handles come from titles when not given)."},
    {"product_variants_sku_key", "/sku", SQ_E_ALREADY_EXISTS, "A variant with this SKU exists."},
    {"product_variants_tax_class_check", "/tax_class", SQ_E_VALIDATION,
     "tax_class must be lower-case letters, digits and underscores."},
    {"product_sales_channels_sales_channel_id_fkey", "/sales_channel_ids", SQ_E_VALIDATION, "A sales channel does not exist."},
    {"product_categories_category_id_fkey", "/category_ids", SQ_E_VALIDATION, "A category does not exist."},
    {"collection_products_collection_id_fkey", "/collection_ids", SQ_E_VALIDATION, "A collection does not exist."},
    {"prices_currency_code_fkey", "/prices", SQ_E_VALIDATION, "A currency is not loaded (run souq seed)."},
    {"inventory_levels_location_id_fkey", "/inventory", SQ_E_VALIDATION, "A stock location does not exist."},
    {"product_options_product_id_title_key", "/options", SQ_E_VALIDATION, "Option titles must be unique."},
    {"product_option_values_option_id_value_key", "/options", SQ_E_VALIDATION, "Option values must be unique."},
    {NULL},
};

static const char *const product_filters[] = {"status", "q", "sku", NULL};
static const char *const product_statuses[] = {"draft", "active", "archived", NULL};
static const sq_filter_rule_t product_filter_rules[] = {
    {"status", 16, product_statuses},
    {"q", 256, NULL},
    {"sku", 64, NULL},
    {NULL},
};

const sq_resource_t sq_res_product = {"product",
                                      "prod",
                                      sq_product_create_fields,
                                      sq_product_update_fields,
                                      sq_product_check,
                                      &product_get,
                                      &product_list,
                                      &product_create,
                                      &product_update,
                                      NULL,
                                      product_filters,
                                      product_constraints,
                                      true,
                                      sq_translation_fields,
                                      &translation_get,
                                      &translation_save,
                                      &translation_remove,
                                      product_filter_rules,
                                      true,
                                      true};

typedef struct {
    sq_json_cb cb;
    sq_done_cb done;
    void *data;
    sq_arena_t *arena;
    const char *missing; /* the 404 message */
} vctx_t;

static void on_variant(const char *json, const sq_err_t *err, void *data)
{
    vctx_t *v = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The product or variant does not exist.");
        v->cb(NULL, &e, v->data);
        return;
    }
    v->cb(json, sq_resource_refine(v->arena, &sq_res_product, err), v->data);
}

void sq_variant_save(sq_ctx_t *cx, const char *product_id, const char *variant_id, const char *body, const char *actor,
                     sq_json_cb cb, void *data)
{
    vctx_t *v = SQ_NEW(cx->arena, vctx_t);
    v->cb = cb;
    v->data = data;
    v->arena = cx->arena;
    sq_db_json(cx->db, cx->arena, &variant_save, 4, sq_db_params(cx->arena, 4, product_id, variant_id, body, actor), on_variant, v);
}

static void on_deleted(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    vctx_t *v = data;
    if (err == NULL && sq_rows_affected(rows) == 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "%s", v->missing);
        v->done(&e, v->data);
        return;
    }
    v->done(err, v->data);
}

void sq_variant_delete(sq_ctx_t *cx, const char *product_id, const char *variant_id, sq_done_cb cb, void *data)
{
    vctx_t *v = SQ_NEW(cx->arena, vctx_t);
    v->done = cb;
    v->data = data;
    v->missing = "The product or variant does not exist.";
    sq_db_query(cx->db, cx->arena, &variant_delete, 2, sq_db_params(cx->arena, 2, product_id, variant_id), on_deleted, v);
}

void sq_variant_delete_as(sq_ctx_t *cx, const char *product_id, const char *variant_id, const char *actor, sq_done_cb cb,
                          void *data)
{
    vctx_t *v = SQ_NEW(cx->arena, vctx_t);
    v->done = cb;
    v->data = data;
    v->missing = "The product or variant does not exist.";
    sq_db_query(cx->db, cx->arena, &variant_delete_as, 3, sq_db_params(cx->arena, 3, product_id, variant_id, actor), on_deleted, v);
}

SQ_STMT_RO(store_get, "SELECT souq_store_json(s) FROM store_settings s");
SQ_STMT(store_update, "SELECT souq_store_save($1::jsonb, $2)");


void sq_store_get(sq_ctx_t *cx, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &store_get, 0, NULL, cb, data);
}

void sq_store_update(sq_ctx_t *cx, const char *body, const char *etag, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &store_update, 2, sq_db_params(cx->arena, 2, body, etag), cb, data);
}



