/* migrate.c: forward-only migrations embedded in the binary, with checksums and an advisory lock. */
#include "core/db/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/embed.h"

#define LOCK_KEY "7297283101" /* an arbitrary constant: souq's migration lock */

static PGconn *connect_blocking(const char *conninfo, sq_err_t *err)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        sq_err_set(err, SQ_E_UNAVAILABLE, "cannot connect to the database: %s", PQerrorMessage(c));
        err->detail[strcspn(err->detail, "\n")] = '\0';
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void notice_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Runs one command; on failure fills err with the server's message (operators see it on the CLI). */
static int exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out, sq_err_t *err)
{
    PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0) : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        sq_err_set(err, SQ_E_INTERNAL, "%s", PQresultErrorMessage(r));
        err->detail[strcspn(err->detail, "\n")] = '\0';
        PQclear(r);
        return -1;
    }
    if (out != NULL)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int version_of(const char *name)
{
    return atoi(name);
}

int sq_migrate(const char *conninfo, bool verbose, sq_err_t *err)
{
    int rc = -1;
    PGresult *applied = NULL;
    PGconn *c = connect_blocking(conninfo, err);
    if (c == NULL)
        return -1;
    PQsetNoticeProcessor(c, notice_quiet, NULL);
    if (exec(c, "SELECT pg_advisory_lock(" LOCK_KEY ")", 0, NULL, NULL, err) != 0)
        goto Exit;
    if (exec(c,
             "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
             "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
             0, NULL, NULL, err) != 0)
        goto Unlock;
    if (exec(c, "SELECT version, name, checksum FROM schema_migrations ORDER BY version", 0, NULL, &applied, err) != 0)
        goto Unlock;

    int napplied = PQntuples(applied);
    for (int i = 0; i < napplied; i++) {
        int v = atoi(PQgetvalue(applied, i, 0));
        const sq_embed_t *m = NULL;
        for (size_t j = 0; j < sq_migrations_count; j++)
            if (version_of(sq_migrations[j].name) == v)
                m = &sq_migrations[j];
        if (m == NULL) {
            sq_err_set(err, SQ_E_CONFLICT,
                       "the database has migration %d (%s) which this binary does not know: is the binary older than the "
                       "database?",
                       v, PQgetvalue(applied, i, 1));
            goto Unlock;
        }
        unsigned char h[32];
        char hex[65];
        sq_sha256(m->data, m->len, h);
        sq_hex(h, 32, hex);
        if (strcmp(hex, PQgetvalue(applied, i, 2)) != 0) {
            sq_err_set(err, SQ_E_CONFLICT, "migration %s was changed after it was applied; add a new migration instead", m->name);
            goto Unlock;
        }
    }
    for (size_t j = 0; j < sq_migrations_count; j++) {
        const sq_embed_t *m = &sq_migrations[j];
        int v = version_of(m->name);
        bool done = false;
        for (int i = 0; i < napplied; i++)
            if (atoi(PQgetvalue(applied, i, 0)) == v)
                done = true;
        if (done)
            continue;
        unsigned char h[32];
        char hex[65], vs[16];
        sq_sha256(m->data, m->len, h);
        sq_hex(h, 32, hex);
        snprintf(vs, sizeof(vs), "%d", v);
        const char *params[3] = {vs, m->name, hex};
        if (exec(c, "BEGIN", 0, NULL, NULL, err) != 0)
            goto Unlock;
        if (exec(c, m->data, 0, NULL, NULL, err) != 0 ||
            exec(c, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3, params, NULL, err) != 0 ||
            exec(c, "COMMIT", 0, NULL, NULL, err) != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s", err->detail);
            sq_err_set(err, SQ_E_INTERNAL, "migration %s failed: %s", m->name, msg);
            PQclear(PQexec(c, "ROLLBACK"));
            goto Unlock;
        }
        if (verbose)
            printf("applied %s\n", m->name);
    }
    rc = 0;
Unlock:
    PQclear(PQexec(c, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
Exit:
    if (applied != NULL)
        PQclear(applied);
    PQfinish(c);
    return rc;
}

int sq_db_preflight(const char *conninfo, sq_preflight_t *out, sq_err_t *err)
{
    PGresult *r = NULL;
    PGconn *c = connect_blocking(conninfo, err);
    if (c == NULL)
        return -1;
    int rc = exec(c,
                  "SELECT current_setting('fsync') = 'on', current_setting('synchronous_commit') <> 'off', "
                  "to_regclass('schema_migrations') IS NOT NULL",
                  0, NULL, &r, err);
    if (rc == 0) {
        out->fsync_on = PQgetvalue(r, 0, 0)[0] == 't';
        out->synchronous_commit_on = PQgetvalue(r, 0, 1)[0] == 't';
        bool has_table = PQgetvalue(r, 0, 2)[0] == 't';
        PQclear(r);
        out->applied = 0;
        out->embedded = (int)sq_migrations_count;
        if (has_table && (rc = exec(c, "SELECT count(*) FROM schema_migrations", 0, NULL, &r, err)) == 0) {
            out->applied = atoi(PQgetvalue(r, 0, 0));
            PQclear(r);
        }
    }
    PQfinish(c);
    return rc;
}

int sq_db_run_script(const char *conninfo, const char *script, const char *query, int nparams, const char *const *params,
                     char **out, sq_err_t *err)
{
    int rc = -1;
    PGresult *r = NULL;
    *out = NULL;
    PGconn *c = connect_blocking(conninfo, err);
    if (c == NULL)
        return -1;
    PQsetNoticeProcessor(c, notice_quiet, NULL);
    if (exec(c, "BEGIN", 0, NULL, NULL, err) != 0)
        goto Exit;
    if (exec(c, script, 0, NULL, NULL, err) != 0 || exec(c, query, nparams, params, &r, err) != 0) {
        PQclear(PQexec(c, "ROLLBACK"));
        goto Exit;
    }
    if (exec(c, "COMMIT", 0, NULL, NULL, err) != 0)
        goto Exit;
    if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
        *out = strdup(PQgetvalue(r, 0, 0));
    rc = 0;
Exit:
    if (r != NULL)
        PQclear(r);
    PQfinish(c);
    return rc;
}
