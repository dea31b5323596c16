/* db.h: one PostgreSQL connection in libpq pipeline mode, driven by whatever event loop owns it.
 *
 * Work is sent as batches: one or more prepared statements followed by one Sync, so a batch is one
 * implicit transaction (all or nothing) and costs one round trip. Batches complete in FIFO order.
 * Statements are prepared lazily on first use per connection. The loop is abstracted by sq_db_io_t so
 * this layer knows nothing of H2O; api/dbloop.c provides it. */
#ifndef SQ_DB_H
#define SQ_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/arena.h"
#include "core/base/err.h"

/** A named SQL statement with $n parameters. Declare with SQ_STMT; never splice values into sql. Each statement object is
 * prepared under its own id, so names only need to be unique within a file (they show in server logs). */
typedef struct sq_stmt {
    const char *name;
    const char *sql;
    bool readonly; /* a pure read: may share a Sync (one implicit transaction) with other reads */
    int id;        /* assigned on first use, process-wide */
} sq_stmt_t;

#define SQ_STMT(var, text) static sq_stmt_t var = {#var, text, false, 0}
/** A statement that only reads (no writes, no side effects such as NOTIFY or nextval). */
#define SQ_STMT_RO(var, text) static sq_stmt_t var = {#var, text, true, 0}

typedef struct sq_db sq_db_t;
typedef struct sq_batch sq_batch_t;
typedef struct sq_rows sq_rows_t;

/** What the owning event loop provides. All calls happen on the loop's thread. */
typedef struct sq_db_io {
    /* watch fd (a new fd replaces the old one; -1 stops watching) for readability, and writability if want_write */
    void (*watch)(void *ctx, int fd, bool want_write);
    /* call sq_db_on_timer after about ms milliseconds (one pending timer at a time) */
    void (*timer)(void *ctx, int ms);
} sq_db_io_t;

typedef enum { SQ_DB_DISCONNECTED, SQ_DB_CONNECTING, SQ_DB_READY } sq_db_state_t;

/** Creates a connection object; conninfo is a libpq URL or keyword string. Call sq_db_start to connect. */
sq_db_t *sq_db_new(const char *conninfo, const sq_db_io_t *io, void *io_ctx);
/** Starts (re)connecting asynchronously. */
void sq_db_start(sq_db_t *db);
/** Sends what was issued since the last call. The owning loop calls it once per iteration, after handling
 * its events: reads issued in the same iteration then share one round trip. */
void sq_db_pump(sq_db_t *db);
/** The loop calls these when the watched fd is readable/writable or the timer fires. */
void sq_db_on_io(sq_db_t *db, bool readable, bool writable);
void sq_db_on_timer(sq_db_t *db);
sq_db_state_t sq_db_state(const sq_db_t *db);
/** Called about once a second: a connection whose oldest batch waited longer than max_wait_us is
 * treated as dead (a silent network partition), so callers get 503 instead of hanging. */
void sq_db_tick(sq_db_t *db, int64_t max_wait_us);
/** Session timeouts every new connection sets (process-wide; call before threads start). */
void sq_db_set_timeouts(int statement_ms, int lock_ms);
/** Batches sent but not yet completed. */
int sq_db_inflight(const sq_db_t *db);
/** Reconnections since start (for /metrics). */
uint64_t sq_db_reconnects(const sq_db_t *db);
/** Syncs (round trips) and batches sent since start: batches / round trips is the grouping factor. */
uint64_t sq_db_round_trips(const sq_db_t *db);
uint64_t sq_db_batches(const sq_db_t *db);
/** Closes the connection and fails everything pending with SQ_E_UNAVAILABLE. */
void sq_db_close(sq_db_t *db);
/** Closes and frees. */
void sq_db_free(sq_db_t *db);
/** Registers a callback for NOTIFY on channel `souq` (payload passed through). */
void sq_db_on_notify(sq_db_t *db, void (*cb)(const char *payload, void *data), void *data);

typedef void (*sq_batch_cb)(sq_batch_t *b, const sq_err_t *err, void *data);
typedef void (*sq_rows_cb)(sq_rows_t *rows, const sq_err_t *err, void *data);

/** Starts a batch whose results and parameters live in arena a (referenced until completion). */
sq_batch_t *sq_db_batch(sq_db_t *db, sq_arena_t *a);
/** Adds a statement; params (NULL entries are SQL NULL) must stay valid until completion (use the arena). */
void sq_batch_add(sq_batch_t *b, sq_stmt_t *stmt, int nparams, const char *const *params);
/** Queues the batch (sq_db_pump sends it). cb runs exactly once, on the loop thread, possibly before this
 * returns when the database is unavailable. On error, err is set and no statement's effects were committed. */
void sq_batch_send(sq_batch_t *b, sq_batch_cb cb, void *data);
/** Rows of the i-th statement of a completed batch. */
sq_rows_t *sq_batch_rows(sq_batch_t *b, int i);
/** One statement, one round trip. */
void sq_db_query(sq_db_t *db, sq_arena_t *a, sq_stmt_t *stmt, int nparams, const char *const *params, sq_rows_cb cb, void *data);

