/* http.c: the egress rules of the outbound HTTP client (URL syntax, private address ranges, allowlists). */
#include "core/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const char *sq_http_error_name(sq_http_error_t e)
{
    switch (e) {
    case SQ_HTTP_OK:
        return "ok";
    case SQ_HTTP_E_INVALID_URL:
        return "invalid_url";
    case SQ_HTTP_E_SCHEME:
        return "scheme_not_allowed";
    case SQ_HTTP_E_DNS:
        return "dns";
    case SQ_HTTP_E_SSRF_BLOCKED:
        return "ssrf_blocked";
    case SQ_HTTP_E_REFUSED:
        return "refused";
    case SQ_HTTP_E_TIMEOUT:
        return "timeout";
    case SQ_HTTP_E_TOO_LARGE:
        return "too_large";
    case SQ_HTTP_E_TLS:
        return "tls";
    case SQ_HTTP_E_PROTOCOL:
        return "protocol";
    case SQ_HTTP_E_UNAVAILABLE:
        return "unavailable";
    }
    return "unknown";
}

#define MAX_URL 2048

sq_http_error_t sq_url_parse(sq_arena_t *a, const char *url, sq_url_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(url);
    if (len == 0 || len > MAX_URL)
        return SQ_HTTP_E_INVALID_URL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return SQ_HTTP_E_INVALID_URL;
    const char *colon = strstr(url, "://");
    if (colon == NULL)
        return strchr(url, ':') != NULL && isalpha((unsigned char)url[0]) ? SQ_HTTP_E_SCHEME : SQ_HTTP_E_INVALID_URL;
    size_t slen = (size_t)(colon - url);
    if (slen == 4 && strncasecmp(url, "http", 4) == 0)
        out->https = false;
    else if (slen == 5 && strncasecmp(url, "https", 5) == 0)
        out->https = true;
    else
        return SQ_HTTP_E_SCHEME;
    const char *auth = colon + 3, *end = auth + strcspn(auth, "/?#");
    if (end == auth || memchr(auth, '@', (size_t)(end - auth)) != NULL)
        return SQ_HTTP_E_INVALID_URL;
    const char *host = auth, *host_end, *port_at = NULL;
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(end - host));
        if (host_end == NULL)
            return SQ_HTTP_E_INVALID_URL;
        if (host_end + 1 < end) {
            if (host_end[1] != ':')
                return SQ_HTTP_E_INVALID_URL;
            port_at = host_end + 2;
        }
        host++;
    } else {
        host_end = memchr(host, ':', (size_t)(end - host));
        if (host_end != NULL)
            port_at = host_end + 1;
        else
            host_end = end;
    }
    if (host_end == host || host_end - host > 253)
        return SQ_HTTP_E_INVALID_URL;
    for (const char *p = host; p < host_end; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_' && *p != ':')
            return SQ_HTTP_E_INVALID_URL;
    out->port = out->https ? 443 : 80;
    if (port_at != NULL) {
        if (port_at == end || end - port_at > 5)
            return SQ_HTTP_E_INVALID_URL;
        int port = 0;
        for (const char *p = port_at; p < end; p++) {
            if (!isdigit((unsigned char)*p))
                return SQ_HTTP_E_INVALID_URL;
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return SQ_HTTP_E_INVALID_URL;
        out->port = port;
    }
    out->host = sq_arena_strndup(a, host, (size_t)(host_end - host));
    for (char *p = (char *)out->host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    out->host_header = sq_arena_strndup(a, auth, (size_t)(end - auth));
    size_t frag = strcspn(end, "#");
    out->path = *end == '/' ? sq_arena_strndup(a, end, frag) : sq_arena_printf(a, "/%.*s", (int)frag, end);
    return SQ_HTTP_OK;
}

/* ---- addresses --------------------------------------------------------------------------------------------- */

static bool in_block(const uint8_t *addr, const uint8_t *net, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(addr, net, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (addr[full] & mask) == (net[full] & mask);
}

static void mapped4(uint8_t out[16], const uint8_t v4[4])
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, v4, 4);
}

int sq_cidr_parse_list(const char *list, sq_cidr_t *out, int max, char *err, size_t errlen)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", ");
        char item[80];
        if (len >= sizeof(item) || n >= max) {
            snprintf(err, errlen, "%.*s: too long or too many entries", (int)(len > 40 ? 40 : len), p);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        p += len;
        char *slash = strchr(item, '/');
        int bits = -1;
        if (slash != NULL) {
            *slash = '\0';
            char *end;
            long b = strtol(slash + 1, &end, 10);
            if (*end != '\0' || slash[1] == '\0' || b < 0 || b > 128) {
                snprintf(err, errlen, "%s: bad prefix length", item);
                return -1;
            }
            bits = (int)b;
        }
        uint8_t v4[4];
        if (inet_pton(AF_INET, item, v4) == 1) {
            if (bits > 32) {
                snprintf(err, errlen, "%s: bad prefix length", item);
                return -1;
            }
            mapped4(out[n].addr, v4);
            out[n].bits = 96 + (bits < 0 ? 32 : bits);
        } else if (inet_pton(AF_INET6, item, out[n].addr) == 1) {
            out[n].bits = bits < 0 ? 128 : bits;
        } else {
            snprintf(err, errlen, "%s: not an IPv4 or IPv6 address", item);
            return -1;
        }
        n++;
    }
    return n;
}

