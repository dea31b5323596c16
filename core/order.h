/* order.h: orders after checkout (core/checkout.h places them): reads for the customer and for staff, and the
 * moves that go through the payment provider: capture, cancel (voids the payment, releases the stock) and
 * refunds (never more than captured, also under concurrent requests: the amount is reserved on the payment row
 * before the provider is called). The state machines live in migrations/0019_orders_checkout.sql; an illegal
 * move is 409 invalid-state. */
#ifndef SQ_ORDER_H
#define SQ_ORDER_H

#include "core/resource.h"

/** Admin list (filters: status, payment_status, fulfillment_status, customer_id, sales_channel_id, currency_code,
 * placed_after, placed_before, total_min, total_max, q = email or order number) and get (with the timeline). */
extern const sq_resource_t sq_res_order;

/** The customer's own orders, newest first; another customer's order is 404. */
void sq_order_list_mine(sq_ctx_t *cx, const char *customer_id, const sq_page_t *page, sq_list_cb cb, void *data);
void sq_order_get_mine(sq_ctx_t *cx, const char *customer_id, const char *order_id, sq_json_cb cb, void *data);

/** POST /v1/admin/orders/{id}/capture: takes the authorized (or pending manual) payment. Answers the order. */
void sq_order_capture(sq_ctx_t *cx, const char *order_id, const char *actor, sq_json_cb cb, void *data);

/** POST /v1/admin/orders/{id}/cancel {reason}: an unfulfilled order whose payment is not captured. */
extern const sq_field_t sq_order_cancel_fields[];
void sq_order_cancel(sq_ctx_t *cx, const char *order_id, const char *reason, const char *actor, sq_json_cb cb, void *data);

/** POST /v1/admin/orders/{id}/refunds {amount, reason, note}. Answers the refund (201). */
typedef struct {
    int64_t amount;
    const char *reason, *note;
} sq_refund_in_t;
extern const sq_field_t sq_refund_fields[];
void sq_order_refund(sq_ctx_t *cx, const char *order_id, const sq_refund_in_t *in, const char *actor, sq_json_cb cb, void *data);

#endif
