/* http.h: the one outbound HTTP client core (webhooks) and the plugin host use, declared without H2O: a request,
 * its answer or the kind of failure, and the pure rules of the egress policy (URL syntax, which addresses are
 * private) that api/http_client.c applies after resolving the host.
 *
 * Egress policy (OWASP API7, reliability.md A1): only http and https; the host is resolved once, every address it
 * resolves to is checked (loopback, private, link-local, multicast, unspecified, CGNAT, ULA, IPv4-mapped forms of
 * these are refused unless inside an allowlisted CIDR), and the connection goes to the checked address (no second
 * lookup, so DNS rebinding between the check and the connect is not possible). Redirects are not followed. */
#ifndef SQ_HTTP_H
#define SQ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/arena.h"

struct sockaddr;

/** Why a request got no HTTP answer. */
typedef enum {
    SQ_HTTP_OK = 0,         /* an answer came (any status) */
    SQ_HTTP_E_INVALID_URL,  /* not an absolute http(s) URL we can parse */
    SQ_HTTP_E_SCHEME,       /* a scheme other than http and https */
    SQ_HTTP_E_DNS,          /* the host does not resolve */
    SQ_HTTP_E_SSRF_BLOCKED, /* the host resolves to an address the egress policy refuses */
    SQ_HTTP_E_REFUSED,      /* connection refused or reset before an answer */
    SQ_HTTP_E_TIMEOUT,      /* connect or total timeout */
    SQ_HTTP_E_TOO_LARGE,    /* the answer is larger than max_response_bytes */
    SQ_HTTP_E_TLS,          /* handshake or certificate failure */
    SQ_HTTP_E_PROTOCOL,     /* a malformed answer */
    SQ_HTTP_E_UNAVAILABLE,  /* no client here (tools, unit tests) */
} sq_http_error_t;

typedef struct {
    const char *name, *value;
} sq_http_header_t;

typedef struct {
    const char *method; /* "POST" */
    const char *url;    /* absolute http:// or https:// URL */
    const sq_http_header_t *headers;
    int nheaders;
    const char *body;
    size_t body_len;
    int connect_timeout_ms;    /* 0: 2000 */
    int total_timeout_ms;      /* 0: 10000; the whole exchange, resolution included */
    size_t max_response_bytes; /* 0: 1 MiB; a larger body fails with SQ_HTTP_E_TOO_LARGE */
    bool check_only;           /* resolve and apply the egress policy, but do not connect (validating a URL) */
} sq_http_request_t;

/** The outcome. Everything lives in the arena of the context that issued the request. */
typedef struct {
    sq_http_error_t error;
    const char *error_detail; /* for logs and delivery records; never contains secrets */
    int status;               /* 0 unless error == SQ_HTTP_OK */
    const sq_http_header_t *headers;
    int nheaders;
    const char *body; /* NUL-terminated copy */
    size_t body_len;
    int64_t duration_us;
    const char *address; /* the address connected to (or refused), numeric */
} sq_http_response_t;

typedef void (*sq_http_cb)(const sq_http_response_t *res, void *data);

/** A short stable name of an error kind ("timeout", "ssrf_blocked", ...). */
const char *sq_http_error_name(sq_http_error_t e);

/* ---- the rules (pure; unit-tested) ----------------------------------------------------------------------- */

/** A parsed URL; strings in the arena. */
typedef struct {
    bool https;
    const char *host; /* without brackets for IPv6 literals */
    int port;
    const char *path;        /* path and query, at least "/" */
    const char *host_header; /* host[:port] as sent in Host */
} sq_url_t;

/** Parses an absolute URL: SQ_HTTP_OK, SQ_HTTP_E_SCHEME (a scheme other than http/https) or SQ_HTTP_E_INVALID_URL
 * (no host, userinfo, a bad port, control characters or spaces, longer than 2048 bytes). */
sq_http_error_t sq_url_parse(sq_arena_t *a, const char *url, sq_url_t *out);

/** A CIDR block (IPv4 blocks are kept as IPv4-mapped IPv6). */
typedef struct {
    uint8_t addr[16];
    int bits;
} sq_cidr_t;

/** Parses a comma-separated CIDR list ("127.0.0.1/32, ::1/128", a bare address means /32 or /128). Returns the
 * count written to out (at most max), or -1 when an entry is malformed (err names it, at most errlen bytes). */
int sq_cidr_parse_list(const char *list, sq_cidr_t *out, int max, char *err, size_t errlen);

/** True when the address (AF_INET or AF_INET6 sockaddr) may not be reached: loopback, RFC 1918, CGNAT, link-local,
 * multicast, unspecified, broadcast, benchmark/documentation and reserved ranges, ULA, and their IPv4-mapped and
 * NAT64 forms; unless it is inside one of allow. */
bool sq_http_addr_blocked(const struct sockaddr *sa, const sq_cidr_t *allow, int nallow);

#endif
