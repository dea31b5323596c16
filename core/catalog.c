/* catalog.c: input rules of the catalog's plain resources (their SQL is in catalog_db.c). */
#include "core/catalog.h"

#include <string.h>

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)
#define ID(name, flags) F(name, SQ_FT_STR, (flags), 1, 40, NULL, sq_check_id, NULL)

const sq_field_t sq_channel_create_fields[] = {
    F("name", SQ_FT_STR, SQ_F_REQUIRED, 1, 256, NULL, NULL, NULL),
    F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),
    ID("default_region_id", SQ_F_NULLABLE),
    F("disabled", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    META,
    {NULL},
};
const sq_field_t sq_channel_update_fields[] = {
    F("name", SQ_FT_STR, 0, 1, 256, NULL, NULL, NULL),
    F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),
    ID("default_region_id", SQ_F_NULLABLE),
    F("disabled", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    META,
    {NULL},
};

#define REGION(req)                                                                                                                \
    F("name", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL),                                                                         \
        F("currency_code", SQ_FT_STR, (req), 3, 3, NULL, sq_check_currency, NULL),                                                 \
        F("tax_inclusive", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),                                                                 \
        F("countries", SQ_FT_STR_ARRAY, 0, 0, 250, NULL, sq_check_country, NULL), META
const sq_field_t sq_region_create_fields[] = {REGION(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_region_update_fields[] = {REGION(0), {NULL}};

#define LOCATION(req)                                                                                                              \
    F("name", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL), F("address_1", SQ_FT_STR, SQ_F_NULLABLE, 0, 200, NULL, NULL, NULL),     \
        F("city", SQ_FT_STR, SQ_F_NULLABLE, 0, 100, NULL, NULL, NULL),                                                             \
        F("postal_code", SQ_FT_STR, SQ_F_NULLABLE, 0, 20, NULL, NULL, NULL),                                                       \
        F("country_code", SQ_FT_STR, SQ_F_NULLABLE, 2, 2, NULL, sq_check_country, NULL),                                           \
        F("is_active", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL), META
const sq_field_t sq_location_create_fields[] = {LOCATION(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_location_update_fields[] = {LOCATION(0), {NULL}};

const sq_field_t sq_group_create_fields[] = {F("name", SQ_FT_STR, SQ_F_REQUIRED, 1, 256, NULL, NULL, NULL), META, {NULL}};
const sq_field_t sq_group_update_fields[] = {F("name", SQ_FT_STR, 0, 1, 256, NULL, NULL, NULL), META, {NULL}};

#define CATEGORY(req)                                                                                                              \
    F("name", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL), F("handle", SQ_FT_STR, (req), 1, 128, NULL, sq_check_handle, NULL),     \
        F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 4096, NULL, NULL, NULL), ID("parent_id", SQ_F_NULLABLE),    \
        F("rank", SQ_FT_INT, 0, -1000000, 1000000, NULL, NULL, NULL), F("is_active", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL), META
const sq_field_t sq_category_create_fields[] = {CATEGORY(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_category_update_fields[] = {CATEGORY(0), {NULL}};

static const sq_field_t collection_rules[] = {
    F("tags", SQ_FT_STR_ARRAY, 0, 0, 50, NULL, NULL, NULL),
    F("types", SQ_FT_STR_ARRAY, 0, 0, 50, NULL, NULL, NULL),
    F("currency_code", SQ_FT_STR, SQ_F_NULLABLE, 3, 3, NULL, sq_check_currency, NULL),
    F("price_min", SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000000, NULL, NULL, NULL),
    F("price_max", SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000000, NULL, NULL, NULL),
    {NULL},
};
static const char *const collection_kinds[] = {"manual", "rule", NULL};
#define COLLECTION(req)                                                                                                            \
    F("title", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL), F("handle", SQ_FT_STR, (req), 1, 128, NULL, sq_check_handle, NULL),    \
        F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 4096, NULL, NULL, NULL),                                    \
        F("rules", SQ_FT_OBJECT, SQ_F_NULLABLE, 0, 0, NULL, NULL, collection_rules), META
const sq_field_t sq_collection_create_fields[] = {
    COLLECTION(SQ_F_REQUIRED), F("kind", SQ_FT_STR, 0, 1, 16, collection_kinds, NULL, NULL), {NULL}};
const sq_field_t sq_collection_update_fields[] = {COLLECTION(0), {NULL}};

/* translations replace the locale's text whole: the name (title) is required, a missing description clears it */
const sq_field_t sq_category_translation_fields[] = {
    F("name", SQ_FT_STR, SQ_F_REQUIRED, 1, 256, NULL, NULL, NULL),
    F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 4096, NULL, NULL, NULL),
    {NULL},
};
const sq_field_t sq_collection_translation_fields[] = {
    F("title", SQ_FT_STR, SQ_F_REQUIRED, 1, 256, NULL, NULL, NULL),
    F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 4096, NULL, NULL, NULL),
    {NULL},
};

static const sq_field_t price_rules[] = {
    F("sales_channel", SQ_FT_STR_ARRAY, 0, 0, 100, NULL, sq_check_id, NULL),
    F("region", SQ_FT_STR_ARRAY, 0, 0, 100, NULL, sq_check_id, NULL),
    F("customer_group", SQ_FT_STR_ARRAY, 0, 0, 100, NULL, sq_check_id, NULL),
    F("company", SQ_FT_STR_ARRAY, 0, 0, 100, NULL, sq_check_id, NULL),
    {NULL},
};
static const char *const list_kinds[] = {"sale", "override", NULL};
static const char *const list_status[] = {"draft", "active", NULL};
#define PRICE_LIST(req)                                                                                                            \
    F("title", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL),                                                                        \
        F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 4096, NULL, NULL, NULL),                                    \
        F("status", SQ_FT_STR, 0, 1, 16, list_status, NULL, NULL), F("priority", SQ_FT_INT, 0, -1000, 1000, NULL, NULL, NULL),     \
        F("starts_at", SQ_FT_STR, SQ_F_NULLABLE, 0, 40, NULL, sq_check_timestamp, NULL),                                           \
        F("ends_at", SQ_FT_STR, SQ_F_NULLABLE, 0, 40, NULL, sq_check_timestamp, NULL),                                             \
        F("percent_off_bp", SQ_FT_INT, SQ_F_NULLABLE, 1, 10000, NULL, NULL, NULL),                                                 \
        F("rules", SQ_FT_OBJECT, 0, 0, 0, NULL, NULL, price_rules),                                                                \
        F("product_ids", SQ_FT_STR_ARRAY, 0, 0, 1000, NULL, sq_check_id, NULL), META
const sq_field_t sq_price_list_create_fields[] = {
    PRICE_LIST(SQ_F_REQUIRED), F("kind", SQ_FT_STR, SQ_F_REQUIRED, 1, 16, list_kinds, NULL, NULL), {NULL}};
const sq_field_t sq_price_list_update_fields[] = {PRICE_LIST(0), {NULL}};

const sq_field_t sq_channel_location_fields[] = {
    ID("location_id", SQ_F_REQUIRED),
    F("priority", SQ_FT_INT, 0, -1000, 1000, NULL, NULL, NULL),
    {NULL},
};
const sq_field_t sq_members_fields[] = {
    F("add", SQ_FT_STR_ARRAY, 0, 0, 1000, NULL, sq_check_id, NULL),
    F("remove", SQ_FT_STR_ARRAY, 0, 0, 1000, NULL, sq_check_id, NULL),
    {NULL},
};
static const sq_field_t list_price[] = {
    ID("variant_id", SQ_F_REQUIRED),
    F("currency_code", SQ_FT_STR, SQ_F_REQUIRED, 3, 3, NULL, sq_check_currency, NULL),
    F("amount", SQ_FT_INT, SQ_F_REQUIRED, 0, 1000000000000, NULL, NULL, NULL),
    F("compare_at_amount", SQ_FT_INT, SQ_F_NULLABLE, 0, 1000000000000, NULL, NULL, NULL),
    F("min_quantity", SQ_FT_INT, 0, 1, 1000000, NULL, NULL, NULL),
    {NULL},
};
const sq_field_t sq_list_prices_fields[] = {
    F("upsert", SQ_FT_OBJECT_ARRAY, 0, 0, 1000, NULL, NULL, list_price),
    F("remove", SQ_FT_STR_ARRAY, 0, 0, 1000, NULL, sq_check_id, NULL),
    {NULL},
};

/* ---- rules across fields ---------------------------------------------------------------------------------- */

int sq_collection_check(const json_t *b, bool create, sq_err_t *err);
int sq_collection_check(const json_t *b, bool create, sq_err_t *err)
{
    const json_t *kind = json_object_get(b, "kind");
    const json_t *rules = json_object_get(b, "rules");
    bool rule_kind = json_is_string(kind) && strcmp(json_string_value(kind), "rule") == 0;
    if (create && json_is_object(rules) && !rule_kind)
        sq_err_field(err, "/rules", "not_allowed", "rules are only for collections of kind rule");
    if (json_is_object(rules)) {
        const json_t *min = json_object_get(rules, "price_min"), *max = json_object_get(rules, "price_max");
        const json_t *cur = json_object_get(rules, "currency_code");
        if ((json_is_integer(min) || json_is_integer(max)) && !json_is_string(cur))
            sq_err_field(err, "/rules/currency_code", "required", "currency_code is required with a price range");
        if (json_is_integer(min) && json_is_integer(max) && json_integer_value(min) > json_integer_value(max))
            sq_err_field(err, "/rules/price_max", "out_of_range", "price_max must not be below price_min");
    }
    return err->nfields ? -1 : 0;
}
