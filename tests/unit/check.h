/* check.h: the unit tests' assertion macros. Each test binary counts checks and failures and exits non-zero
 * on any failure; no framework, no dependency. */
#ifndef SQ_CHECK_H
#define SQ_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_count, check_failed;

#define CHECK(cond)                                                                                                                \
    do {                                                                                                                           \
        check_count++;                                                                                                             \
        if (!(cond)) {                                                                                                             \
            check_failed++;                                                                                                        \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                                               \
        }                                                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                                                            \
    do {                                                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                                                      \
        check_count++;                                                                                                             \
        if (va_ != vb_) {                                                                                                          \
            check_failed++;                                                                                                        \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, va_, #b, vb_);                     \
        }                                                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                                                            \
    do {                                                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                                                         \
        check_count++;                                                                                                             \
        if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0) {                                                                 \
            check_failed++;                                                                                                        \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, sa_ ? sa_ : "(null)",                \
                    sb_ ? sb_ : "(null)");                                                                                         \
        }                                                                                                                          \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                                                \
    do {                                                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                                                    \
        check_count++;                                                                                                             \
        if (h_ == NULL || strstr(h_, n_) == NULL) {                                                                                \
            check_failed++;                                                                                                        \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, h_ ? h_ : "(null)", n_);                \
        }                                                                                                                          \
    } while (0)

/** Prints the summary; returns the exit code for main. */
static inline int check_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failed);
    return check_failed ? 1 : 0;
}

#endif
