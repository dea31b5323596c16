/* Unit tests of core/http.c: URL parsing, CIDR lists and the private-address policy of outbound HTTP. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/http.h"
#include "tests/unit/check.h"

static bool blocked(const char *ip, const sq_cidr_t *allow, int n)
{
    struct sockaddr_in in4 = {0};
    struct sockaddr_in6 in6 = {0};
    if (inet_pton(AF_INET, ip, &in4.sin_addr) == 1) {
        in4.sin_family = AF_INET;
        return sq_http_addr_blocked((struct sockaddr *)&in4, allow, n);
    }
    if (inet_pton(AF_INET6, ip, &in6.sin6_addr) != 1) {
        fprintf(stderr, "bad test address %s\n", ip);
        return false;
    }
    in6.sin6_family = AF_INET6;
    return sq_http_addr_blocked((struct sockaddr *)&in6, allow, n);
}

static void test_urls(sq_arena_t *a)
{
    sq_url_t u;
    CHECK_INT(sq_url_parse(a, "https://Hooks.Example.com/x?y=1#frag", &u), SQ_HTTP_OK);
    CHECK(u.https);
    CHECK_STR(u.host, "hooks.example.com");
    CHECK_INT(u.port, 443);
    CHECK_STR(u.path, "/x?y=1");
    CHECK_INT(sq_url_parse(a, "http://127.0.0.1:8081", &u), SQ_HTTP_OK);
    CHECK_STR(u.path, "/");
    CHECK_INT(u.port, 8081);
    CHECK_STR(u.host_header, "127.0.0.1:8081");
    CHECK_INT(sq_url_parse(a, "http://[::1]:9/a", &u), SQ_HTTP_OK);
    CHECK_STR(u.host, "::1");
    CHECK_INT(u.port, 9);
    CHECK_INT(sq_url_parse(a, "ftp://example.com/", &u), SQ_HTTP_E_SCHEME);
    CHECK_INT(sq_url_parse(a, "file:///etc/passwd", &u), SQ_HTTP_E_SCHEME);
    CHECK_INT(sq_url_parse(a, "gopher://x", &u), SQ_HTTP_E_SCHEME);
    CHECK_INT(sq_url_parse(a, "javascript:alert(1)", &u), SQ_HTTP_E_SCHEME);
    CHECK_INT(sq_url_parse(a, "example.com/path", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "http://", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "http://user:pw@example.com/", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "http://example.com:0/", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "http://example.com:65536/", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "http://example.com:80x/", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "http://exa mple.com/", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "http://example.com/\r\nX: y", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "http://[::1/", &u), SQ_HTTP_E_INVALID_URL);
    CHECK_INT(sq_url_parse(a, "", &u), SQ_HTTP_E_INVALID_URL);
}

static void test_policy(void)
{
    const char *refused[] = {"127.0.0.1",
                             "127.1.2.3",
                             "10.0.0.1",
                             "172.16.0.1",
                             "172.31.255.255",
                             "192.168.1.1",
                             "169.254.169.254",
                             "0.0.0.0",
                             "100.64.0.1",
                             "224.0.0.1",
                             "255.255.255.255",
                             "::1",
                             "::",
                             "fe80::1",
                             "fc00::1",
                             "fd12:3456::1",
                             "ff02::1",
                             "::ffff:127.0.0.1",
                             "::ffff:10.1.2.3",
                             "64:ff9b::a9fe:a9fe",
                             "2002:7f00:1::",
                             "::127.0.0.1",
                             NULL};
    for (const char **r = refused; *r; r++)
        if (!blocked(*r, NULL, 0)) {
            check_count++, check_failed++;
            fprintf(stderr, "%s should be refused\n", *r);
        }
    const char *allowed[] = {"93.184.216.34", "8.8.8.8", "172.32.0.1", "192.169.0.1", "2606:4700::1111", "::ffff:8.8.8.8", NULL};
    for (const char **r = allowed; *r; r++)
        if (blocked(*r, NULL, 0)) {
            check_count++, check_failed++;
            fprintf(stderr, "%s should be allowed\n", *r);
        }
    check_count += 2;

    sq_cidr_t allow[4];
    char err[128];
    int n = sq_cidr_parse_list("127.0.0.1/32, 10.1.0.0/16,::1", allow, 4, err, sizeof(err));
    CHECK_INT(n, 3);
    CHECK(!blocked("127.0.0.1", allow, n));
    CHECK(blocked("127.0.0.2", allow, n));
    CHECK(!blocked("10.1.200.3", allow, n));
    CHECK(blocked("10.2.0.1", allow, n));
    CHECK(!blocked("::1", allow, n));
    CHECK(!blocked("::ffff:127.0.0.1", allow, n)); /* the mapped form is the same address */
    CHECK(blocked("169.254.169.254", allow, n));
    CHECK_INT(sq_cidr_parse_list("", allow, 4, err, sizeof(err)), 0);
    CHECK_INT(sq_cidr_parse_list("10.0.0.0/33", allow, 4, err, sizeof(err)), -1);
    CHECK_CONTAINS(err, "prefix");
    CHECK_INT(sq_cidr_parse_list("localhost", allow, 4, err, sizeof(err)), -1);
    CHECK_INT(sq_cidr_parse_list("1.2.3.4/", allow, 4, err, sizeof(err)), -1);
    CHECK_INT(sq_cidr_parse_list("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", allow, 4, err, sizeof(err)), -1);
}

int main(void)
{
    sq_arena_t *a = sq_arena_new();
    test_urls(a);
    test_policy();
    CHECK_STR(sq_http_error_name(SQ_HTTP_E_SSRF_BLOCKED), "ssrf_blocked");
    CHECK_STR(sq_http_error_name(SQ_HTTP_E_TIMEOUT), "timeout");
    sq_arena_unref(a);
    return check_done("http");
}
