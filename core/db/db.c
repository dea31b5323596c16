/* db.c: the pipelined, loop-driven libpq connection (see db.h for the model).
 *
 * Batches are queued as they are issued and sent by sq_db_pump(), which the owning loop calls once per
 * iteration. libpq 15 flushes the socket on every Sync, so the pump puts consecutive single-statement
 * read-only batches under one Sync: one send() and one implicit transaction in PostgreSQL for the whole
 * group. If a statement of a group fails, PostgreSQL aborts the rest of the group; those batches did not
 * fail themselves and are sent again, alone. Everything else gets a Sync of its own. */
#include "core/db/db.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/util.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 1000
#define MAX_GROUP 64

struct sq_rows {
    PGresult *res;
    /* a coalesced call's rows (res NULL): n rows of ncols values copied into the call's arena, NULL for SQL NULL */
    const char **vals;
    int n, ncols;
};

typedef struct {
    sq_stmt_t *stmt;
    int nparams;
    const char *const *params;
} item_t;

struct sq_batch {
    sq_db_t *db;
    sq_arena_t *arena;
    item_t *items;
    int n, cap;
    sq_rows_t *rows;
    bool failed;  /* a statement of this batch failed: err says why */
    bool aborted; /* not run because another batch of its group failed: send again */
    bool solo;    /* never group (it was aborted once) */
    int retries;  /* sent again after a serialization failure or deadlock */
    sq_err_t *err;
    sq_batch_cb cb;
    void *data;
    sq_batch_t *next; /* in the unsent queue */
};

/* One expected result of a segment: a statement of a batch, or the Prepare that precedes it. */
typedef struct {
    sq_batch_t *b;
    int item;
    bool prepare;
} slot_t;

/* What was sent up to one Sync: the slots in result order and the batches to complete at the Sync. */
typedef struct seg {
    struct seg *next;
    slot_t *slots;
    int nslots, cap, cur;
    bool got; /* a result arrived for slots[cur]; the NULL that follows advances cur */
    sq_batch_t **batches;
    int nbatches, bcap;
    int64_t sent_at;
} seg_t;

struct sq_db {
    PGconn *conn;
    char *conninfo;
    const sq_db_io_t *io;
    void *io_ctx;
    sq_db_state_t state;
    int fd;
    unsigned char *prepared;
    int prepared_cap;
    sq_batch_t *out_head, *out_tail; /* issued, not yet sent (also while connecting) */
    seg_t *seg_head, *seg_tail;      /* sent, waiting for results (FIFO) */
    seg_t *free_segs;
    int64_t connect_started;
    int inflight;
    int backoff_ms;
    bool timer_pending;
    uint64_t reconnects;
    uint64_t segments; /* Syncs sent: round trips */
    uint64_t batches;  /* batches sent */
    bool ever_connected;
    struct coal *coals; /* coalesced calls by definition (sq_db_coalesce) */
    uint64_t coal_calls, coal_batches;
    void (*notify_cb)(const char *payload, void *data);
    void *notify_data;
};

static int next_stmt_id = 0;