/* ---- coalesced calls: many callers, one set-based statement ---------------------------------------------------
 * Writes of independent requests (creating carts) cost PostgreSQL far less per call when one statement does many
 * of them: one plan, one executor start, one transaction. A coalesced call gives its input as a JSON value; the
 * calls of one definition issued on a connection while none of its batches is in flight are sent together by the
 * next sq_db_pump, as batches of at most def->max calls whose every statement gets $1 = the JSON array of their
 * inputs. Each statement answers rows whose column 0 is the call's 1-based position in that array (any number per
 * call, any order), and each call gets a copy of its own rows of each statement. Statements must report a call they
 * refuse as rows (or as no rows), never raise for one call: an error fails the whole batch, and every call in it gets
 * the error (callers decide whether to run alone). The trade-off: a call issued while a batch of its definition is
 * in flight waits for that batch (up to one more round trip), so groups grow with load, and a lone call goes out
 * at once. While the connection is down, a call fails at once with SQ_E_UNAVAILABLE, as a batch does. */
typedef struct {
    const char *name;          /* for logs */
    sq_stmt_t *const *stmts;   /* run in this order in one batch */
    int nstmts;
    int max;                   /* calls per batch at most (more are sent in further batches at the same time) */
} sq_coalesce_t;

/** A call's rows: rows[i] of statement i (column 0 is the position; columns from 1 are the statement's answer),
 * copied into the call's arena; err set (rows NULL): none of the batch's statements took effect. */
typedef void (*sq_coalesce_cb)(sq_rows_t *const *rows, const sq_err_t *err, void *data);
/** Queues a coalesced call; input is a JSON value (copied). cb runs once on the loop thread, before this returns when
 * the connection is down. */
void sq_db_coalesce(sq_db_t *db, sq_arena_t *a, const sq_coalesce_t *def, const char *input, sq_coalesce_cb cb, void *data);
/** Coalesced calls and the batches that carried them, since start (calls / batches is the grouping factor). */
uint64_t sq_db_coalesced_calls(const sq_db_t *db);
uint64_t sq_db_coalesced_batches(const sq_db_t *db);

/* Typed getters over a statement's rows; text values live as long as the arena. */
int sq_rows_count(const sq_rows_t *r);
/** Rows affected by INSERT/UPDATE/DELETE. */
int64_t sq_rows_affected(const sq_rows_t *r);
/** Text of a column; NULL for SQL NULL. */
const char *sq_rows_text(const sq_rows_t *r, int row, int col);
int64_t sq_rows_int64(const sq_rows_t *r, int row, int col);
bool sq_rows_bool(const sq_rows_t *r, int row, int col);

/** Maps a SQLSTATE and the server's message to the error type: the one table in the code base. */
void sq_db_map_sqlstate(const char *sqlstate, const char *constraint, const char *message, sq_err_t *err);
/** Notes where a violation is: the column it names, and the body item Souq's SQL functions name in the error's
 * HINT when it is a JSON pointer ("/variants/1"); the domain turns these into the field's pointer. */
void sq_db_map_where(const char *column, const char *hint, sq_err_t *err);

/* ---- resources as JSON built by PostgreSQL ---------------------------------------------------------- */

/** One resource: column 0 of row 0 of a statement (JSON text built in SQL). SQ_E_NOT_FOUND when no row. */
typedef void (*sq_json_cb)(const char *json, const sq_err_t *err, void *data);
void sq_db_json(sq_db_t *db, sq_arena_t *a, sq_stmt_t *stmt, int nparams, const char *const *params, sq_json_cb cb, void *data);
/** Like sq_db_json, for a statement that is the last of a batch. */
void sq_batch_send_json(sq_batch_t *b, sq_json_cb cb, void *data);

/** A page of resources. Statements return (json, cursor_key) rows and are given limit + 1 as a parameter;
 * the extra row only tells whether there is more. */
typedef struct {
    const char **items;
    int n;
    bool has_more;
    const char *next_key; /* key of the last item, when has_more */
} sq_list_t;
typedef void (*sq_list_cb)(const sq_list_t *list, const sq_err_t *err, void *data);
void sq_db_list(sq_db_t *db, sq_arena_t *a, sq_stmt_t *stmt, int nparams, const char *const *params, int limit, sq_list_cb cb,
                void *data);

/** Page request: limit (1..100) and the key to continue after (NULL = first page). */
typedef struct {
    int limit;
    const char *after;
} sq_page_t;

/* ---- parameter helpers ---------------------------------------------------------------------------- */

/** An arena array of n parameter strings (NULL entries are SQL NULL). */
const char **sq_db_params(sq_arena_t *a, int n, ...);
static inline const char *sq_db_bool(bool v)
{
    return v ? "t" : "f";
}
const char *sq_db_int(sq_arena_t *a, int64_t v);

#endif
