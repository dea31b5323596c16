/* purchasing.c: input rules of suppliers, reorder rules, purchase orders and receipts (SQL: purchasing_db.c and
 * migrations/0033_reorder_purchasing.sql). */
#include "core/purchasing.h"

#include <stdio.h>
#include <string.h>

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)
#define ID(name, flags) F(name, SQ_FT_STR, (flags), 1, 40, NULL, sq_check_id, NULL)
#define QTY(name, flags, min) F(name, SQ_FT_INT, (flags), (min), SQ_PO_MAX_QUANTITY, NULL, NULL, NULL)
#define COST F("unit_cost", SQ_FT_INT, 0, 0, SQ_PO_MAX_UNIT_COST, NULL, NULL, NULL)
#define SUPPLIER_SKU F("supplier_sku", SQ_FT_STR, SQ_F_NULLABLE, 1, 64, NULL, NULL, NULL)
#define NOTE F("note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL)

#define SUPPLIER(req)                                                                                                              \
    F("name", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL),                                                                         \
        F("email", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_LOWER, 0, 254, NULL, sq_check_email, NULL),                                     \
        F("phone", SQ_FT_STR, SQ_F_NULLABLE, 0, 32, NULL, sq_check_phone, NULL),                                                   \
        F("currency_code", SQ_FT_STR, (req), 3, 3, NULL, sq_check_currency, NULL),                                                 \
        F("lead_time_days", SQ_FT_INT, 0, 0, 365, NULL, NULL, NULL), META
const sq_field_t sq_supplier_create_fields[] = {SUPPLIER(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_supplier_update_fields[] = {SUPPLIER(0), {NULL}};

#define RULE_COMMON COST, SUPPLIER_SKU, F("enabled", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL), META
const sq_field_t sq_reorder_rule_create_fields[] = {
    ID("inventory_item_id", SQ_F_REQUIRED),
    ID("location_id", SQ_F_REQUIRED),
    ID("supplier_id", SQ_F_REQUIRED),
    QTY("reorder_point", SQ_F_REQUIRED, 0),
    QTY("reorder_quantity", SQ_F_REQUIRED, 1),
    RULE_COMMON,
    {NULL},
};
/* the item and the location are the rule's identity: a rule for another item or place is another rule */
const sq_field_t sq_reorder_rule_update_fields[] = {
    ID("supplier_id", 0), QTY("reorder_point", 0, 0), QTY("reorder_quantity", 0, 1), RULE_COMMON, {NULL},
};

static const sq_field_t po_line_fields[] = {
    ID("inventory_item_id", SQ_F_REQUIRED), QTY("quantity", SQ_F_REQUIRED, 1), COST, SUPPLIER_SKU, {NULL},
};
#define PO_COMMON                                                                                                                  \
    F("lines", SQ_FT_OBJECT_ARRAY, 0, 0, SQ_PO_MAX_LINES, NULL, NULL, po_line_fields), NOTE,                                       \
        F("expected_at", SQ_FT_STR, SQ_F_NULLABLE, 1, 64, NULL, sq_check_timestamp, NULL), META
const sq_field_t sq_po_create_fields[] = {ID("supplier_id", SQ_F_REQUIRED), ID("location_id", SQ_F_REQUIRED), PO_COMMON, {NULL}};
const sq_field_t sq_po_update_fields[] = {PO_COMMON, {NULL}};

static const sq_field_t receipt_line_fields[] = {ID("line_id", SQ_F_REQUIRED), QTY("quantity", SQ_F_REQUIRED, 1), {NULL}};
const sq_field_t sq_po_receipt_fields[] = {
    ID("location_id", SQ_F_NULLABLE),
    F("lines", SQ_FT_OBJECT_ARRAY, SQ_F_REQUIRED, 1, SQ_PO_MAX_LINES, NULL, NULL, receipt_line_fields),
    F("allow_over_receipt", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    NOTE,
    {NULL},
};
const sq_field_t sq_po_no_fields[] = {{NULL}};

/* Each element of the array at key names a distinct value of field: a repeat is 422 repeated at its pointer. */
static void unique_in(const json_t *b, const char *key, const char *field, const char *what, sq_err_t *err)
{
    const json_t *arr = json_object_get(b, key);
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    for (size_t i = 1; i < n; i++) {
        const char *v = json_string_value(json_object_get(json_array_get(arr, i), field));
        for (size_t j = 0; v != NULL && j < i; j++) {
            const char *w = json_string_value(json_object_get(json_array_get(arr, j), field));
            if (w != NULL && strcmp(v, w) == 0) {
                char ptr[96];
                snprintf(ptr, sizeof(ptr), "/%s/%zu/%s", key, i, field);
                sq_err_field(err, ptr, "repeated", "%s is given twice", what);
                break;
            }
        }
    }
}

int sq_purchase_order_check(const json_t *b, bool create, sq_err_t *err)
{
    (void)create;
    unique_in(b, "lines", "inventory_item_id", "the inventory item", err);
    return err->nfields ? -1 : 0;
}

int sq_po_receipt_check(const json_t *b, sq_err_t *err)
{
    unique_in(b, "lines", "line_id", "the line", err);
    if (err->nfields == 0)
        return 0;
    sq_err_set(err, SQ_E_VALIDATION, "Some fields are invalid; see errors.");
    return -1;
}
