/* buf.h: a growing string in an arena, for building responses piece by piece. */
#ifndef SQ_BUF_H
#define SQ_BUF_H

#include <stddef.h>

#include "core/base/arena.h"

typedef struct {
    sq_arena_t *a;
    char *p;
    size_t len, cap;
} sq_buf_t;

void sq_buf_init(sq_buf_t *b, sq_arena_t *a, size_t cap);
void sq_buf_add(sq_buf_t *b, const char *s, size_t n);
void sq_buf_str(sq_buf_t *b, const char *s);
/** Room for n more bytes (and a NUL): returns where they go; the caller writes them and adds what it wrote to len. */
char *sq_buf_reserve(sq_buf_t *b, size_t n);
void sq_buf_printf(sq_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
