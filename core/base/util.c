/* util.c: allocation that aborts on failure, clocks, ALWAYS/NEVER reporting. */
#include "core/base/util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/base/log.h"

static void oom(void)
{
    fputs("souq: out of memory\n", stderr);
    abort();
}

void *sq_xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL)
        oom();
    return p;
}

void *sq_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    if (p == NULL)
        oom();
    return p;
}

void *sq_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL)
        oom();
    return q;
}

char *sq_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sq_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

bool sq_always_failed(const char *expr, const char *file, int line)
{
    sq_log(SQ_LOG_ERROR, "core/base", "internal check failed: %s (%s:%d)", expr, file, line);
#ifdef SQ_DEBUG_ASSERTS
    assert(!"SQ_ALWAYS/SQ_NEVER");
#endif
    return true;
}

int64_t sq_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sq_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
