/* purchasing.h: suppliers, reorder rules and purchase orders (issue 6, low stock and reorders). A reorder rule says,
 * per inventory item and location, which supplier restocks it, at which available quantity (reorder point) and by
 * how much; when a stock change makes the level cross its point, the SQL (migrations/0033) puts a line on the open
 * draft purchase order of that supplier and location and writes inventory.reorder_needed, in the same transaction.
 * Purchase orders move draft -> sent -> partially_received -> received (or canceled) through one state machine in
 * SQL; receipts raise on_hand through the inventory ledger, exactly once per Idempotency-Key. Rules here, SQL in
 * purchasing_db.c. */
#ifndef SQ_PURCHASING_H
#define SQ_PURCHASING_H

#include "core/resource.h"

/** Admin CRUD: suppliers (list, get, create, update, delete: 409 while rules or orders name them), reorder rules
 * (filters inventory_item_id, location_id, supplier_id), purchase orders (list with status, supplier_id,
 * location_id, q; get; create; update of drafts only). */
extern const sq_resource_t sq_res_supplier, sq_res_reorder_rule, sq_res_purchase_order;

/** Most lines a purchase order (or a receipt) holds; quantities and unit costs are bounded so a total fits int64. */
#define SQ_PO_MAX_LINES 250
#define SQ_PO_MAX_QUANTITY 1000000
#define SQ_PO_MAX_UNIT_COST 10000000000LL

/** Rules of a purchase order body across fields: an item at most once among lines (422 repeated). */
int sq_purchase_order_check(const json_t *b, bool create, sq_err_t *err);

/** POST /v1/admin/purchase-orders/{id}/receipts {location_id, lines: [{line_id, quantity}], allow_over_receipt,
 * note}. */
extern const sq_field_t sq_po_receipt_fields[];
/** Rules of a receipt across fields: a line at most once (422 repeated at /lines/i/line_id). */
int sq_po_receipt_check(const json_t *b, sq_err_t *err);
/** A body that must be empty or {} (send, cancel). */
extern const sq_field_t sq_po_no_fields[];

/** draft -> sent (409 invalid-state otherwise; 422 at /lines without lines): the quantities become incoming at the
 * location and purchase_order.sent carries the whole order. Answers the order; SQ_E_NOT_FOUND when unknown. */
void sq_purchase_order_send(sq_ctx_t *cx, const char *id, const char *actor, sq_json_cb cb, void *data);
/** draft, sent or partially_received -> canceled; what was outstanding leaves incoming. */
void sq_purchase_order_cancel(sq_ctx_t *cx, const char *id, const char *actor, sq_json_cb cb, void *data);
/** Applies a receipt (validated body JSON) once per key: a key already applied to this order answers the order as it
 * is. sent/partially_received only (409), 422 with pointers for unknown lines and quantities over what is
 * outstanding (unless allow_over_receipt). */
void sq_purchase_order_receive(sq_ctx_t *cx, const char *id, const char *body, const char *key, const char *actor, sq_json_cb cb,
                               void *data);

/** The purchase orders CSV (one row per line, filters as the list: status, supplier_id, location_id, q; NULL = any).
 * cb gets the whole text. */
void sq_purchase_orders_csv(sq_ctx_t *cx, const char *const *filters, sq_json_cb cb, void *data);

#endif
