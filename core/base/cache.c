/* cache.c: see cache.h. Chained hash table with power-of-two buckets, grown when entries outnumber buckets. */
#include "core/base/cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/util.h"

#define MAX_CHAIN 32 /* far beyond what chance gives (entries <= buckets); crafted keys stop here */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    size_t klen, vlen;
    char data[]; /* key, then value */
} entry_t;

struct sq_cache {
    entry_t **buckets;
    size_t nbuckets, count, bytes, max_bytes;
    uint64_t gen, seed;
    uint64_t hits, misses, evictions; /* written by the owner thread only, read by /metrics (relaxed atomics) */
};

static uint64_t hash(const sq_cache_t *c, const char *k, size_t n)
{
    uint64_t h = 14695981039346656037ull ^ c->seed; /* FNV-1a from a secret basis */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

sq_cache_t *sq_cache_new(size_t max_bytes)
{
    sq_cache_t *c = sq_xcalloc(1, sizeof(*c));
    c->max_bytes = max_bytes;
    c->nbuckets = 256;
    c->buckets = sq_xcalloc(c->nbuckets, sizeof(entry_t *));
    sq_random_bytes(&c->seed, sizeof(c->seed));
    return c;
}

static void clear(sq_cache_t *c)
{
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (entry_t *e = c->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
        c->buckets[i] = NULL;
    }
    c->count = c->bytes = 0;
}

void sq_cache_free(sq_cache_t *c)
{
    if (c == NULL)
        return;
    clear(c);
    free(c->buckets);
    free(c);
}

static const void *lookup(sq_cache_t *c, uint64_t gen, const char *key, size_t klen, size_t *vlen)
{
    if (gen != c->gen || c->count == 0)
        return NULL;
    uint64_t h = hash(c, key, klen);
    for (entry_t *e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) {
            *vlen = e->vlen;
            return e->data + klen;
        }
    return NULL;
}

const void *sq_cache_get(sq_cache_t *c, uint64_t gen, const char *key, size_t klen, size_t *vlen)
{
    if (c == NULL)
        return NULL;
    const void *v = lookup(c, gen, key, klen, vlen);
    __atomic_add_fetch(v != NULL ? &c->hits : &c->misses, 1, __ATOMIC_RELAXED);
    return v;
}

static void grow(sq_cache_t *c)
{
    size_t n = c->nbuckets * 2;
    entry_t **b = sq_xcalloc(n, sizeof(entry_t *));
    for (size_t i = 0; i < c->nbuckets; i++)
        for (entry_t *e = c->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

void sq_cache_put(sq_cache_t *c, uint64_t gen, const char *key, size_t klen, const void *val, size_t vlen)
{
    if (c == NULL || gen < c->gen)
        return;
    size_t size = sizeof(entry_t) + klen + vlen;
    if (size > c->max_bytes)
        return;
    if (gen != c->gen) {
        clear(c);
        c->gen = gen;
    }
    if (c->bytes + size > c->max_bytes) {
        __atomic_add_fetch(&c->evictions, c->count, __ATOMIC_RELAXED);
        clear(c);
    }
    uint64_t h = hash(c, key, klen);
    entry_t **slot = &c->buckets[h & (c->nbuckets - 1)];
    int chain = 0;
    for (entry_t **p = slot; *p != NULL; p = &(*p)->next, chain++)
        if ((*p)->hash == h && (*p)->klen == klen && memcmp((*p)->data, key, klen) == 0) {
            entry_t *old = *p;
            *p = old->next;
            c->bytes -= sizeof(entry_t) + old->klen + old->vlen;
            c->count--;
            free(old);
            break;
        }
    if (chain >= MAX_CHAIN)
        return;
    entry_t *e = sq_xmalloc(size);
    e->hash = h;
    e->klen = klen;
    e->vlen = vlen;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, val, vlen);
    e->next = *slot;
    *slot = e;
    c->count++;
    c->bytes += size;
    if (c->count > c->nbuckets)
        grow(c);
}

size_t sq_cache_count(const sq_cache_t *c)
{
    return c != NULL ? __atomic_load_n(&c->count, __ATOMIC_RELAXED) : 0;
}

size_t sq_cache_bytes(const sq_cache_t *c)
{
    return c != NULL ? __atomic_load_n(&c->bytes, __ATOMIC_RELAXED) : 0;
}

uint64_t sq_cache_hits(const sq_cache_t *c)
{
    return c != NULL ? __atomic_load_n(&c->hits, __ATOMIC_RELAXED) : 0;
}

uint64_t sq_cache_misses(const sq_cache_t *c)
{
    return c != NULL ? __atomic_load_n(&c->misses, __ATOMIC_RELAXED) : 0;
}

uint64_t sq_cache_evictions(const sq_cache_t *c)
{
    return c != NULL ? __atomic_load_n(&c->evictions, __ATOMIC_RELAXED) : 0;
}
