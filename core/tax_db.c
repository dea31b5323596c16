/* tax_db.c: SQL of tax rates (their JSON and save logic are SQL functions of migrations/0020_tax_shipping.sql). */
#include "core/tax.h"

extern const sq_field_t sq_tax_rate_create_fields[], sq_tax_rate_update_fields[];
int sq_tax_rate_check(const json_t *b, bool create, sq_err_t *err);

SQ_STMT_RO(tax_rate_get, "SELECT souq_tax_rate_json(t) FROM tax_rates t WHERE t.id = $1");
SQ_STMT_RO(tax_rate_list, "SELECT souq_tax_rate_json(t), t.id FROM tax_rates t WHERE ($1::text IS NULL OR t.id < $1) "
                          "AND ($3::text IS NULL OR t.region_id = $3) AND ($4::text IS NULL OR t.country_code = lower($4)) "
                          "ORDER BY t.id DESC LIMIT $2");
SQ_STMT(tax_rate_create, "SELECT souq_tax_rate_save(NULL, $1::jsonb, NULL)");
SQ_STMT(tax_rate_update, "SELECT souq_tax_rate_save($1, $2::jsonb, $3)");
SQ_STMT(tax_rate_remove, "DELETE FROM tax_rates WHERE id = $1");

static const sq_constraint_t tax_rate_constraints[] = {
    {"tax_rates_region_id_fkey", "/region_id", SQ_E_VALIDATION, "The region does not exist."},
    {"tax_rates_place_check", "/region_id", SQ_E_VALIDATION,
     "A rate is for a region or for a country: exactly one of region_id and country_code."},
    {"tax_rates_province_check", "/province_code", SQ_E_VALIDATION, "A province_code needs a country_code."},
    {"tax_rates_code_key", "/code", SQ_E_ALREADY_EXISTS, "This place and tax class already have a rate with this code."},
    {NULL},
};

static const char *const tax_rate_filters[] = {"region_id", "country_code", NULL};
static const sq_filter_rule_t tax_rate_filter_rules[] = {{"region_id", 40, NULL}, {"country_code", 2, NULL}, {NULL}};

const sq_resource_t sq_res_tax_rate = {
    .name = "tax rate",
    .prefix = "txr",
    .create_fields = sq_tax_rate_create_fields,
    .update_fields = sq_tax_rate_update_fields,
    .check = sq_tax_rate_check,
    .get = &tax_rate_get,
    .list = &tax_rate_list,
    .create = &tax_rate_create,
    .update = &tax_rate_update,
    .remove = &tax_rate_remove,
    .filters = tax_rate_filters,
    .constraints = tax_rate_constraints,
    .filter_rules = tax_rate_filter_rules,
};