static int stmt_id(sq_stmt_t *s)
{
    int id = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
    if (id != 0)
        return id;
    int fresh = __atomic_add_fetch(&next_stmt_id, 1, __ATOMIC_ACQ_REL);
    int expected = 0;
    if (__atomic_compare_exchange_n(&s->id, &expected, fresh, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return fresh;
    return expected;
}

static bool is_prepared(sq_db_t *db, int id)
{
    return id < db->prepared_cap && db->prepared[id];
}

static void set_prepared(sq_db_t *db, int id, bool v)
{
    if (id >= db->prepared_cap) {
        int cap = db->prepared_cap ? db->prepared_cap : 64;
        while (cap <= id)
            cap *= 2;
        db->prepared = sq_xrealloc(db->prepared, (size_t)cap);
        memset(db->prepared + db->prepared_cap, 0, (size_t)(cap - db->prepared_cap));
        db->prepared_cap = cap;
    }
    db->prepared[id] = v;
}

sq_db_t *sq_db_new(const char *conninfo, const sq_db_io_t *io, void *io_ctx)
{
    sq_db_t *db = sq_xcalloc(1, sizeof(*db));
    db->conninfo = sq_xstrdup(conninfo);
    db->io = io;
    db->io_ctx = io_ctx;
    db->fd = -1;
    db->state = SQ_DB_DISCONNECTED;
    db->backoff_ms = RECONNECT_MIN_MS;
    return db;
}

sq_db_state_t sq_db_state(const sq_db_t *db)
{
    return db->state;
}

int sq_db_inflight(const sq_db_t *db)
{
    return db->inflight;
}

uint64_t sq_db_reconnects(const sq_db_t *db)
{
    return db->reconnects;
}

uint64_t sq_db_round_trips(const sq_db_t *db)
{
    return __atomic_load_n(&db->segments, __ATOMIC_RELAXED);
}

uint64_t sq_db_batches(const sq_db_t *db)
{
    return __atomic_load_n(&db->batches, __ATOMIC_RELAXED);
}

void sq_db_on_notify(sq_db_t *db, void (*cb)(const char *payload, void *data), void *data)
{
    db->notify_cb = cb;
    db->notify_data = data;
}

static void set_watch(sq_db_t *db, bool want_write)
{
    int fd = db->conn != NULL ? PQsocket(db->conn) : -1;
    /* while connecting, libpq may close and reopen its socket under the same number (next address) */
    if (db->state == SQ_DB_CONNECTING)
        db->io->watch(db->io_ctx, -1, false);
    db->fd = fd;
    db->io->watch(db->io_ctx, fd, want_write);
}

/* Runs the batch's callback and lets go of its arena. */
static void finish(sq_batch_t *b)
{
    b->db->inflight--;
    b->cb(b, b->failed ? b->err : NULL, b->data);
    sq_arena_unref(b->arena);
}

static void fail_batch(sq_batch_t *b, sq_code_t code, const char *detail)
{
    if (!b->failed) {
        sq_err_set(b->err, code, "%s", detail);
        if (code == SQ_E_UNAVAILABLE)
            b->err->retry_after = 1;
        b->failed = true;
    }
}

static void schedule_reconnect(sq_db_t *db)
{
    if (db->timer_pending)
        return;
    db->timer_pending = true;
    db->io->timer(db->io_ctx, db->backoff_ms);
    db->backoff_ms = db->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : db->backoff_ms * 2;
}

static void push_out(sq_db_t *db, sq_batch_t *b, bool front)
{
    if (front) {
        b->next = db->out_head;
        db->out_head = b;
        if (db->out_tail == NULL)
            db->out_tail = b;
        return;
    }
    b->next = NULL;
    if (db->out_tail != NULL)
        db->out_tail->next = b;
    else
        db->out_head = b;
    db->out_tail = b;
}

static sq_batch_t *pop_out(sq_db_t *db)
{
    sq_batch_t *b = db->out_head;
    if (b != NULL) {
        db->out_head = b->next;
        if (db->out_head == NULL)
            db->out_tail = NULL;
    }
    return b;
}

static void fail_unsent(sq_db_t *db)
{
    sq_batch_t *b;
    while ((b = pop_out(db)) != NULL) {
        fail_batch(b, SQ_E_UNAVAILABLE, "The database is unavailable; retry shortly.");
        finish(b);
    }
}

static seg_t *seg_new(sq_db_t *db)
{
    seg_t *s = db->free_segs;
    if (s != NULL)
        db->free_segs = s->next;
    else
        s = sq_xcalloc(1, sizeof(*s));
    s->next = NULL;
    s->nslots = s->cur = s->nbatches = 0;
    s->got = false;
    return s;
}

static void seg_slot(seg_t *s, sq_batch_t *b, int item, bool prepare)
{
    if (s->nslots == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->slots = sq_xrealloc(s->slots, sizeof(slot_t) * (size_t)s->cap);
    }
    s->slots[s->nslots++] = (slot_t){b, item, prepare};
}

static void seg_batch(seg_t *s, sq_batch_t *b)
{
    if (s->nbatches == s->bcap) {
        s->bcap = s->bcap ? s->bcap * 2 : 8;
        s->batches = sq_xrealloc(s->batches, sizeof(sq_batch_t *) * (size_t)s->bcap);
    }
    s->batches[s->nbatches++] = b;
}

static seg_t *pop_seg(sq_db_t *db)
{
    seg_t *s = db->seg_head;
    db->seg_head = s->next;
    if (db->seg_head == NULL)
        db->seg_tail = NULL;
    return s;
}

static void seg_free(sq_db_t *db, seg_t *s)
{
    s->next = db->free_segs;
    db->free_segs = s;
}

static void coal_fail_pending(sq_db_t *db);
static void coal_free(sq_db_t *db);

/* Drops the connection, fails everything sent or queued, and schedules a reconnect. */
static void connection_lost(sq_db_t *db, const char *why)
{
    if (db->state == SQ_DB_READY && why != NULL)
        sq_log(SQ_LOG_WARN, "core/db", "database connection lost: %s", why);
    db->io->watch(db->io_ctx, -1, false);
    if (db->conn != NULL)
        PQfinish(db->conn);
    db->conn = NULL;
    db->fd = -1;
    db->state = SQ_DB_DISCONNECTED;
    if (db->prepared != NULL)
        memset(db->prepared, 0, (size_t)db->prepared_cap);
    while (db->seg_head != NULL) {
        seg_t *s = pop_seg(db);
        for (int i = 0; i < s->nbatches; i++) {
            fail_batch(s->batches[i], SQ_E_UNAVAILABLE, "The database is unavailable; retry shortly.");
            finish(s->batches[i]);
        }
        seg_free(db, s);
    }
    fail_unsent(db);
    coal_fail_pending(db);
    schedule_reconnect(db);
}

void sq_db_close(sq_db_t *db)
{
    db->backoff_ms = 1 << 30; /* no more reconnects: the thread is going away */
    db->timer_pending = true;
    connection_lost(db, NULL);
}

void sq_db_free(sq_db_t *db)
{
    sq_db_close(db);
    while (db->free_segs != NULL) {
        seg_t *s = db->free_segs;
        db->free_segs = s->next;
        free(s->slots);
        free(s->batches);
        free(s);
    }
    coal_free(db);
    free(db->prepared);
    free(db->conninfo);
    free(db);
}

static void send_setup(sq_db_t *db);

static void connect_failed(sq_db_t *db, const char *why)
{
    sq_log(SQ_LOG_WARN, "core/db", "connect failed: %s", why);
    db->io->watch(db->io_ctx, -1, false);
    PQfinish(db->conn);
    db->conn = NULL;
    db->state = SQ_DB_DISCONNECTED;
    fail_unsent(db);
    coal_fail_pending(db);
    schedule_reconnect(db);
}

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void connect_step(sq_db_t *db)
{
    switch (PQconnectPoll(db->conn)) {
    case PGRES_POLLING_READING:
        set_watch(db, false);
        return;
    case PGRES_POLLING_WRITING:
        set_watch(db, true);
        return;
    case PGRES_POLLING_OK:
        break;
    default: {
        char why[160];
        snprintf(why, sizeof(why), "%s", PQerrorMessage(db->conn));
        why[strcspn(why, "\n")] = '\0';
        connect_failed(db, why);
        return;
    }
    }
    PQsetNoticeProcessor(db->conn, quiet_notice, NULL); /* server notices are not errors; never print them */
    if (PQsetnonblocking(db->conn, 1) != 0 || PQenterPipelineMode(db->conn) != 1) {
        connection_lost(db, "cannot enter pipeline mode");
        return;
    }
    db->state = SQ_DB_READY;
    db->backoff_ms = RECONNECT_MIN_MS;
    if (db->ever_connected) {
        db->reconnects++;
        sq_log(SQ_LOG_INFO, "core/db", "database connection re-established");
    }
    db->ever_connected = true;
    set_watch(db, false);
    send_setup(db); /* goes first: ahead of what queued up while connecting */
}

void sq_db_start(sq_db_t *db)
{
    if (db->state != SQ_DB_DISCONNECTED)
        return;
    db->conn = PQconnectStart(db->conninfo);
    if (db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD) {
        if (db->conn != NULL)
            PQfinish(db->conn);
        db->conn = NULL;
        schedule_reconnect(db);
        return;
    }
    db->state = SQ_DB_CONNECTING;
    db->connect_started = sq_mono_us();
    set_watch(db, true);
}

void sq_db_tick(sq_db_t *db, int64_t max_wait_us)
{
    /* libpq does not time out asynchronous connects itself */
    if (db->state == SQ_DB_CONNECTING && sq_mono_us() - db->connect_started > 2000000) {
        connect_failed(db, "timed out");
        return;
    }
    if (db->state == SQ_DB_READY && db->seg_head != NULL && sq_mono_us() - db->seg_head->sent_at > max_wait_us)
        connection_lost(db, "no answer from the database in time");
}

void sq_db_on_timer(sq_db_t *db)
{
    db->timer_pending = false;
    if (db->state == SQ_DB_DISCONNECTED)
        sq_db_start(db);
}

static void clear_result(void *p)
{
    PQclear(p);
}

static void take_result(sq_db_t *db, seg_t *s, PGresult *res)
{
    if (s->cur >= s->nslots) {
        if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
            /* after the last statement: the implicit COMMIT at the Sync failed (a serialization failure under
             * SERIALIZABLE, a deferred constraint), so every batch of the segment was rolled back */
            for (int i = 0; i < s->nbatches; i++) {
                sq_batch_t *b = s->batches[i];
                if (b->failed)
                    continue;
                b->failed = true;
                sq_db_map_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE), PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME),
                                   PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), b->err);
            }
        } else {
            (void)SQ_NEVER(1);
        }
        PQclear(res);
        return;
    }
    slot_t *slot = &s->slots[s->cur];
    sq_batch_t *b = slot->b;
    s->got = true;
    switch (PQresultStatus(res)) {
    case PGRES_FATAL_ERROR:
        if (!b->failed) {
            b->failed = true;
            sq_db_map_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE), PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME),
                               PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), b->err);
            sq_db_map_where(PQresultErrorField(res, PG_DIAG_COLUMN_NAME), PQresultErrorField(res, PG_DIAG_MESSAGE_HINT), b->err);
        }
        if (slot->prepare) /* forget it, so the next use prepares again */
            set_prepared(db, b->items[slot->item].stmt->id, false);
        PQclear(res);
        return;
    case PGRES_PIPELINE_ABORTED:
        b->aborted = true;
        if (slot->prepare)
            set_prepared(db, b->items[slot->item].stmt->id, false);
        PQclear(res);
        return;
    default:
        break;
    }
    if (slot->prepare || b->rows[slot->item].res != NULL) {
        PQclear(res); /* a Prepare's result, or anything beyond a statement's one result */
        return;
    }
    b->rows[slot->item].res = res;
    sq_arena_defer(b->arena, clear_result, res);
}

