/* migrate.h: schema migrations and start-up checks. Blocking: used by the CLI and before loops start. */
#ifndef SQ_MIGRATE_H
#define SQ_MIGRATE_H

#include <stdbool.h>

#include "core/base/err.h"

/** Applies the embedded migrations not yet in schema_migrations, each in its own transaction, under
 * an advisory lock (concurrent migrators wait, then find nothing to do). Refuses when an applied
 * file's checksum changed or the database has migrations this binary does not know.
 * Progress lines go to stdout when verbose. */
int sq_migrate(const char *conninfo, bool verbose, sq_err_t *err);

typedef struct {
    bool fsync_on;
    bool synchronous_commit_on;
    int applied;  /* rows in schema_migrations (0 if the table is missing) */
    int embedded; /* migrations this binary carries */
} sq_preflight_t;

/** Connects once and reads what serve checks before starting. */
int sq_db_preflight(const char *conninfo, sq_preflight_t *out, sq_err_t *err);

/** Runs script (simple protocol: several statements allowed) and then query with its text parameters, in one
 * transaction on a connection of its own; for CLI tools. *out is a malloc'd copy of the first cell of the query's
 * first row (NULL when it has none); the caller frees it. On failure returns -1 with the server's message in err
 * and nothing is committed. */
int sq_db_run_script(const char *conninfo, const char *script, const char *query, int nparams, const char *const *params,
                     char **out, sq_err_t *err);

#endif
