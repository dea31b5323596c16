/* inventory.c: input rules of inventory items and stock changes; SQL in inventory_db.c and migrations/0007. */
#include "core/inventory.h"

#include <string.h>

#define F SQ_VFIELD
#define QTY 1000000000

const sq_field_t sq_inventory_item_fields[] = {
    F("title", SQ_FT_STR, SQ_F_NULLABLE, 1, 256, NULL, NULL, NULL),
    F("requires_shipping", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    F("low_stock_threshold", SQ_FT_INT, SQ_F_NULLABLE, 0, QTY, NULL, NULL, NULL),
    F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL),
    {NULL},
};

static const char *const reasons[] = {"adjustment", "receive", "return", NULL};
#define NOTE F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL)

static const sq_field_t adjustment_fields[] = {
    F("location_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("delta", SQ_FT_INT, 0, -QTY, QTY, NULL, NULL, NULL),
    F("incoming_delta", SQ_FT_INT, 0, -QTY, QTY, NULL, NULL, NULL),
    F("reason", SQ_FT_STR, 0, 1, 16, reasons, NULL, NULL),
    F("reference", SQ_FT_STR, SQ_F_NULLABLE, 1, 128, NULL, NULL, NULL),
    NOTE,
    {NULL},
};
static const sq_field_t count_fields[] = {
    F("location_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("quantity", SQ_FT_INT, SQ_F_REQUIRED, 0, QTY, NULL, NULL, NULL),
    NOTE,
    {NULL},
};
static const sq_field_t transfer_fields[] = {
    F("from_location_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("to_location_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("quantity", SQ_FT_INT, SQ_F_REQUIRED, 1, QTY, NULL, NULL, NULL),
    NOTE,
    {NULL},
};

const sq_field_t *const sq_stock_change_fields[3] = {adjustment_fields, count_fields, transfer_fields};

static json_int_t int_of(const json_t *b, const char *k)
{
    const json_t *v = json_object_get(b, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

int sq_stock_change_check(sq_stock_change_t kind, const json_t *b, sq_err_t *err)
{
    if (kind == SQ_STOCK_ADJUSTMENT && int_of(b, "delta") == 0 && int_of(b, "incoming_delta") == 0)
        sq_err_field(err, "/delta", "required", "delta or incoming_delta must be a change (not zero)");
    if (kind == SQ_STOCK_ADJUSTMENT && int_of(b, "delta") < 0 &&
        strcmp(json_string_value(json_object_get(b, "reason")) ? json_string_value(json_object_get(b, "reason")) : "", "receive") == 0)
        sq_err_field(err, "/delta", "invalid_value", "a receive adds stock: delta must be positive");
    if (kind == SQ_STOCK_TRANSFER) {
        const char *from = json_string_value(json_object_get(b, "from_location_id")),
                   *to = json_string_value(json_object_get(b, "to_location_id"));
        if (from != NULL && to != NULL && strcmp(from, to) == 0)
            sq_err_field(err, "/to_location_id", "invalid_value", "a transfer needs two different locations");
    }
    if (err->nfields == 0)
        return 0;
    sq_err_set(err, SQ_E_VALIDATION, "Some fields are invalid; see errors.");
    return -1;
}