/* A batch is one transaction: one that failed with a serialization failure or a deadlock (40001, 40P01: a
 * SERIALIZABLE database, locks taken in an unlucky order) was rolled back whole and is sent again, at the back of
 * the queue, up to SQ_DB_RETRIES times; its caller only sees the failure after that (503 busy). */
#define SQ_DB_RETRIES 3

/* The Sync of a segment arrived: every batch in it is done, except those a group sibling aborted and those
 * worth running again. */
static void complete_segment(sq_db_t *db)
{
    seg_t *s = pop_seg(db);
    for (int i = 0; i < s->nbatches; i++) {
        sq_batch_t *b = s->batches[i];
        if (b->failed && b->err->retryable && b->retries < SQ_DB_RETRIES) {
            b->retries++;
            b->failed = b->aborted = false;
            b->solo = true;
            sq_err_clear(b->err);
            memset(b->rows, 0, sizeof(sq_rows_t) * (size_t)b->n);
            push_out(db, b, false);
            continue;
        }
        if (b->aborted && !b->failed) {
            b->aborted = false;
            b->solo = true;
            memset(b->rows, 0, sizeof(sq_rows_t) * (size_t)b->n);
            push_out(db, b, true);
            continue;
        }
        finish(b);
    }
    seg_free(db, s);
}

