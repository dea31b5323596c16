/* auth_db.h: the SQL behind core/auth.c (sessions, refresh tokens, throttling, API keys). Internal to core. */
#ifndef SQ_AUTH_DB_H
#define SQ_AUTH_DB_H

#include "core/auth.h"

typedef void (*sq_login_lookup_cb)(int retry_after, const char *id, const char *hash, bool active, const sq_err_t *err, void *data);
/** One round trip: throttle state of keys (limits per 60 s) and the account by email. */
void sq_auth_db_login_lookup(sq_ctx_t *cx, sq_subject_t type, const char *email, const char *const keys[2], const int limits[2],
                             sq_login_lookup_cb cb, void *data);
/** Counts a failure on each of the keys (window in seconds). */
void sq_auth_db_rate_hit(sq_ctx_t *cx, const char *const *keys, int nkeys, int window_s, sq_done_cb cb, void *data);
/** Seconds until a key reached its limit frees up (0 = allowed); counts the hit when allowed. */
typedef void (*sq_rate_cb)(int retry_after, const sq_err_t *err, void *data);
void sq_auth_db_rate_take(sq_ctx_t *cx, const char *const keys[2], const int limits[2], int window_s, sq_rate_cb cb, void *data);

typedef void (*sq_session_row_cb)(const char *subject_id, const char *session_id, const sq_err_t *err, void *data);
/** Creates a session and its first refresh token; clears clear_key's throttle (may be NULL). */
void sq_auth_db_session_create(sq_ctx_t *cx, sq_subject_t type, const char *subject_id, const char *token_hash, const char *ip,
                               const char *user_agent, const sq_session_policy_t *pol, const char *clear_key, sq_session_row_cb cb,
                               void *data);
/** Rotates: no row (subject_id NULL, no error) when the token is not valid. */
void sq_auth_db_refresh(sq_ctx_t *cx, sq_subject_t type, const char *hash, const char *new_hash, int ttl, sq_session_row_cb cb,
                        void *data);
void sq_auth_db_logout(sq_ctx_t *cx, sq_subject_t type, const char *hash, sq_done_cb cb, void *data);

const char *sq_subject_name(sq_subject_t t);

#endif