/* Refused IPv4 ranges (RFC 6890 special-purpose registry, less the globally reachable ones). */
static const struct {
    uint8_t net[4];
    int bits;
} v4_blocked[] = {
    {{0, 0, 0, 0}, 8},       /* "this network", unspecified */
    {{10, 0, 0, 0}, 8},      /* RFC 1918 */
    {{100, 64, 0, 0}, 10},   /* CGNAT */
    {{127, 0, 0, 0}, 8},     /* loopback */
    {{169, 254, 0, 0}, 16},  /* link-local (cloud metadata) */
    {{172, 16, 0, 0}, 12},   /* RFC 1918 */
    {{192, 0, 0, 0}, 24},    /* IETF protocol assignments */
    {{192, 0, 2, 0}, 24},    /* documentation */
    {{192, 88, 99, 0}, 24},  /* 6to4 relay anycast */
    {{192, 168, 0, 0}, 16},  /* RFC 1918 */
    {{198, 18, 0, 0}, 15},   /* benchmarking */
    {{198, 51, 100, 0}, 24}, /* documentation */
    {{203, 0, 113, 0}, 24},  /* documentation */
    {{224, 0, 0, 0}, 4},     /* multicast */
    {{240, 0, 0, 0}, 4},     /* reserved, broadcast */
};

static bool v4_refused(const uint8_t *a)
{
    for (size_t i = 0; i < sizeof(v4_blocked) / sizeof(v4_blocked[0]); i++)
        if (in_block(a, v4_blocked[i].net, v4_blocked[i].bits))
            return true;
    return false;
}

bool sq_http_addr_blocked(const struct sockaddr *sa, const sq_cidr_t *allow, int nallow)
{
    uint8_t a[16];
    if (sa->sa_family == AF_INET)
        mapped4(a, (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
    else if (sa->sa_family == AF_INET6)
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    else
        return true;
    for (int i = 0; i < nallow; i++)
        if (in_block(a, allow[i].addr, allow[i].bits))
            return false;
    static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t compat_prefix[12] = {0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, mapped_prefix, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return v4_refused(a + 12);
    if (memcmp(a, compat_prefix, 12) == 0) /* ::, ::1 and the deprecated IPv4-compatible form */
        return true;
    static const struct {
        uint8_t net[16];
        int bits;
    } v6_blocked[] = {
        {{0xfc}, 7},                    /* unique local */
        {{0xfe, 0x80}, 10},             /* link-local */
        {{0xfe, 0xc0}, 10},             /* site-local (deprecated) */
        {{0xff}, 8},                    /* multicast */
        {{0x20, 0x01, 0x0d, 0xb8}, 32}, /* documentation */
        {{0x20, 0x02}, 16},             /* 6to4: embeds any IPv4 address */
        {{0x20, 0x01, 0x00, 0x00}, 32}, /* Teredo */
        {{0x01, 0x00}, 64},             /* discard-only */
    };
    for (size_t i = 0; i < sizeof(v6_blocked) / sizeof(v6_blocked[0]); i++)
        if (in_block(a, v6_blocked[i].net, v6_blocked[i].bits))
            return true;
    return false;
}
