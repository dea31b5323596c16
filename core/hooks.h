/* hooks.h: the extension points core calls. Each is a table of functions a provider fills: the built-in C
 * providers here (core/payment_*.c ...) now, Lua plugins through the plugin host later (issue 5), with the
 * same inputs and outputs. Every call is asynchronous (it answers through its callback, possibly before it
 * returns) and never holds a database row lock of the caller: checkout commits its preparation first, calls
 * the provider, then commits the result (ARCHITECTURE.md, decision 2).
 *
 * Inputs are copies the provider may keep until its callback runs (they live in the caller's arena); outputs
 * are copied by the caller before the callback returns. */
#ifndef SQ_HOOKS_H
#define SQ_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/json.h"
#include "core/ctx.h"

/* ---- payment ------------------------------------------------------------------------------------------- */

/** Where a payment stands at its provider after a call. */
typedef enum {
    SQ_PAY_AUTHORIZED,      /* the amount is held; capture takes it */
    SQ_PAY_CAPTURED,        /* the amount is taken (a provider that captures at once, or after capture) */
    SQ_PAY_PENDING,         /* paid outside Souq later (bank transfer, cash on delivery): staff capture it */
    SQ_PAY_REQUIRES_ACTION, /* the buyer must act (3-D Secure, a redirect); next_action says how */
    SQ_PAY_DECLINED,        /* refused for good (card declined): the buyer may try another method */
    SQ_PAY_VOIDED,          /* an authorization released */
    SQ_PAY_REFUNDED,        /* a refund went through (refund calls) */
} sq_pay_status_t;

/** A call to a payment provider. */
typedef struct {
    const char *payment_id;      /* Souq's payment (pay_...) */
    const char *idempotency_key; /* the same for every retry of one logical call: authorize passes the checkout's
                                  * key (scoped per cart), refund the refund's id; providers pass it to the gateway */
    const char *currency;        /* lower-case ISO 4217 */
    int64_t amount;              /* minor units: to authorize, capture or refund */
    const char *data;            /* authorize: the buyer's payment data (JSON object: token, return_url...), or NULL */
    const char *provider_ref;    /* the gateway's id of the payment from authorize (capture, void, refund, status) */
    const char *email;           /* the buyer's email, or NULL */
} sq_pay_req_t;

/** A provider's answer. Strings live in the arena of the call. */
typedef struct {
    sq_pay_status_t status;
    const char *provider_ref; /* the gateway's id of the payment (authorize) or of the refund */
    const char *next_action;  /* SQ_PAY_REQUIRES_ACTION: JSON object ({"type":"redirect_to_url","url":...}) */
    const char *decline_code; /* SQ_PAY_DECLINED: the gateway's reason (card_declined, insufficient_funds...) */
} sq_pay_res_t;

/** err set: the provider could not be reached or failed (502/504 to the client; nothing was charged as far as
 * Souq knows, and a retry with the same idempotency key is safe). */
typedef void (*sq_pay_cb)(const sq_pay_res_t *res, const sq_err_t *err, void *data);

typedef struct sq_payment_provider {
    const char *id;          /* "manual", "test": what a cart's payment names as its provider */
    const sq_field_t *data_fields; /* rules of the buyer's payment data at authorize (NULL: none accepted) */
    /* authorize: hold req->amount (a provider may capture at once and answer SQ_PAY_CAPTURED). Called again
     * with the same idempotency key after requires_action or a lost answer: answer the payment's current state. */
    void (*authorize)(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data);
    void (*capture)(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data); /* req->amount <= authorized */
    void (*cancel)(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data);  /* void an authorization */
    void (*refund)(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data);  /* req->amount <= captured - refunded */
} sq_payment_provider_t;

/** The provider of an id, or NULL. */
const sq_payment_provider_t *sq_payment_provider(const char *id);
/** The ids of the providers, comma-separated (for error messages). */
const char *sq_payment_provider_ids(void);

/* The built-in payment providers (core/payment_builtin.c):
 *   manual  bank transfer / cash on delivery: authorize answers SQ_PAY_PENDING; capture is staff recording that
 *           the money arrived; cancel and refund are bookkeeping (the money moves outside Souq).
 *   test    a card-style gateway with a ledger table (test_gateway_charges, one row per idempotency key, so a
 *           retried authorize never charges twice). Tokens: tok_visa (authorized), tok_declined (card_declined),
 *           tok_insufficient_funds, tok_3ds (requires_action until POST /v1/hooks/test/charges/{ref}/authenticate),
 *           tok_error (the gateway fails: 502). */
extern const sq_payment_provider_t sq_payment_manual, sq_payment_test;
/** The test gateway's 3-D Secure page: the buyer passed (or failed) authentication of a charge. */
void sq_payment_test_authenticate(sq_ctx_t *cx, const char *charge_id, bool succeed, sq_json_cb cb, void *data);

#endif
