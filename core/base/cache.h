/* cache.h: a small in-memory cache of byte strings by key, owned by one thread (no locks). Every entry carries
 * the generation it was computed in; a lookup with a newer generation misses, and the first store of a newer
 * generation drops everything older. Bounded by bytes: a store that would pass the bound empties the cache
 * first (the hot set refills at once). Keys may come from clients: the hash is seeded per cache and chains
 * are capped, so crafted keys cost at most a refusal to store. */
#ifndef SQ_CACHE_H
#define SQ_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sq_cache sq_cache_t;

/** A cache of at most max_bytes of keys and values; max_bytes 0 gives a cache that stores nothing. */
sq_cache_t *sq_cache_new(size_t max_bytes);
void sq_cache_free(sq_cache_t *c);

/** The value stored under key in generation gen, or NULL; valid until the next store or free. */
const void *sq_cache_get(sq_cache_t *c, uint64_t gen, const char *key, size_t klen, size_t *vlen);

/** Stores a copy of val under key for generation gen (an older gen than the cache's is ignored). */
void sq_cache_put(sq_cache_t *c, uint64_t gen, const char *key, size_t klen, const void *val, size_t vlen);

/** Entries and bytes held, lookups that hit and missed (for /metrics and tests; safe to read from another
 * thread, the values may be a moment old). */
size_t sq_cache_count(const sq_cache_t *c);
size_t sq_cache_bytes(const sq_cache_t *c);
uint64_t sq_cache_hits(const sq_cache_t *c);
uint64_t sq_cache_misses(const sq_cache_t *c);
/** Entries dropped to make room for a store (the cache was full); a new generation's drop is not counted. */
uint64_t sq_cache_evictions(const sq_cache_t *c);

#endif
