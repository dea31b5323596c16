/* util.h: small helpers every layer uses: checked allocation, ALWAYS/NEVER, time, string slices. */
#ifndef SQ_UTIL_H
#define SQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** malloc/calloc/realloc/strdup that abort on failure: business code never checks for NULL. */
void *sq_xmalloc(size_t n);
void *sq_xcalloc(size_t n, size_t size);
void *sq_xrealloc(void *p, size_t n);
char *sq_xstrdup(const char *s);

/** Logs and survives a "cannot happen" condition in production; asserts in debug builds. */
bool sq_always_failed(const char *expr, const char *file, int line);
#define SQ_ALWAYS(x) ((x) ? true : !sq_always_failed(#x, __FILE__, __LINE__))
#define SQ_NEVER(x) ((x) ? sq_always_failed(#x, __FILE__, __LINE__) : false)

/** Wall clock in microseconds since the epoch. */
int64_t sq_now_us(void);
/** Monotonic clock in microseconds. */
int64_t sq_mono_us(void);

#define SQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
