/* seed.h: the data a fresh store needs (currencies, a default sales channel and its publishable key, an
 * owner account). Idempotent: running it again changes nothing that exists. */
#ifndef SQ_SEED_H
#define SQ_SEED_H

#include <stdbool.h>

#include "core/ctx.h"

typedef struct {
    const char *owner_email;
    const char *owner_password; /* NULL: generate one (printed once by the caller) */
} sq_seed_input_t;

typedef struct {
    const char *channel_id;
    const char *publishable_key; /* the default channel's first publishable key */
    bool owner_created;
    const char *owner_email;
    const char *owner_password; /* set when it was generated */
} sq_seed_result_t;

typedef void (*sq_seed_cb)(const sq_seed_result_t *r, const sq_err_t *err, void *data);
void sq_seed(sq_ctx_t *cx, const sq_seed_input_t *in, sq_seed_cb cb, void *data);

/** The demo catalog's size (products); the bench catalog takes any size up to SQ_SEED_BENCH_MAX. */
#define SQ_SEED_DEMO_PRODUCTS 200
#define SQ_SEED_BENCH_MAX 1000000

/** Blocking, for the CLI after sq_seed: builds the demo catalog (demo: SQ_SEED_DEMO_PRODUCTS products with German
 * translations) or a benchmark catalog of `products` products, in one transaction, unless the catalog already has
 * products, categories or collections. Returns the summary as JSON ({"seeded": false, "reason": ...} when it did
 * nothing), malloc'd: the caller frees it; NULL with err on failure (nothing is written then). */
char *sq_seed_catalog(const char *conninfo, bool demo, int products, sq_err_t *err);

#endif
