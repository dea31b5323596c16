/* checkout.h: POST /v1/store/carts/{id}/complete: a cart becomes an order.
 *
 * Three steps, no row lock held across the payment provider (migrations/0019_orders_checkout.sql):
 *   the cart is priced (core/cart.h) -> prepare (one transaction: checks, stock reserved for the cart, the
 *   payment opened) -> the provider authorizes (core/hooks.h) -> complete (one transaction: the order with its
 *   snapshot, the reservations moved to it, promotions and gift cards redeemed, order.placed in the outbox,
 *   the Idempotency-Key's answer) or fail (stock released, the payment closed; an authorization is voided).
 *
 * Answers: 201 and the order; 200 and the order when the cart already is one (a retry after a lost answer);
 * 202 and a checkout_action when the buyer must act (3-D Secure): after acting, call complete again with a new
 * Idempotency-Key, which reuses the payment and its gateway key. 402 payment-declined, 409 insufficient-stock,
 * 422 for a cart that cannot become an order, 502 payment-provider-error. */
#ifndef SQ_CHECKOUT_H
#define SQ_CHECKOUT_H

#include "core/cart.h"
#include "core/hooks.h"

/** Body of complete: {"payment": {"provider": "test", "data": {...}}}; payment may be left out when nothing is
 * due (gift cards or discounts cover the total). */
extern const sq_field_t sq_checkout_fields[];

typedef struct {
    sq_cart_caller_t who;
    const char *cart_id;
    const char *provider;     /* NULL: none given */
    const char *payment_data; /* JSON object text, or NULL */
    const char *idem_key;     /* the request's Idempotency-Key (required) */
    const char *idem_scope[4]; /* principal, method, route, key of the key's record: the answer is stored with the order */
    int reserve_ttl_s;        /* how long stock waits for a payment action */
    int64_t expected_total;   /* the total the buyer confirmed (409 when the cart's differs), or -1: not given */
} sq_checkout_in_t;

typedef void (*sq_checkout_cb)(int status, const char *json, const sq_err_t *err, void *data);
void sq_checkout_complete(sq_ctx_t *cx, const sq_checkout_in_t *in, sq_checkout_cb cb, void *data);

#endif