static void drain(sq_db_t *db)
{
    while (db->conn != NULL && db->state == SQ_DB_READY) {
        PGnotify *n;
        while ((n = PQnotifies(db->conn)) != NULL) {
            if (db->notify_cb != NULL)
                db->notify_cb(n->extra, db->notify_data);
            PQfreemem(n);
        }
        if (PQisBusy(db->conn))
            return;
        PGresult *res = PQgetResult(db->conn);
        seg_t *s = db->seg_head;
        if (res == NULL) {
            if (s != NULL && s->got) {
                s->got = false;
                s->cur++;
                continue;
            }
            return; /* idle: nothing more until new input arrives */
        }
        if (s == NULL) {
            PQclear(res); /* a result nobody waits for cannot happen; survive it */
            (void)SQ_NEVER(1);
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            complete_segment(db);
            continue;
        }
        take_result(db, s, res);
    }
}

static void flush(sq_db_t *db)
{
    int r = PQflush(db->conn);
    if (r < 0) {
        connection_lost(db, "flush failed");
        return;
    }
    set_watch(db, r == 1);
}

void sq_db_on_io(sq_db_t *db, bool readable, bool writable)
{
    if (db->state == SQ_DB_CONNECTING) {
        connect_step(db);
        return;
    }
    if (db->state != SQ_DB_READY)
        return;
    if (writable) {
        flush(db);
        if (db->conn == NULL)
            return;
        /* PQflush may have read input while the socket was write-blocked: always drain after it */
        readable = true;
    }
    if (readable) {
        if (PQconsumeInput(db->conn) != 1 || PQstatus(db->conn) != CONNECTION_OK) {
            char why[160];
            snprintf(why, sizeof(why), "%s", PQerrorMessage(db->conn));
            why[strcspn(why, "\n")] = '\0';
            connection_lost(db, why);
            return;
        }
        drain(db);
    }
}

