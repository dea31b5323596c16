/* order_edit.c: input rules of order edits and draft orders (their SQL: order_edit_db.c). */
#include "core/order_edit.h"

#include "core/cart.h"
#include "core/customer.h"

#define F SQ_VFIELD
#define MAX_PRICE 999999999999

static const sq_field_t add_fields[] = {
    F("variant_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("quantity", SQ_FT_INT, SQ_F_REQUIRED, 1, SQ_CART_MAX_QUANTITY, NULL, NULL, NULL),
    F("unit_price", SQ_FT_INT, 0, 0, MAX_PRICE, NULL, NULL, NULL),
    {NULL},
};

static const sq_field_t change_fields[] = {
    F("line_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("quantity", SQ_FT_INT, SQ_F_REQUIRED, 1, SQ_CART_MAX_QUANTITY, NULL, NULL, NULL),
    {NULL},
};

const sq_field_t sq_order_edit_fields[] = {
    F("add", SQ_FT_OBJECT_ARRAY, 0, 0, SQ_CART_MAX_LINES, NULL, NULL, add_fields),
    F("remove", SQ_FT_STR_ARRAY, 0, 0, SQ_CART_MAX_LINES, NULL, sq_check_id, NULL),
    F("change", SQ_FT_OBJECT_ARRAY, 0, 0, SQ_CART_MAX_LINES, NULL, NULL, change_fields),
    F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),
    {NULL},
};

/* draft orders: the lines a draft holds; unit_price (staff only) overrides the base price */
#define DRAFT_COMMON                                                                                                               \
    F("customer_id", SQ_FT_STR, SQ_F_NULLABLE, 1, 40, NULL, sq_check_id, NULL),                                                    \
        F("email", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_LOWER, 0, 254, NULL, sq_check_email, NULL),                                     \
        F("region_id", SQ_FT_STR, SQ_F_NULLABLE, 1, 40, NULL, sq_check_id, NULL),                                                  \
        F("items", SQ_FT_OBJECT_ARRAY, 0, 0, SQ_CART_MAX_LINES, NULL, NULL, add_fields),                                           \
        F("shipping_address", SQ_FT_OBJECT, SQ_F_NULLABLE, 0, 0, NULL, NULL, sq_address_postal_fields),                            \
        F("billing_address", SQ_FT_OBJECT, SQ_F_NULLABLE, 0, 0, NULL, NULL, sq_address_postal_fields),                             \
        F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),                                           \
        F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)

const sq_field_t sq_draft_create_fields[] = {
    F("sales_channel_id", SQ_FT_STR, 0, 1, 40, NULL, sq_check_id, NULL),
    F("currency_code", SQ_FT_STR, 0, 3, 3, NULL, sq_check_currency, NULL),
    DRAFT_COMMON,
    {NULL},
};

const sq_field_t sq_draft_update_fields[] = {DRAFT_COMMON, {NULL}};

const sq_field_t sq_draft_complete_fields[] = {
    F("paid", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    {NULL},
};
