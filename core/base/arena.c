/* arena.c: chunked bump allocator with deferred cleanups and a reference count. */
#include "core/base/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/util.h"

#define CHUNK_SIZE 8192 /* a request (sq_req_t is ~5 KiB) and its small allocations fit in the first chunk */

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
} chunk_t;

typedef struct defer {
    struct defer *next;
    void (*fn)(void *);
    void *p;
} defer_t;

struct sq_arena {
    int refs;
    size_t total;
    chunk_t *head;
    defer_t *defers;
};

static chunk_t *chunk_new(size_t cap)
{
    chunk_t *c = sq_xmalloc(sizeof(chunk_t) + cap);
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

sq_arena_t *sq_arena_new(void)
{
    sq_arena_t *a = sq_xmalloc(sizeof(*a));
    a->refs = 1;
    a->total = 0;
    a->head = chunk_new(CHUNK_SIZE - sizeof(chunk_t));
    a->defers = NULL;
    return a;
}

void sq_arena_ref(sq_arena_t *a)
{
    a->refs++;
}

void sq_arena_unref(sq_arena_t *a)
{
    if (--a->refs > 0)
        return;
    /* defers were pushed on a stack, so this runs them in reverse order of registration */
    for (defer_t *d = a->defers; d != NULL; d = d->next)
        d->fn(d->p);
    chunk_t *c = a->head;
    while (c != NULL) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *sq_arena_alloc(sq_arena_t *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    chunk_t *c = a->head;
    if (c->cap - c->used < size) {
        if (size > CHUNK_SIZE / 4) {
            /* a big block gets its own chunk behind the current one, so the current keeps serving small ones */
            chunk_t *big = chunk_new(size);
            big->used = size;
            big->next = c->next;
            c->next = big;
            a->total += size;
            return big->data;
        }
        c = chunk_new(CHUNK_SIZE * 2 - sizeof(chunk_t));
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->total += size;
    return p;
}

void *sq_arena_zalloc(sq_arena_t *a, size_t size)
{
    void *p = sq_arena_alloc(a, size);
    memset(p, 0, size);
    return p;
}

char *sq_arena_strndup(sq_arena_t *a, const char *s, size_t len)
{
    char *d = sq_arena_alloc(a, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *sq_arena_strdup(sq_arena_t *a, const char *s)
{
    return s == NULL ? NULL : sq_arena_strndup(a, s, strlen(s));
}

char *sq_arena_vprintf(sq_arena_t *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    /* one pass for most outputs: glibc sends what does not fit the buffer through a slow overflow path (it was 8% of
     * the server's CPU in a checkout, whose JSON inputs splice the priced cart, about 3 KB) */
    char small[16384];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    char *d;
    if (n < 0) {
        d = sq_arena_strdup(a, "");
    } else if ((size_t)n < sizeof(small)) {
        d = sq_arena_strndup(a, small, (size_t)n);
    } else {
        d = sq_arena_alloc(a, (size_t)n + 1);
        vsnprintf(d, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    return d;
}

char *sq_arena_printf(sq_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = sq_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return d;
}

void sq_arena_defer(sq_arena_t *a, void (*fn)(void *), void *p)
{
    defer_t *d = sq_arena_alloc(a, sizeof(*d));
    d->fn = fn;
    d->p = p;
    d->next = a->defers;
    a->defers = d;
}

size_t sq_arena_used(const sq_arena_t *a)
{
    return a->total;
}