sq_batch_t *sq_db_batch(sq_db_t *db, sq_arena_t *a)
{
    sq_batch_t *b = SQ_NEW(a, sq_batch_t);
    b->db = db;
    b->arena = a;
    b->err = SQ_NEW(a, sq_err_t);
    return b;
}

void sq_batch_add(sq_batch_t *b, sq_stmt_t *stmt, int nparams, const char *const *params)
{
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 4;
        item_t *items = sq_arena_alloc(b->arena, sizeof(item_t) * (size_t)cap);
        if (b->n)
            memcpy(items, b->items, sizeof(item_t) * (size_t)b->n);
        b->items = items;
        b->cap = cap;
    }
    b->items[b->n++] = (item_t){stmt, nparams, params};
}

sq_rows_t *sq_batch_rows(sq_batch_t *b, int i)
{
    return i >= 0 && i < b->n ? &b->rows[i] : NULL;
}

static void enqueue_batch(sq_batch_t *b, sq_batch_cb cb, void *data, bool front)
{
    sq_db_t *db = b->db;
    b->cb = cb;
    b->data = data;
    b->rows = sq_arena_zalloc(b->arena, sizeof(sq_rows_t) * (size_t)(b->n ? b->n : 1));
    sq_arena_ref(b->arena);
    db->inflight++;
    if (db->state == SQ_DB_DISCONNECTED) {
        fail_batch(b, SQ_E_UNAVAILABLE, "The database is unavailable; retry shortly.");
        finish(b);
        return;
    }
    /* sent by the next sq_db_pump (while connecting: once connected, or failed within about 2 s) */
    push_out(db, b, front);
}

void sq_batch_send(sq_batch_t *b, sq_batch_cb cb, void *data)
{
    enqueue_batch(b, cb, data, false);
}

static bool groupable(const sq_batch_t *b)
{
    return b->n == 1 && b->items[0].stmt->readonly && !b->solo;
}

/* Appends a batch's statements (and the Prepares they need) to the connection's output. A statement is prepared
 * under its process-wide id (the C name after it, for reading logs): two files may both call a statement
 * rule_create without one replacing the other on the connection. */
static int send_items(sq_db_t *db, seg_t *s, sq_batch_t *b)
{
    for (int i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        int id = stmt_id(it->stmt);
        char name[64]; /* NAMEDATALEN - 1 */
        snprintf(name, sizeof(name), "s%d_%s", id, it->stmt->name);
        if (!is_prepared(db, id)) {
            if (PQsendPrepare(db->conn, name, it->stmt->sql, 0, NULL) != 1)
                return -1;
            set_prepared(db, id, true);
            seg_slot(s, b, i, true);
        }
        if (PQsendQueryPrepared(db->conn, name, it->nparams, it->params, NULL, NULL, 0) != 1)
            return -1;
        seg_slot(s, b, i, false);
    }
    seg_batch(s, b);
    return 0;
}

static void coal_flush(sq_db_t *db);

void sq_db_pump(sq_db_t *db)
{
    if (db->coals != NULL && db->state == SQ_DB_READY)
        coal_flush(db);
    while (db->state == SQ_DB_READY && db->out_head != NULL) {
        seg_t *s = seg_new(db);
        sq_batch_t *b = pop_out(db);
        bool group = groupable(b);
        int rc = send_items(db, s, b);
        while (rc == 0 && group && s->nbatches < MAX_GROUP && db->out_head != NULL && groupable(db->out_head))
            rc = send_items(db, s, pop_out(db));
        if (rc == 0 && PQpipelineSync(db->conn) != 1) /* libpq 15 flushes here: one send() per segment */
            rc = -1;
        s->sent_at = sq_mono_us();
        __atomic_add_fetch(&db->segments, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&db->batches, (uint64_t)s->nbatches, __ATOMIC_RELAXED);
        if (db->seg_tail != NULL)
            db->seg_tail->next = s;
        else
            db->seg_head = s;
        db->seg_tail = s;
        if (rc != 0) {
            connection_lost(db, "send failed");
            return;
        }
        flush(db);
    }
}

typedef struct {
    sq_rows_cb cb;
    void *data;
} one_t;

static void on_one(sq_batch_t *b, const sq_err_t *err, void *data)
{
    one_t *o = data;
    o->cb(err ? NULL : sq_batch_rows(b, 0), err, o->data);
}

