/* err.h: the one error type. Core fills it; api/ maps the code to an HTTP status and problem+json. */
#ifndef SQ_ERR_H
#define SQ_ERR_H

#include <stdbool.h>

/* X(enum, slug, title). The slug is the stable `type` of the problem document: never rename one. */
#define SQ_ERR_CODES(X)                                                                                                            \
    X(SQ_OK, "ok", "OK")                                                                                                           \
    X(SQ_E_INVALID_JSON, "invalid-json", "The request body is not valid JSON")                                                     \
    X(SQ_E_INVALID_PARAMETER, "invalid-parameter", "A query, path or header parameter is invalid")                                 \
    X(SQ_E_BAD_REQUEST, "bad-request", "The request is malformed")                                                                 \
    X(SQ_E_UNAUTHORIZED, "unauthorized", "Authentication is required")                                                             \
    X(SQ_E_INVALID_TOKEN, "invalid-token", "The credentials are invalid or expired")                                               \
    X(SQ_E_INVALID_CREDENTIALS, "invalid-credentials", "The email or password is wrong")                                           \
    X(SQ_E_FORBIDDEN, "forbidden", "You do not have permission for this action")                                                   \
    X(SQ_E_NOT_FOUND, "not-found", "The resource does not exist")                                                                  \
    X(SQ_E_METHOD_NOT_ALLOWED, "method-not-allowed", "The method is not allowed on this resource")                                 \
    X(SQ_E_NOT_ACCEPTABLE, "not-acceptable", "No acceptable representation")                                                       \
    X(SQ_E_CONFLICT, "conflict", "The request conflicts with the current state")                                                   \
    X(SQ_E_ALREADY_EXISTS, "already-exists", "A resource with these values already exists")                                        \
    X(SQ_E_INSUFFICIENT_STOCK, "insufficient-stock", "Not enough stock")                                                           \
    X(SQ_E_INVALID_STATE, "invalid-state", "The resource's state does not allow this")                                              \
    X(SQ_E_PAYMENT_DECLINED, "payment-declined", "The payment was declined")                                                        \
    X(SQ_E_PAYMENT_PROVIDER, "payment-provider-error", "The payment provider failed")                                               \
    X(SQ_E_PLUGIN_FAILED, "plugin-failed", "A plugin failed")                                                                      \
    X(SQ_E_PLUGIN_TIMEOUT, "plugin-timeout", "A plugin ran out of time")                                                           \
    X(SQ_E_PLUGIN_DEGRADED, "plugin-degraded", "A plugin is failing and temporarily switched off")                                 \
    X(SQ_E_IDEMPOTENCY_IN_USE, "idempotency-key-in-use", "A request with this Idempotency-Key is still being processed")         \
    X(SQ_E_IDEMPOTENCY_REUSED, "idempotency-key-reused", "This Idempotency-Key was used for a different request")                  \
    X(SQ_E_PRECONDITION_FAILED, "precondition-failed", "The resource changed since you read it")                                   \
    X(SQ_E_PRECONDITION_REQUIRED, "precondition-required", "This request requires If-Match")                                       \
    X(SQ_E_PAYLOAD_TOO_LARGE, "payload-too-large", "The request body is too large")                                                \
    X(SQ_E_URI_TOO_LONG, "uri-too-long", "The request URI is too long")                                                            \
    X(SQ_E_HEADERS_TOO_LARGE, "headers-too-large", "The request headers are too large")                                            \
    X(SQ_E_UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "The request body must be application/json")                          \
    X(SQ_E_UNKNOWN_FIELD, "unknown-field", "The request has fields this endpoint does not accept")                                 \
    X(SQ_E_VALIDATION, "validation-failed", "Some fields are invalid")                                                             \
    X(SQ_E_RATE_LIMITED, "rate-limited", "Too many requests")                                                                      \
    X(SQ_E_INTERNAL, "internal", "Internal error")                                                                                 \
    X(SQ_E_UNAVAILABLE, "dependency-unavailable", "A dependency is unavailable; retry later")                                      \
    X(SQ_E_BUSY, "busy", "The resource is busy; retry later")                                                                      \
    X(SQ_E_TIMEOUT, "request-timeout", "The request took too long")                                                                \
    X(SQ_E_SHUTTING_DOWN, "shutting-down", "The server is shutting down")

typedef enum {
#define SQ_X(e, s, t) e,
    SQ_ERR_CODES(SQ_X)
#undef SQ_X
        SQ_ERR__COUNT
} sq_code_t;

#define SQ_ERR_MAX_FIELDS 16

typedef struct {
    char pointer[96]; /* JSON pointer into the body ("/email"), or a parameter name for query/path/header errors */
    char detail[120];
    char code[28]; /* machine-readable reason: required, too_long, unknown_field, invalid_format, ... */
} sq_field_err_t;

/** The one error type. detail and fields are safe for clients; internal is logged only. */
typedef struct sq_err {
    sq_code_t code;
    char detail[200];
    char internal[240];
    char constraint[64]; /* set by core/db on constraint violations so the domain can refine the error */
    char column[64];     /* the column a violation names (not-null), or "" */
    char at[64];         /* JSON pointer of the body item the failing row came from ("/variants/1"), or "" */
    int retry_after;     /* seconds; 0 = no Retry-After */
    int nfields;
    bool param_errors; /* fields name query/path/header parameters rather than body pointers */
    bool retryable;    /* a serialization failure or deadlock: the transaction rolled back and may simply run again */
    sq_field_err_t fields[SQ_ERR_MAX_FIELDS];
} sq_err_t;

/** Resets e to SQ_OK. */
void sq_err_clear(sq_err_t *e);
/** Sets code and a client-safe detail (printf); returns -1 so callers can `return sq_err_set(...)`. */
int sq_err_set(sq_err_t *e, sq_code_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Adds the internal, logged-only part. */
void sq_err_internal(sq_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Appends a per-field error (ignored past SQ_ERR_MAX_FIELDS). */
void sq_err_field(sq_err_t *e, const char *pointer, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/** Copies src into dst. */
void sq_err_copy(sq_err_t *dst, const sq_err_t *src);
/** The stable slug and the title of a code. */
const char *sq_err_slug(sq_code_t code);
const char *sq_err_title(sq_code_t code);

#endif
