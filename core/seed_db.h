/* seed_db.h: the SQL of seeding. Internal to core. */
#ifndef SQ_SEED_DB_H
#define SQ_SEED_DB_H

#include "core/auth.h"
#include "core/seed.h"

typedef void (*sq_seed_base_cb)(const char *channel_id, const char *publishable_key, bool has_owner, const sq_err_t *err,
                                void *data);
/** Currencies, default channel and its first publishable key (token used only if none exists). */
void sq_seed_db_base(sq_ctx_t *cx, const char *token, const char *hash, const char *redacted, sq_seed_base_cb cb, void *data);
void sq_seed_db_owner(sq_ctx_t *cx, const char *email, const char *hash, sq_done_cb cb, void *data);

#endif
