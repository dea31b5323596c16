/* promotion_db.c: SQL and input rules of the admin resources promotions and gift cards. Their JSON and save
 * logic are SQL functions (migrations/0021_promotions_gift_cards.sql), so these statements only call them. */
#include "core/promotion.h"

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)
#define TS(name) F(name, SQ_FT_STR, SQ_F_NULLABLE, 0, 40, NULL, sq_check_timestamp, NULL)
#define IDS(name) F(name, SQ_FT_STR_ARRAY, 0, 0, 100, NULL, sq_check_id, NULL)

static const char *const promo_types[] = {"percentage", "fixed", "free_shipping", "buy_x_get_y", NULL};
static const char *const promo_targets[] = {"order", "items", NULL};
static const char *const promo_status[] = {"draft", "active", "disabled", NULL};
static const char *const card_status[] = {"active", "disabled", NULL};

/* every field but type (create only) */
#define PROMOTION                                                                                                                  \
    F("code", SQ_FT_STR, SQ_F_NULLABLE, 3, 64, NULL, sq_check_promo_code, NULL),                                                   \
        F("description", SQ_FT_STR, SQ_F_NULLABLE, 0, 256, NULL, NULL, NULL),                                                      \
        F("percent_bp", SQ_FT_INT, SQ_F_NULLABLE, 1, 10000, NULL, NULL, NULL),                                                     \
        F("amounts", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_currency_amounts, NULL),                                      \
        F("target", SQ_FT_STR, 0, 1, 16, promo_targets, NULL, NULL), IDS("product_ids"), IDS("category_ids"),                      \
        IDS("collection_ids"), IDS("customer_group_ids"),                                                                          \
        F("min_subtotal", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_currency_amounts, NULL),                                 \
        F("buy_quantity", SQ_FT_INT, SQ_F_NULLABLE, 1, 1000, NULL, NULL, NULL),                                                    \
        F("get_quantity", SQ_FT_INT, SQ_F_NULLABLE, 1, 1000, NULL, NULL, NULL), TS("starts_at"), TS("ends_at"),                    \
        F("status", SQ_FT_STR, 0, 1, 16, promo_status, NULL, NULL),                                                                \
        F("usage_limit", SQ_FT_INT, SQ_F_NULLABLE, 1, 1000000000, NULL, NULL, NULL),                                               \
        F("usage_limit_per_customer", SQ_FT_INT, SQ_F_NULLABLE, 1, 1000000, NULL, NULL, NULL),                                     \
        F("priority", SQ_FT_INT, 0, -1000, 1000, NULL, NULL, NULL), F("combinable", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL), META

static const sq_field_t promotion_create_fields[] = {
    F("type", SQ_FT_STR, SQ_F_REQUIRED, 1, 16, promo_types, NULL, NULL),
    PROMOTION,
    {NULL},
};
static const sq_field_t promotion_update_fields[] = {PROMOTION, {NULL}};

static const sq_field_t gift_card_create_fields[] = {
    F("currency_code", SQ_FT_STR, SQ_F_REQUIRED, 3, 3, NULL, sq_check_currency, NULL),
    F("initial_balance", SQ_FT_INT, SQ_F_REQUIRED, 1, 100000000000LL, NULL, NULL, NULL),
    TS("expires_at"),
    F("customer_id", SQ_FT_STR, SQ_F_NULLABLE, 1, 40, NULL, sq_check_id, NULL),
    F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),
    F("status", SQ_FT_STR, 0, 1, 16, card_status, NULL, NULL),
    META,
    {NULL},
};
static const sq_field_t gift_card_update_fields[] = {
    F("status", SQ_FT_STR, 0, 1, 16, card_status, NULL, NULL),
    TS("expires_at"),
    F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),
    META,
    {NULL},
};

SQ_STMT_RO(promotion_get, "SELECT souq_promotion_json(t) FROM promotions t WHERE t.id = $1");
SQ_STMT_RO(promotion_list, "SELECT souq_promotion_json(t), t.id FROM promotions t WHERE ($1::text IS NULL OR t.id < $1) "
                           "AND ($3::text IS NULL OR t.status = $3) AND ($4::text IS NULL OR lower(t.code) = lower($4)) "
                           "ORDER BY t.id DESC LIMIT $2");
SQ_STMT(promotion_create, "SELECT souq_promotion_save(NULL, $1::jsonb, NULL)");
SQ_STMT(promotion_update, "SELECT souq_promotion_save($1, $2::jsonb, $3)");
/* a promotion that was used is kept (its usages are the orders' history): disable it instead */
SQ_STMT(promotion_remove, "SELECT 1 FROM souq_promotion_delete($1) AS d WHERE d");

SQ_STMT_RO(gift_card_get, "SELECT souq_gift_card_json(t) FROM gift_cards t WHERE t.id = $1");
SQ_STMT_RO(gift_card_list, "SELECT souq_gift_card_json(t), t.id FROM gift_cards t WHERE ($1::text IS NULL OR t.id < $1) "
                           "AND ($3::text IS NULL OR t.status = $3) AND ($4::text IS NULL OR t.customer_id = $4) "
                           "ORDER BY t.id DESC LIMIT $2");
SQ_STMT(gift_card_create, "SELECT souq_gift_card_create($1::jsonb, $2)");
SQ_STMT(gift_card_update, "SELECT souq_gift_card_update($1, $2::jsonb, $3)");

static const sq_constraint_t promotion_constraints[] = {
    {"promotions_code_key", "/code", SQ_E_ALREADY_EXISTS, "A promotion with this code exists (codes are case-insensitive)."},
    {"promotions_check", "/ends_at", SQ_E_VALIDATION, "ends_at must be after starts_at."},
    {NULL},
};
static const sq_constraint_t gift_card_constraints[] = {
    {"gift_cards_currency_code_fkey", "/currency_code", SQ_E_VALIDATION, "The currency is not loaded."},
    {NULL},
};

static const char *const promotion_filters[] = {"status", "code", NULL};
static const sq_filter_rule_t promotion_filter_rules[] = {{"status", 16, promo_status}, {"code", 64, NULL}, {NULL}};
static const char *const gift_card_filters[] = {"status", "customer_id", NULL};
static const sq_filter_rule_t gift_card_filter_rules[] = {{"status", 16, card_status}, {"customer_id", 40, NULL}, {NULL}};

const sq_resource_t sq_res_promotion = {
    .name = "promotion",
    .prefix = "promo",
    .create_fields = promotion_create_fields,
    .update_fields = promotion_update_fields,
    .get = &promotion_get,
    .list = &promotion_list,
    .create = &promotion_create,
    .update = &promotion_update,
    .remove = &promotion_remove,
    .filters = promotion_filters,
    .constraints = promotion_constraints,
    .filter_rules = promotion_filter_rules,
};

const sq_resource_t sq_res_gift_card = {
    .name = "gift card",
    .prefix = "gcard",
    .create_fields = gift_card_create_fields,
    .update_fields = gift_card_update_fields,
    .get = &gift_card_get,
    .list = &gift_card_list,
    .create = &gift_card_create,
    .update = &gift_card_update,
    .filters = gift_card_filters,
    .constraints = gift_card_constraints,
    .filter_rules = gift_card_filter_rules,
    .create_takes_actor = true,
};