void sq_db_query(sq_db_t *db, sq_arena_t *a, sq_stmt_t *stmt, int nparams, const char *const *params, sq_rows_cb cb, void *data)
{
    sq_batch_t *b = sq_db_batch(db, a);
    sq_batch_add(b, stmt, nparams, params);
    one_t *o = sq_arena_alloc(a, sizeof(*o));
    o->cb = cb;
    o->data = data;
    sq_batch_send(b, on_one, o);
}

/* ---- coalesced calls ---------------------------------------------------------------------------------------- */

typedef struct coal_call {
    const char *input;
    sq_arena_t *arena;
    sq_coalesce_cb cb;
    void *data;
    struct coal_call *next;
} coal_call_t;

typedef struct coal {
    const sq_coalesce_t *def;
    coal_call_t *head, *tail; /* waiting for the next batch */
    int n;
    int inflight; /* batches sent, not completed */
    struct coal *next;
} coal_t;

/* One batch of coalesced calls (in its own arena, which every call's arena keeps alive: the rows point into it). */
typedef struct {
    sq_db_t *db;
    coal_t *c;
    coal_call_t **calls;
    int n;
} coal_batch_t;

void sq_db_coalesce(sq_db_t *db, sq_arena_t *a, const sq_coalesce_t *def, const char *input, sq_coalesce_cb cb, void *data)
{
    if (db->state == SQ_DB_DISCONNECTED) { /* as a batch would: at once, never queued for a later connection */
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_UNAVAILABLE, "The database is unavailable; retry shortly.");
        e.retry_after = 1;
        cb(NULL, &e, data);
        return;
    }
    coal_t *c = db->coals;
    while (c != NULL && c->def != def)
        c = c->next;
    if (c == NULL) {
        c = sq_xcalloc(1, sizeof(*c));
        c->def = def;
        c->next = db->coals;
        db->coals = c;
    }
    coal_call_t *k = SQ_NEW(a, coal_call_t);
    *k = (coal_call_t){sq_arena_strdup(a, input), a, cb, data, NULL};
    sq_arena_ref(a);
    if (c->tail != NULL)
        c->tail->next = k;
    else
        c->head = k;
    c->tail = k;
    c->n++;
}

uint64_t sq_db_coalesced_calls(const sq_db_t *db)
{
    return __atomic_load_n(&db->coal_calls, __ATOMIC_RELAXED);
}

uint64_t sq_db_coalesced_batches(const sq_db_t *db)
{
    return __atomic_load_n(&db->coal_batches, __ATOMIC_RELAXED);
}

/* A call's rows of one statement: those whose column 0 is its position k, copied into the call's arena (a scan per
 * call: batches are small; copies, so a call keeps nothing of the batch alive while it waits on something else). */
static sq_rows_t *call_rows(sq_arena_t *a, sq_rows_t *all, int k)
{
    int nrows = sq_rows_count(all), ncols = all->res != NULL ? PQnfields(all->res) : 0, n = 0;
    for (int row = 0; row < nrows; row++)
        n += sq_rows_int64(all, row, 0) == k;
    sq_rows_t *r = SQ_NEW(a, sq_rows_t);
    const char **vals = sq_arena_alloc(a, sizeof(char *) * (size_t)(n * ncols > 0 ? n * ncols : 1));
    *r = (sq_rows_t){NULL, vals, n, ncols};
    for (int row = 0, i = 0; row < nrows; row++) {
        if (sq_rows_int64(all, row, 0) != k)
            continue;
        for (int col = 0; col < ncols; col++) {
            const char *v = sq_rows_text(all, row, col);
            vals[i * ncols + col] = v != NULL ? sq_arena_strndup(a, v, (size_t)PQgetlength(all->res, row, col)) : NULL;
        }
        i++;
    }
    return r;
}

static void on_coal(sq_batch_t *b, const sq_err_t *err, void *data)
{
    coal_batch_t *g = data;
    const sq_coalesce_t *def = g->c->def;
    g->c->inflight--;
    if (err != NULL && err->code != SQ_E_UNAVAILABLE)
        sq_log(SQ_LOG_WARN, "core/db", "coalesced %s of %d calls failed: %s", def->name, g->n,
               err->internal[0] ? err->internal : err->detail);
    for (int k = 0; k < g->n; k++) {
        coal_call_t *call = g->calls[k];
        sq_rows_t **rows = NULL;
        if (err == NULL) {
            rows = sq_arena_alloc(call->arena, sizeof(sq_rows_t *) * (size_t)def->nstmts);
            for (int i = 0; i < def->nstmts; i++)
                rows[i] = call_rows(call->arena, sq_batch_rows(b, i), k + 1);
        }
        call->cb(rows, err, call->data);
        sq_arena_unref(call->arena);
    }
}

