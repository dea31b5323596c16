/* arena.h: reference-counted bump allocator; one per request or background job, freed at once. */
#ifndef SQ_ARENA_H
#define SQ_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sq_arena sq_arena_t;

/** Creates an arena with a reference count of 1. Never returns NULL (allocation failure aborts). */
sq_arena_t *sq_arena_new(void);
/** Takes a reference: async operations hold one while they are in flight. */
void sq_arena_ref(sq_arena_t *a);
/** Drops a reference; at zero runs the deferred cleanups in reverse order and frees all memory. */
void sq_arena_unref(sq_arena_t *a);
/** Returns 16-byte aligned memory owned by the arena. */
void *sq_arena_alloc(sq_arena_t *a, size_t size);
/** Like sq_arena_alloc, zeroed. */
void *sq_arena_zalloc(sq_arena_t *a, size_t size);
/** Copies a NUL-terminated string (NULL stays NULL) into the arena. */
char *sq_arena_strdup(sq_arena_t *a, const char *s);
/** Copies len bytes and appends a NUL. */
char *sq_arena_strndup(sq_arena_t *a, const char *s, size_t len);
/** printf into the arena. */
char *sq_arena_printf(sq_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sq_arena_vprintf(sq_arena_t *a, const char *fmt, va_list ap);
/** Registers fn(p) to run when the arena is freed (e.g. json_decref, PQclear). */
void sq_arena_defer(sq_arena_t *a, void (*fn)(void *), void *p);
/** Bytes handed out so far (for limits and tests). */
size_t sq_arena_used(const sq_arena_t *a);

#define SQ_NEW(a, type) ((type *)sq_arena_zalloc((a), sizeof(type)))

#endif
