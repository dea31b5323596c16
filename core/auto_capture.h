/* auto_capture.h: automatic capture when an order is fulfilled (store setting payment_capture = on_fulfillment;
 * rules in migrations/0036_gift_card_sales.sql and the README). The fulfilment's transaction enqueues one durable
 * job per order; its handler captures through the order's payment provider as staff would. */
#ifndef SQ_AUTO_CAPTURE_H
#define SQ_AUTO_CAPTURE_H

/** Registers the "order.auto_capture" job kind (before the server starts its threads). */
void sq_auto_capture_register(void);

#endif
