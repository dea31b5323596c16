/* syncloop.h: drive a sq_db_t with poll(2) until a callback has run. For CLI commands and tests, so that
 * they use exactly the same async core code as the server. Never used on a server loop thread. */
#ifndef SQ_SYNCLOOP_H
#define SQ_SYNCLOOP_H

#include <stdbool.h>

#include "core/ctx.h"

typedef struct sq_syncdb sq_syncdb_t;

/** Connects (waiting up to timeout_ms); NULL with err set on failure. */
sq_syncdb_t *sq_syncdb_connect(const char *conninfo, int timeout_ms, sq_err_t *err);
/** A context on this connection with a fresh arena and inline offload. Free with sq_syncdb_ctx_free. */
sq_ctx_t *sq_syncdb_ctx(sq_syncdb_t *s);
void sq_syncdb_ctx_free(sq_ctx_t *cx);
/** Runs the loop until *done becomes true; -1 if timeout_ms passes first. */
int sq_syncdb_wait(sq_syncdb_t *s, const bool *done, int timeout_ms);
void sq_syncdb_close(sq_syncdb_t *s);

#endif
