/* router.h: method + path-template routing ("/v1/store/customers/me/addresses/{id}"), pure and unit-tested. */
#ifndef SQ_ROUTER_H
#define SQ_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sq_req sq_req_t;
typedef void (*sq_handler_fn)(sq_req_t *req);

/** Who may call a route, and with which credentials. */
typedef enum {
    SQ_AUTH_NONE,           /* public: health, metrics, the contract, login */
    SQ_AUTH_STORE,          /* publishable key; a customer token is optional but checked when present */
    SQ_AUTH_STORE_CUSTOMER, /* publishable key and a customer token */
    SQ_AUTH_ADMIN,          /* staff token or secret API key, plus the route's permission */
} sq_auth_kind_t;

enum {
    SQ_RT_AUTH_BODY = 1 << 0,    /* body limited to max_auth_body_bytes (credentials endpoints) */
    SQ_RT_NO_STORE = 1 << 1,     /* Cache-Control: no-store (tokens, secrets) */
    SQ_RT_RATE_LIMITED = 1 << 2, /* documented to answer 429 */
    SQ_RT_UPLOAD = 1 << 3,       /* body is a file: text/csv or application/x-ndjson, up to max_import_bytes */
    SQ_RT_CSV = 1 << 4,          /* answers text/csv (Accept may ask for it); errors stay problem+json */
    SQ_RT_IDEMPOTENT = 1 << 5,   /* honours Idempotency-Key (api/req.c, migrations/0017_idempotency.sql) */
};

struct sq_resource;

typedef struct sq_route {
    const char *method;
    const char *path;
    sq_handler_fn handler;
    sq_auth_kind_t auth;
    const char *perm; /* SQ_AUTH_ADMIN: the permission required */
    unsigned flags;
    const char *const *query;      /* accepted query parameters, NULL-terminated; NULL = none */
    const struct sq_resource *res; /* the resource of the generic handlers (api/handlers/resource.c) */
} sq_route_t;

#define SQ_MAX_PARAMS 4

typedef struct {
    const char *name; /* without braces */
    size_t name_len;
    const char *value;
    size_t len;
} sq_param_t;

typedef struct {
    const sq_route_t *route;
    int index; /* of the route in the table (metrics) */
    int nparams;
    sq_param_t params[SQ_MAX_PARAMS];
    char allow[96]; /* for 405: "GET, PATCH" */
} sq_match_t;

typedef struct sq_router sq_router_t;

/** Compiles the table; NULL with a message on a malformed or duplicate template. The table is borrowed. */
sq_router_t *sq_router_new(const sq_route_t *routes, size_t n, char *errbuf, size_t errlen);
void sq_router_free(sq_router_t *r);
/** 0 with m filled; 404 when no template matches the path; 405 (m->allow set) when only the method is wrong. */
int sq_router_match(const sq_router_t *r, const char *method, size_t mlen, const char *path, size_t plen, sq_match_t *m);
/** The methods a path answers to (for OPTIONS); 0 if the path matches no template. */
int sq_router_allow(const sq_router_t *r, const char *path, size_t plen, char *buf, size_t len);

#endif