/* Sends the waiting calls of every definition that has no batch in flight, up to def->max per batch. */
static void coal_flush(sq_db_t *db)
{
    for (coal_t *c = db->coals; c != NULL; c = c->next) {
        if (c->inflight > 0)
            continue;
        while (c->n > 0) {
            sq_arena_t *a = sq_arena_new();
            int n = c->n < c->def->max ? c->n : c->def->max;
            coal_batch_t *g = SQ_NEW(a, coal_batch_t);
            *g = (coal_batch_t){db, c, sq_arena_alloc(a, sizeof(coal_call_t *) * (size_t)n), n};
            size_t len = 2;
            coal_call_t *k = c->head;
            for (int i = 0; i < n; i++, k = k->next) {
                g->calls[i] = k;
                len += strlen(k->input) + 1;
            }
            c->head = k;
            if (k == NULL)
                c->tail = NULL;
            c->n -= n;
            char *json = sq_arena_alloc(a, len + 1), *p = json;
            *p++ = '[';
            for (int i = 0; i < n; i++) {
                size_t l = strlen(g->calls[i]->input);
                if (i > 0)
                    *p++ = ',';
                memcpy(p, g->calls[i]->input, l);
                p += l;
            }
            *p++ = ']';
            *p = '\0';
            const char **params = sq_arena_alloc(a, sizeof(char *));
            params[0] = json;
            sq_batch_t *b = sq_db_batch(db, a);
            for (int i = 0; i < c->def->nstmts; i++)
                sq_batch_add(b, c->def->stmts[i], 1, params);
            c->inflight++;
            __atomic_add_fetch(&db->coal_calls, (uint64_t)n, __ATOMIC_RELAXED);
            __atomic_add_fetch(&db->coal_batches, 1, __ATOMIC_RELAXED);
            sq_batch_send(b, on_coal, g);
            sq_arena_unref(a);
        }
    }
}

static void coal_fail_pending(sq_db_t *db)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, SQ_E_UNAVAILABLE, "The database is unavailable; retry shortly.");
    e.retry_after = 1;
    for (coal_t *c = db->coals; c != NULL; c = c->next) {
        coal_call_t *k = c->head; /* detached first: a callback may queue a new call (failed at once: disconnected) */
        c->head = c->tail = NULL;
        c->n = 0;
        while (k != NULL) {
            coal_call_t *next = k->next;
            k->cb(NULL, &e, k->data);
            sq_arena_unref(k->arena);
            k = next;
        }
    }
}

static void coal_free(sq_db_t *db)
{
    while (db->coals != NULL) {
        coal_t *c = db->coals;
        db->coals = c->next;
        free(c);
    }
}

/* Session settings and LISTEN, sent first on every new connection. JIT off: Souq's statements are short OLTP ones, and
 * one whose estimated cost passes jit_above_cost (a coalesced statement over stale statistics: its JSON array is
 * estimated at 100 rows) spent 1.4 s compiling to run in 4 ms. */
SQ_STMT(db_session_setup, "SELECT set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false), "
                          "set_config('idle_in_transaction_session_timeout', '10s', false), "
                          "set_config('application_name', 'souq', false), set_config('TimeZone', 'UTC', false), "
                          "set_config('client_min_messages', 'warning', false), set_config('jit', 'off', false)");
SQ_STMT(db_listen, "LISTEN souq");

typedef struct {
    sq_arena_t *arena;
} setup_t;

static void on_setup(sq_batch_t *b, const sq_err_t *err, void *data)
{
    (void)b;
    (void)data;
    if (err != NULL)
        sq_log(SQ_LOG_ERROR, "core/db", "session setup failed: %s", err->internal[0] ? err->internal : err->detail);
}

static char statement_timeout[16] = "5s", lock_timeout[16] = "3s";

void sq_db_set_timeouts(int statement_ms, int lock_ms)
{
    snprintf(statement_timeout, sizeof(statement_timeout), "%dms", statement_ms);
    snprintf(lock_timeout, sizeof(lock_timeout), "%dms", lock_ms);
}

static void send_setup(sq_db_t *db)
{
    sq_arena_t *a = sq_arena_new();
    sq_batch_t *b = sq_db_batch(db, a);
    const char **p = sq_arena_alloc(a, sizeof(char *) * 2);
    p[0] = statement_timeout;
    p[1] = lock_timeout;
    sq_batch_add(b, &db_session_setup, 2, p);
    sq_batch_add(b, &db_listen, 0, NULL);
    enqueue_batch(b, on_setup, NULL, true);
    sq_arena_unref(a);
}

