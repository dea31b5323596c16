/* cache.c: tests of core/base/cache.c: hits and misses, generations, the byte bound, replacing, and keys that
 * differ only in bytes the hash might ignore. */
#include "core/base/cache.h"

#include <stdio.h>
#include <string.h>

#include "tests/unit/check.h"

static const char *get(sq_cache_t *c, uint64_t gen, const char *key)
{
    size_t n = 0;
    const char *v = sq_cache_get(c, gen, key, strlen(key), &n);
    static char buf[256];
    if (v == NULL)
        return NULL;
    snprintf(buf, sizeof(buf), "%.*s", (int)n, v);
    return buf;
}

static void put(sq_cache_t *c, uint64_t gen, const char *key, const char *val)
{
    sq_cache_put(c, gen, key, strlen(key), val, strlen(val));
}

static void test_hits_and_generations(void)
{
    sq_cache_t *c = sq_cache_new(1 << 20);
    CHECK(get(c, 1, "a") == NULL);
    put(c, 1, "a", "alpha");
    put(c, 1, "b", "beta");
    CHECK_STR(get(c, 1, "a"), "alpha");
    CHECK_STR(get(c, 1, "b"), "beta");
    CHECK(get(c, 1, "c") == NULL);
    CHECK(get(c, 1, "ab") == NULL);
    put(c, 1, "a", "alpha2"); /* replaced, not duplicated */
    CHECK_STR(get(c, 1, "a"), "alpha2");
    CHECK_INT((int)sq_cache_count(c), 2);
    /* a newer generation misses everything older ... */
    CHECK(get(c, 2, "a") == NULL);
    /* ... a store from a read that began in an older generation is dropped ... */
    put(c, 2, "x", "new");
    put(c, 1, "a", "stale");
    CHECK(get(c, 2, "a") == NULL);
    CHECK(get(c, 1, "a") == NULL);
    /* ... and the first store of the new generation dropped the old entries */
    CHECK_INT((int)sq_cache_count(c), 1);
    CHECK_STR(get(c, 2, "x"), "new");
    /* keys with NUL bytes and values that are empty */
    sq_cache_put(c, 2, "k\0a", 3, "1", 1);
    sq_cache_put(c, 2, "k\0b", 3, "", 0);
    size_t n = 99;
    const char *v = sq_cache_get(c, 2, "k\0a", 3, &n);
    CHECK(v != NULL && n == 1 && v[0] == '1');
    v = sq_cache_get(c, 2, "k\0b", 3, &n);
    CHECK(v != NULL && n == 0);
    sq_cache_free(c);
}

static void test_bounds(void)
{
    sq_cache_t *off = sq_cache_new(0);
    put(off, 1, "a", "alpha");
    CHECK(get(off, 1, "a") == NULL);
    CHECK(sq_cache_evictions(off) == 0);
    sq_cache_free(off);

    sq_cache_t *c = sq_cache_new(4096);
    char key[32], val[600];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        put(c, 1, key, val);
        CHECK(sq_cache_bytes(c) <= 4096);
        CHECK(get(c, 1, key) != NULL); /* the newest entry is always there */
    }
    CHECK(sq_cache_count(c) < 100);
    /* every entry that was dropped for room is an eviction: stored 100, hold count, so 100 - count were evicted */
    CHECK_INT((int)sq_cache_evictions(c), 100 - (int)sq_cache_count(c));
    uint64_t evicted = sq_cache_evictions(c);
    char big[5000];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put(c, 1, "big", big); /* larger than the whole cache: not stored, nothing dropped */
    CHECK(get(c, 1, "big") == NULL);
    CHECK(get(c, 1, "key-99") != NULL);
    CHECK(sq_cache_evictions(c) == evicted);
    put(c, 2, "gen", "x"); /* a new generation drops the old entries: an invalidation, not an eviction */
    CHECK(sq_cache_evictions(c) == evicted);
    sq_cache_free(c);

    /* many entries: the table grows and every key still finds its own value */
    c = sq_cache_new(64 << 20);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        put(c, 7, key, val);
    }
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        const char *g = get(c, 7, key);
        bad += g == NULL || strcmp(g, val) != 0;
    }
    CHECK_INT(bad, 0);
    CHECK_INT((int)sq_cache_count(c), 20000);
    sq_cache_free(c);
    sq_cache_free(NULL);
}

int main(void)
{
    test_hits_and_generations();
    test_bounds();
    return check_done("cache");
}
