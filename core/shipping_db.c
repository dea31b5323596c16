/* shipping_db.c: SQL of shipping options (JSON and save logic in migrations/0020_tax_shipping.sql). */
#include "core/shipping.h"

extern const sq_field_t sq_shipping_option_create_fields[], sq_shipping_option_update_fields[];

SQ_STMT_RO(shipping_option_get, "SELECT souq_shipping_option_json(t) FROM shipping_options t WHERE t.id = $1");
SQ_STMT_RO(shipping_option_list,
           "SELECT souq_shipping_option_json(t), t.id FROM shipping_options t WHERE ($1::text IS NULL OR t.id < $1) "
           "AND ($3::text IS NULL OR t.region_id = $3) ORDER BY t.id DESC LIMIT $2");
SQ_STMT(shipping_option_create, "SELECT souq_shipping_option_save(NULL, $1::jsonb, NULL)");
SQ_STMT(shipping_option_update, "SELECT souq_shipping_option_save($1, $2::jsonb, $3)");
SQ_STMT(shipping_option_remove, "DELETE FROM shipping_options WHERE id = $1");

static const sq_constraint_t shipping_option_constraints[] = {
    {"shipping_options_region_id_fkey", "/region_id", SQ_E_VALIDATION, "The region does not exist."},
    {"shipping_options_countries_check", "/countries", SQ_E_VALIDATION,
     "Every country of the option must be a country of its region."},
    {"shipping_options_subtotal_range_check", "/max_subtotal", SQ_E_VALIDATION, "max_subtotal must not be below min_subtotal."},
    {NULL},
};

static const char *const shipping_option_filters[] = {"region_id", NULL};
static const sq_filter_rule_t shipping_option_filter_rules[] = {{"region_id", 40, NULL}, {NULL}};

const sq_resource_t sq_res_shipping_option = {
    .name = "shipping option",
    .prefix = "so",
    .create_fields = sq_shipping_option_create_fields,
    .update_fields = sq_shipping_option_update_fields,
    .get = &shipping_option_get,
    .list = &shipping_option_list,
    .create = &shipping_option_create,
    .update = &shipping_option_update,
    .remove = &shipping_option_remove,
    .filters = shipping_option_filters,
    .constraints = shipping_option_constraints,
    .filter_rules = shipping_option_filter_rules,
};