int sq_rows_count(const sq_rows_t *r)
{
    if (r == NULL)
        return 0;
    if (r->vals != NULL)
        return r->n;
    return r->res != NULL ? PQntuples(r->res) : 0;
}

int64_t sq_rows_affected(const sq_rows_t *r)
{
    if (r == NULL || r->res == NULL) /* (a coalesced call's rows are rows of a query: none affected) */
        return 0;
    const char *s = PQcmdTuples(r->res);
    return s[0] ? strtoll(s, NULL, 10) : 0;
}

const char *sq_rows_text(const sq_rows_t *r, int row, int col)
{
    if (row < 0 || row >= sq_rows_count(r) || col < 0)
        return NULL;
    if (r->vals != NULL)
        return col < r->ncols ? r->vals[row * r->ncols + col] : NULL;
    if (col >= PQnfields(r->res) || PQgetisnull(r->res, row, col))
        return NULL;
    return PQgetvalue(r->res, row, col);
}

int64_t sq_rows_int64(const sq_rows_t *r, int row, int col)
{
    const char *s = sq_rows_text(r, row, col);
    return s != NULL ? strtoll(s, NULL, 10) : 0;
}

bool sq_rows_bool(const sq_rows_t *r, int row, int col)
{
    const char *s = sq_rows_text(r, row, col);
    return s != NULL && s[0] == 't';
}

/* ---- resources as JSON ------------------------------------------------------------------------------ */

typedef struct {
    sq_json_cb cb;
    void *data;
} json_ctx_t;

static void on_json_batch(sq_batch_t *b, const sq_err_t *err, void *data)
{
    json_ctx_t *j = data;
    if (err != NULL) {
        j->cb(NULL, err, j->data);
        return;
    }
    sq_rows_t *r = sq_batch_rows(b, b->n - 1);
    const char *json = sq_rows_count(r) > 0 ? sq_rows_text(r, 0, 0) : NULL;
    if (json == NULL) {
        sq_err_t nf;
        sq_err_clear(&nf);
        sq_err_set(&nf, SQ_E_NOT_FOUND, "The resource does not exist.");
        j->cb(NULL, &nf, j->data);
        return;
    }
    j->cb(json, NULL, j->data);
}

void sq_batch_send_json(sq_batch_t *b, sq_json_cb cb, void *data)
{
    json_ctx_t *j = SQ_NEW(b->arena, json_ctx_t);
    j->cb = cb;
    j->data = data;
    sq_batch_send(b, on_json_batch, j);
}

void sq_db_json(sq_db_t *db, sq_arena_t *a, sq_stmt_t *stmt, int nparams, const char *const *params, sq_json_cb cb, void *data)
{
    sq_batch_t *b = sq_db_batch(db, a);
    sq_batch_add(b, stmt, nparams, params);
    sq_batch_send_json(b, cb, data);
}

typedef struct {
    sq_list_cb cb;
    void *data;
    int limit;
    sq_arena_t *arena;
} list_ctx_t;

static void on_list(sq_rows_t *r, const sq_err_t *err, void *data)
{
    list_ctx_t *l = data;
    if (err != NULL) {
        l->cb(NULL, err, l->data);
        return;
    }
    sq_list_t out = {0};
    int n = sq_rows_count(r);
    out.has_more = n > l->limit;
    out.n = out.has_more ? l->limit : n;
    out.items = sq_arena_alloc(l->arena, sizeof(char *) * (size_t)(out.n + 1));
    for (int i = 0; i < out.n; i++)
        out.items[i] = sq_rows_text(r, i, 0);
    if (out.has_more && out.n > 0)
        out.next_key = sq_rows_text(r, out.n - 1, 1);
    l->cb(&out, NULL, l->data);
}

void sq_db_list(sq_db_t *db, sq_arena_t *a, sq_stmt_t *stmt, int nparams, const char *const *params, int limit, sq_list_cb cb,
                void *data)
{
    list_ctx_t *l = SQ_NEW(a, list_ctx_t);
    l->cb = cb;
    l->data = data;
    l->limit = limit;
    l->arena = a;
    sq_db_query(db, a, stmt, nparams, params, on_list, l);
}

const char **sq_db_params(sq_arena_t *a, int n, ...)
{
    const char **p = sq_arena_alloc(a, sizeof(char *) * (size_t)(n > 0 ? n : 1));
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        p[i] = va_arg(ap, const char *);
    va_end(ap);
    return p;
}

const char *sq_db_int(sq_arena_t *a, int64_t v)
{
    return sq_arena_printf(a, "%lld", (long long)v);
}
