/* fulfillment.c: input rules of fulfilment, shipment and return requests (their SQL: fulfillment_db.c). */
#include "core/fulfillment.h"

#include "core/cart.h"

#define F SQ_VFIELD

static const sq_field_t ful_item_fields[] = {
    F("line_item_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("quantity", SQ_FT_INT, SQ_F_REQUIRED, 1, SQ_CART_MAX_QUANTITY, NULL, NULL, NULL),
    {NULL},
};

const sq_field_t sq_fulfillment_fields[] = {
    F("location_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("items", SQ_FT_OBJECT_ARRAY, SQ_F_REQUIRED, 1, SQ_FULFILLMENT_MAX_ITEMS, NULL, NULL, ful_item_fields),
    F("notify", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    F("capture", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    {NULL},
};

const sq_field_t sq_shipment_fields[] = {
    F("carrier", SQ_FT_STR, SQ_F_REQUIRED, 1, 64, NULL, NULL, NULL),
    F("tracking_number", SQ_FT_STR, SQ_F_REQUIRED, 1, 128, NULL, NULL, NULL),
    F("tracking_url", SQ_FT_STR, SQ_F_NULLABLE, 1, 2048, NULL, sq_check_url, NULL),
    {NULL},
};

static const char *const return_reasons[] = {"damaged",     "defective",        "wrong_item", "not_as_described",
                                             "size_or_fit", "no_longer_needed", "other",      NULL};
const sq_field_t sq_return_fields[] = {
    F("items", SQ_FT_OBJECT_ARRAY, SQ_F_REQUIRED, 1, SQ_FULFILLMENT_MAX_ITEMS, NULL, NULL, ful_item_fields),
    F("reason", SQ_FT_STR, SQ_F_REQUIRED, 1, 32, return_reasons, NULL, NULL),
    F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),
    {NULL},
};

const sq_field_t sq_return_decide_fields[] = {
    F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),
    {NULL},
};

static const sq_field_t receive_item_fields[] = {
    F("line_item_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("restock", SQ_FT_BOOL, SQ_F_REQUIRED, 0, 0, NULL, NULL, NULL),
    {NULL},
};

const sq_field_t sq_return_receive_fields[] = {
    F("restock", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    F("location_id", SQ_FT_STR, 0, 1, 40, NULL, sq_check_id, NULL),
    F("items", SQ_FT_OBJECT_ARRAY, 0, 0, SQ_FULFILLMENT_MAX_ITEMS, NULL, NULL, receive_item_fields),
    F("refund", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    {NULL},
};
