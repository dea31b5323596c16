/* order_edit.h: staff edits of an order before fulfilment (add, remove, change lines) and draft orders that staff
 * build for a customer and turn into orders. Rules and settlement: migrations/0022_fulfilment_returns.sql and
 * README (order edits, draft orders). */
#ifndef SQ_ORDER_EDIT_H
#define SQ_ORDER_EDIT_H

#include "core/resource.h"

/** POST /v1/admin/orders/{id}/edits {add: [{variant_id, quantity, unit_price}], remove: [line_id],
 * change: [{line_id, quantity}], note}. */
extern const sq_field_t sq_order_edit_fields[];

/** Applies an edit (body: validated JSON text) in one transaction; when the total fell below what was captured,
 * refunds the difference through sq_order_refund afterwards (a refused refund is recorded on the timeline as
 * refund.failed; the edit stands). Answers the order with its timeline. */
void sq_order_edit(sq_ctx_t *cx, const char *order_id, const char *body, const char *actor, sq_json_cb cb, void *data);

/** Draft orders: list (filters status, customer_id), get, create, update (PATCH; items replace the list). */
extern const sq_resource_t sq_res_draft_order;
extern const sq_field_t sq_draft_create_fields[], sq_draft_update_fields[];

/** POST /v1/admin/draft-orders/{id}/complete {paid}: the draft becomes an order with a manual payment, pending
 * (or captured when paid is true); its stock is reserved all or nothing. Answers the order. */
extern const sq_field_t sq_draft_complete_fields[];
void sq_draft_order_complete(sq_ctx_t *cx, const char *draft_id, const char *body, const char *actor, sq_json_cb cb, void *data);

#endif
