/* router.c: tests of api/router.c: templates, precedence, parameters, 404/405 and the real route table. */
#include "api/router.h"

#include <stdlib.h>

#include "api/routes.h"
#include "tests/unit/check.h"

static void h(sq_req_t *req)
{
    (void)req;
}

static const sq_route_t table[] = {
    {"GET", "/v1/store/customers/me", h, SQ_AUTH_NONE, NULL, 0, NULL},
    {"PATCH", "/v1/store/customers/me", h, SQ_AUTH_NONE, NULL, 0, NULL},
    {"GET", "/v1/store/customers/{id}", h, SQ_AUTH_NONE, NULL, 0, NULL},
    {"DELETE", "/v1/store/customers/{id}", h, SQ_AUTH_NONE, NULL, 0, NULL},
    {"GET", "/v1/orders/{order}/lines/{line}", h, SQ_AUTH_NONE, NULL, 0, NULL},
    {"GET", "/", h, SQ_AUTH_NONE, NULL, 0, NULL},
};

static int match(sq_router_t *r, const char *method, const char *path, sq_match_t *m)
{
    return sq_router_match(r, method, strlen(method), path, strlen(path), m);
}

static void test_literal_beats_parameter(sq_router_t *r)
{
    sq_match_t m;
    CHECK_INT(match(r, "GET", "/v1/store/customers/me", &m), 0);
    CHECK(m.route == &table[0]);
    CHECK_INT(m.nparams, 0);
    CHECK_INT(match(r, "GET", "/v1/store/customers/cus_1", &m), 0);
    CHECK(m.route == &table[2]);
    CHECK_INT(m.nparams, 1);
    CHECK_INT(m.params[0].len, 5);
    CHECK(memcmp(m.params[0].value, "cus_1", 5) == 0);
    CHECK(m.params[0].name_len == 2 && memcmp(m.params[0].name, "id", 2) == 0);
}

static void test_parameters(sq_router_t *r)
{
    sq_match_t m;
    CHECK_INT(match(r, "GET", "/v1/orders/o1/lines/l22", &m), 0);
    CHECK_INT(m.nparams, 2);
    CHECK(m.params[0].len == 2 && memcmp(m.params[0].value, "o1", 2) == 0);
    CHECK(m.params[1].len == 3 && memcmp(m.params[1].value, "l22", 3) == 0);
    CHECK_INT(m.index, 4);
    CHECK_INT(match(r, "GET", "/", &m), 0);
    CHECK(m.route == &table[5]);
}

static void test_not_found(sq_router_t *r)
{
    sq_match_t m;
    CHECK_INT(match(r, "GET", "/v1/nope", &m), 404);
    CHECK_INT(match(r, "GET", "/v1/store/customers/me/", &m), 404); /* trailing slash */
    CHECK_INT(match(r, "GET", "/v1/store//customers", &m), 404);    /* empty segment */
    CHECK_INT(match(r, "GET", "", &m), 404);
    CHECK_INT(match(r, "GET", "v1/store/customers/me", &m), 404); /* not absolute */
    CHECK_INT(match(r, "GET", "/v1/orders/o1/lines", &m), 404);   /* too short */
    CHECK_INT(match(r, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o", &m), 404);
    CHECK(m.route == NULL);
}

static void test_method_not_allowed(sq_router_t *r)
{
    sq_match_t m;
    CHECK_INT(match(r, "PUT", "/v1/store/customers/me", &m), 405);
    CHECK_STR(m.allow, "GET, PATCH");
    /* DELETE exists on /customers/{id} but /customers/me is its own resource */
    CHECK_INT(match(r, "DELETE", "/v1/store/customers/me", &m), 405);
    CHECK_STR(m.allow, "GET, PATCH");
    CHECK_INT(match(r, "POST", "/v1/store/customers/x", &m), 405);
    CHECK_STR(m.allow, "GET, DELETE");
    CHECK_INT(match(r, "get", "/v1/store/customers/me", &m), 405); /* methods are case-sensitive */
    char allow[96];
    CHECK_INT(sq_router_allow(r, "/v1/store/customers/me", strlen("/v1/store/customers/me"), allow, sizeof(allow)), 1);
    CHECK_STR(allow, "GET, PATCH");
    CHECK_INT(sq_router_allow(r, "/nothing", 8, allow, sizeof(allow)), 0);
}

static void test_bad_tables(void)
{
    char err[200];
    sq_route_t dup[] = {{"GET", "/a", h, SQ_AUTH_NONE, NULL, 0, NULL}, {"GET", "/a", h, SQ_AUTH_NONE, NULL, 0, NULL}};
    CHECK(sq_router_new(dup, 2, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "defined twice");
    /* templates that differ only in parameter names match the same paths: the second could never match */
    sq_route_t dup2[] = {{"GET", "/x/{id}/y", h, SQ_AUTH_NONE, NULL, 0, NULL}, {"GET", "/x/{key}/y", h, SQ_AUTH_NONE, NULL, 0, NULL}};
    CHECK(sq_router_new(dup2, 2, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "defined twice");
    sq_route_t distinct[] = {{"GET", "/x/{id}", h, SQ_AUTH_NONE, NULL, 0, NULL}, {"GET", "/x/me", h, SQ_AUTH_NONE, NULL, 0, NULL}};
    sq_router_t *ok = sq_router_new(distinct, 2, err, sizeof(err));
    CHECK(ok != NULL);
    sq_router_free(ok);
    sq_route_t bad[] = {{"GET", "/a//b", h, SQ_AUTH_NONE, NULL, 0, NULL}};
    CHECK(sq_router_new(bad, 1, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "malformed");
    sq_route_t rel[] = {{"GET", "a/b", h, SQ_AUTH_NONE, NULL, 0, NULL}};
    CHECK(sq_router_new(rel, 1, err, sizeof(err)) == NULL);
    sq_route_t many[] = {{"GET", "/{a}/{b}/{c}/{d}/{e}", h, SQ_AUTH_NONE, NULL, 0, NULL}};
    CHECK(sq_router_new(many, 1, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "too many parameters");
}

/* The real table compiles, every route matches itself, and admin routes name a permission or are /users/me. */
static void test_real_table(void)
{
    char err[200];
    sq_router_t *r = sq_router_new(sq_routes, sq_routes_count, err, sizeof(err));
    CHECK(r != NULL);
    if (r == NULL)
        return;
    for (size_t i = 0; i < sq_routes_count; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s", sq_routes[i].path);
        char *p;
        while ((p = strstr(path, "{id}")) != NULL)
            memcpy(p, "xxxx", 4);
        sq_match_t m;
        CHECK_INT(match(r, sq_routes[i].method, path, &m), 0);
        CHECK(m.route == &sq_routes[i]);
        if (sq_routes[i].auth == SQ_AUTH_ADMIN)
            CHECK(sq_routes[i].perm != NULL || strcmp(sq_routes[i].path, "/v1/admin/users/me") == 0);
        else
            CHECK(sq_routes[i].perm == NULL);
    }
    sq_router_free(r);
}

int main(void)
{
    char err[200];
    sq_router_t *r = sq_router_new(table, sizeof(table) / sizeof(table[0]), err, sizeof(err));
    CHECK(r != NULL);
    if (r == NULL)
        return check_done("router");
    test_literal_beats_parameter(r);
    test_parameters(r);
    test_not_found(r);
    test_method_not_allowed(r);
    test_bad_tables();
    test_real_table();
    sq_router_free(r);
    return check_done("router");
}
