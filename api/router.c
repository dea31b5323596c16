/* router.c: templates compiled to segment lists; a match walks the routes with the same depth. */
#include "api/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/util.h"

#define MAX_SEGS 12

typedef struct {
    const char *s;
    size_t len;
    bool param;
} seg_t;

typedef struct {
    const sq_route_t *route;
    int nsegs;
    seg_t segs[MAX_SEGS];
} compiled_t;

struct sq_router {
    compiled_t *routes;
    size_t n;
};

/* Splits "/a/b/c" into segments; -1 on "", "//", a trailing "/" or too many segments. */
/* True if two templates match the same paths: /a/{id} and /a/{key} are one template, /a/me is another. */
static bool same_template(const compiled_t *a, const compiled_t *b)
{
    if (a->nsegs != b->nsegs)
        return false;
    for (int k = 0; k < a->nsegs; k++) {
        if (a->segs[k].param != b->segs[k].param)
            return false;
        if (!a->segs[k].param && (a->segs[k].len != b->segs[k].len || memcmp(a->segs[k].s, b->segs[k].s, a->segs[k].len) != 0))
            return false;
    }
    return true;
}

static int split(const char *path, size_t len, seg_t *segs)
{
    if (len == 0 || path[0] != '/')
        return -1;
    if (len == 1)
        return 0;
    int n = 0;
    size_t i = 1;
    while (i <= len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (j == i || n == MAX_SEGS)
            return -1;
        segs[n].s = path + i;
        segs[n].len = j - i;
        segs[n].param = false;
        n++;
        i = j + 1;
    }
    return n;
}

sq_router_t *sq_router_new(const sq_route_t *routes, size_t n, char *errbuf, size_t errlen)
{
    sq_router_t *r = sq_xcalloc(1, sizeof(*r));
    r->routes = sq_xcalloc(n, sizeof(compiled_t));
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        compiled_t *c = &r->routes[i];
        c->route = &routes[i];
        c->nsegs = split(routes[i].path, strlen(routes[i].path), c->segs);
        if (c->nsegs < 0) {
            snprintf(errbuf, errlen, "route %s %s: malformed path", routes[i].method, routes[i].path);
            goto Error;
        }
        int nparams = 0;
        for (int k = 0; k < c->nsegs; k++) {
            seg_t *s = &c->segs[k];
            if (s->len >= 2 && s->s[0] == '{' && s->s[s->len - 1] == '}') {
                s->param = true;
                s->s++;
                s->len -= 2;
                nparams++;
            }
        }
        if (nparams > SQ_MAX_PARAMS) {
            snprintf(errbuf, errlen, "route %s %s: too many parameters", routes[i].method, routes[i].path);
            goto Error;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(routes[j].method, routes[i].method) == 0 && same_template(&r->routes[j], c)) {
                snprintf(errbuf, errlen, "route %s %s: defined twice", routes[i].method, routes[i].path);
                goto Error;
            }
    }
    return r;
Error:
    sq_router_free(r);
    return NULL;
}

void sq_router_free(sq_router_t *r)
{
    if (r == NULL)
        return;
    free(r->routes);
    free(r);
}

/* Literal segments beat parameters, so /customers/me wins over /customers/{id}. Returns a score or -1. */
static int match_path(const compiled_t *c, const seg_t *segs, int n)
{
    if (c->nsegs != n)
        return -1;
    int score = 0;
    for (int k = 0; k < n; k++) {
        if (c->segs[k].param) {
            continue;
        }
        if (c->segs[k].len != segs[k].len || memcmp(c->segs[k].s, segs[k].s, segs[k].len) != 0)
            return -1;
        score += 1 << (MAX_SEGS - k);
    }
    return score;
}

static void add_allow(char *buf, size_t len, const char *method)
{
    if (strstr(buf, method) != NULL)
        return;
    snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "", method);
}

int sq_router_match(const sq_router_t *r, const char *method, size_t mlen, const char *path, size_t plen, sq_match_t *m)
{
    seg_t segs[MAX_SEGS];
    int n = split(path, plen, segs);
    m->route = NULL;
    m->allow[0] = '\0';
    if (n < 0)
        return 404;
    int best = -1, best_any = -1;
    const compiled_t *winner = NULL;
    for (size_t i = 0; i < r->n; i++) {
        int score = match_path(&r->routes[i], segs, n);
        if (score < 0)
            continue;
        if (score > best_any)
            best_any = score;
        if (strlen(r->routes[i].route->method) == mlen && memcmp(r->routes[i].route->method, method, mlen) == 0 && score > best) {
            best = score;
            winner = &r->routes[i];
            m->index = (int)i;
        }
    }
    if (winner == NULL || best < best_any) {
        if (best_any < 0)
            return 404;
        /* the path exists: list the methods of the most specific template(s) */
        for (size_t i = 0; i < r->n; i++)
            if (match_path(&r->routes[i], segs, n) == best_any)
                add_allow(m->allow, sizeof(m->allow), r->routes[i].route->method);
        /* also when the method exists only on a less specific template: /customers/me is its own resource */
        return 405;
    }
    m->route = winner->route;
    m->nparams = 0;
    for (int k = 0; k < n; k++)
        if (winner->segs[k].param)
            m->params[m->nparams++] = (sq_param_t){winner->segs[k].s, winner->segs[k].len, segs[k].s, segs[k].len};
    return 0;
}

int sq_router_allow(const sq_router_t *r, const char *path, size_t plen, char *buf, size_t len)
{
    sq_match_t m;
    buf[0] = '\0';
    int rc = sq_router_match(r, "\x01", 1, path, plen, &m);
    if (rc == 405)
        snprintf(buf, len, "%s", m.allow);
    return rc == 405 ? 1 : 0;
}
