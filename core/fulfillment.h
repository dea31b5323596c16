/* fulfillment.h: what happens to an order after checkout on the warehouse side: fulfilments of some or all lines
 * from a stock location (the order's reservations become sales), shipments with tracking, delivery confirmation,
 * returns (RMA: requested -> approved | rejected -> received, with restock and a refund through core/order.h),
 * and the orders CSV export. The rules and state machines are SQL in migrations/0022_fulfilment_returns.sql; an
 * illegal move is 409 invalid-state, more than an order line allows is 422 with the item's pointer.
 *
 * Bodies are validated here (field tables) and passed to SQL as JSON. Every answer is JSON text in the arena. */
#ifndef SQ_FULFILLMENT_H
#define SQ_FULFILLMENT_H

#include "core/base/json.h"
#include "core/ctx.h"

#define SQ_FULFILLMENT_MAX_ITEMS 250

/** POST /v1/admin/orders/{id}/fulfillments {location_id, items: [{line_item_id, quantity}], notify, capture}. */
extern const sq_field_t sq_fulfillment_fields[];
/** POST .../fulfillments/{fid}/shipments {carrier, tracking_number, tracking_url}. */
extern const sq_field_t sq_shipment_fields[];
/** POST /v1/store/customers/me/orders/{id}/returns and /v1/admin/orders/{id}/returns {items, reason, note}. */
extern const sq_field_t sq_return_fields[];
/** POST .../returns/{rid}/approve and /reject {note}. */
extern const sq_field_t sq_return_decide_fields[];
/** POST .../returns/{rid}/receive {restock, location_id, items: [{line_item_id, restock}], refund}. */
extern const sq_field_t sq_return_receive_fields[];

/** Fulfils lines of an order (body: validated JSON text). With capture set and a payment that is pending or
 * authorized, the payment is captured first through sq_order_capture: a failed capture fulfils nothing. Answers
 * the fulfilment. */
void sq_fulfillment_create(sq_ctx_t *cx, const char *order_id, const char *body, bool capture, const char *actor, sq_json_cb cb,
                           void *data);
/** Adds a shipment to a fulfilment (fulfilled or shipped). Answers the fulfilment. */
void sq_fulfillment_ship(sq_ctx_t *cx, const char *order_id, const char *fulfillment_id, const char *body, const char *actor,
                         sq_json_cb cb, void *data);
/** Confirms the delivery of a shipped fulfilment. Answers the fulfilment. */
void sq_fulfillment_deliver(sq_ctx_t *cx, const char *order_id, const char *fulfillment_id, const char *actor, sq_json_cb cb,
                            void *data);

/** A return request. customer_id: the customer's own order only (404 otherwise), the return is 'requested';
 * NULL: staff, the return is 'approved' at once. Answers the return. */
void sq_return_create(sq_ctx_t *cx, const char *order_id, const char *customer_id, const char *body, const char *actor,
                      sq_json_cb cb, void *data);
/** Approves or rejects a requested return (body: {note} or NULL). Answers the return. */
void sq_return_decide(sq_ctx_t *cx, const char *order_id, const char *return_id, bool approve, const char *body, const char *actor,
                      sq_json_cb cb, void *data);
/** Receives an approved return: restock, returned quantities, then (unless refund is false) the refund of the
 * returned units' share through sq_order_refund. The receipt stands even when the refund fails: the return then
 * shows refund_status "failed" (staff refund by hand). Answers the return. */
void sq_return_receive(sq_ctx_t *cx, const char *order_id, const char *return_id, const char *body, const char *actor,
                       sq_json_cb cb, void *data);
/** The returns of an order, newest first (404 for a missing order). */
void sq_return_list(sq_ctx_t *cx, const char *order_id, const sq_page_t *page, sq_list_cb cb, void *data);

/** CSV text of the export (arena), or err. */
typedef void (*sq_csv_cb)(const char *text, size_t len, const sq_err_t *err, void *data);
/** GET /v1/admin/exports/orders.csv: filters are the values of sq_res_order's filters, in its order (checked by
 * the caller with sq_resource_check_filters). Header first, CRLF line ends; text cells that would start a
 * spreadsheet formula get a leading apostrophe. */
void sq_export_orders_csv(sq_ctx_t *cx, const char *const *filters, sq_csv_cb cb, void *data);

#endif
