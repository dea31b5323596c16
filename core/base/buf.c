/* buf.c: arena string builder. */
#include "core/base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void grow(sq_buf_t *b, size_t need)
{
    if (b->len + need + 1 <= b->cap)
        return;
    size_t cap = b->cap * 2 + need + 1;
    char *p = sq_arena_alloc(b->a, cap);
    memcpy(p, b->p, b->len);
    b->p = p;
    b->cap = cap;
}

void sq_buf_init(sq_buf_t *b, sq_arena_t *a, size_t cap)
{
    b->a = a;
    b->cap = cap < 16 ? 16 : cap;
    b->p = sq_arena_alloc(a, b->cap);
    b->len = 0;
    b->p[0] = '\0';
}

void sq_buf_add(sq_buf_t *b, const char *s, size_t n)
{
    grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

char *sq_buf_reserve(sq_buf_t *b, size_t n)
{
    grow(b, n);
    return b->p + b->len;
}

void sq_buf_str(sq_buf_t *b, const char *s)
{
    sq_buf_add(b, s, strlen(s));
}

void sq_buf_printf(sq_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        grow(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}
