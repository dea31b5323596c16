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

#endif
