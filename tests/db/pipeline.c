/* pipeline.c: core/db against a real PostgreSQL (SOUQ_TEST_DATABASE_URL): read grouping, a failing read
 * inside a group, batch atomicity, prepare failures, NOTIFY, and a connection killed mid-flight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db/db.h"
#include "core/db/syncloop.h"
#include "tests/unit/check.h"


SQ_STMT_RO(t_echo, "SELECT $1::int * 2");
SQ_STMT_RO(t_divide, "SELECT 100 / $1::int");
SQ_STMT_RO(t_broken, "SELEKT nonsense");
SQ_STMT(t_insert, "INSERT INTO pipeline_t (v) VALUES ($1::int)");
SQ_STMT_RO(t_count, "SELECT count(*) FROM pipeline_t WHERE v = $1::int");
SQ_STMT(t_setup, "CREATE TEMP TABLE pipeline_t (v int NOT NULL CHECK (v >= 0))");
SQ_STMT(t_notify, "SELECT pg_notify('souq', 'api_keys')");
SQ_STMT_RO(t_sleep, "SELECT pg_sleep(2)");
SQ_STMT_RO(t_pid, "SELECT pg_backend_pid()");
/* a transaction that fails with a serialization failure the first $1 times (the sequence does not roll back) */
SQ_STMT(t_retry_setup, "CREATE TEMP SEQUENCE pipeline_tries");
SQ_STMT(t_flaky, "SELECT CASE WHEN nextval('pipeline_tries') <= $1::int THEN pg_temp.souq_test_serialization_failure() ELSE 1 END");
SQ_STMT(t_retry_fn, "CREATE OR REPLACE FUNCTION pg_temp.souq_test_serialization_failure() RETURNS int LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'could not serialize'; END $$");

typedef struct {
    int done;
    int ok;
    int value;
    sq_code_t code;
    int nrows; /* coalesced calls: the call's rows */
} result_t;

/* coalesced: each call's input {"v": n} answers 2n, and nothing for a negative n; {"v": 0} divides by zero */
SQ_STMT_RO(t_double_many, "SELECT e.ordinality::int, 100 / (e.value->>'v')::int, (e.value->>'v')::int * 2 "
                          "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY e WHERE (e.value->>'v')::int >= 0");
static sq_stmt_t *const double_stmts[] = {&t_double_many};
static const sq_coalesce_t double_many = {"double", double_stmts, 1, 8};

static void on_coalesced(sq_rows_t *const *rows, const sq_err_t *err, void *data)
{
    result_t *r = data;
    r->done = 1;
    r->code = err ? err->code : SQ_OK;
    r->ok = err == NULL;
    r->nrows = err == NULL ? sq_rows_count(rows[0]) : -1;
    if (err == NULL && r->nrows > 0)
        r->value = (int)sq_rows_int64(rows[0], 0, 2);
}

static void on_rows(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    result_t *r = data;
    r->done = 1;
    r->code = err ? err->code : SQ_OK;
    r->ok = err == NULL;
    if (err == NULL && sq_rows_count(rows) > 0)
        r->value = (int)sq_rows_int64(rows, 0, 0);
}

static void on_batch(sq_batch_t *b, const sq_err_t *err, void *data)
{
    (void)b;
    result_t *r = data;
    r->done = 1;
    r->ok = err == NULL;
    r->code = err ? err->code : SQ_OK;
}

static bool all_done(result_t *r, int n)
{
    for (int i = 0; i < n; i++)
        if (!r[i].done)
            return false;
    return true;
}

static void wait_all(sq_syncdb_t *s, result_t *r, int n)
{
    static bool done;
    for (int i = 0; i < 200 && !all_done(r, n); i++) {
        done = false;
        sq_syncdb_wait(s, &done, 50);
    }
    CHECK(all_done(r, n));
}

static void one(sq_syncdb_t *s, sq_ctx_t *cx, sq_stmt_t *st, const char *param, result_t *r)
{
    memset(r, 0, sizeof(*r));
    sq_db_query(cx->db, cx->arena, st, param ? 1 : 0, param ? sq_db_params(cx->arena, 1, param) : NULL, on_rows, r);
    wait_all(s, r, 1);
}

/* Reads issued together go out under one Sync; their answers are right and in order. */
static void test_grouping(sq_syncdb_t *s, sq_ctx_t *cx)
{
    result_t warm, r[20] = {0};
    one(s, cx, &t_echo, "0", &warm); /* the session setup of a new connection goes out first */
    CHECK(warm.ok && warm.value == 0);
    uint64_t trips = sq_db_round_trips(cx->db), batches = sq_db_batches(cx->db);
    for (int i = 0; i < 20; i++)
        sq_db_query(cx->db, cx->arena, &t_echo, 1, sq_db_params(cx->arena, 1, sq_db_int(cx->arena, i)), on_rows, &r[i]);
    wait_all(s, r, 20);
    for (int i = 0; i < 20; i++)
        CHECK(r[i].ok && r[i].value == 2 * i);
    CHECK(sq_db_round_trips(cx->db) - trips == 1);
    CHECK(sq_db_batches(cx->db) - batches == 20);
}

/* A failing read in a group fails alone; the reads after it (aborted by PostgreSQL) are sent again. */
static void test_failure_in_group(sq_syncdb_t *s, sq_ctx_t *cx)
{
    result_t r[10] = {0};
    uint64_t trips = sq_db_round_trips(cx->db);
    for (int i = 0; i < 10; i++)
        sq_db_query(cx->db, cx->arena, &t_divide, 1, sq_db_params(cx->arena, 1, i == 4 ? "0" : "5"), on_rows, &r[i]);
    wait_all(s, r, 10);
    for (int i = 0; i < 10; i++) {
        if (i == 4) {
            CHECK(!r[i].ok && r[i].code == SQ_E_INTERNAL);
        } else {
            CHECK(r[i].ok && r[i].value == 20);
        }
    }
    CHECK(sq_db_round_trips(cx->db) - trips == 1 + 5); /* the group, then each aborted read alone */
}

/* A statement that does not parse fails its batch only, and is prepared again on its next use. */
static void test_prepare_failure(sq_syncdb_t *s, sq_ctx_t *cx)
{
    result_t r[3] = {0};
    sq_db_query(cx->db, cx->arena, &t_echo, 1, sq_db_params(cx->arena, 1, "1"), on_rows, &r[0]);
    sq_db_query(cx->db, cx->arena, &t_broken, 0, NULL, on_rows, &r[1]);
    sq_db_query(cx->db, cx->arena, &t_echo, 1, sq_db_params(cx->arena, 1, "2"), on_rows, &r[2]);
    wait_all(s, r, 3);
    CHECK(r[0].ok && r[0].value == 2);
    CHECK(!r[1].ok);
    CHECK(r[2].ok && r[2].value == 4);
    result_t again;
    one(s, cx, &t_broken, NULL, &again);
    CHECK(!again.ok && again.code == SQ_E_INTERNAL);
}

/* A batch is one transaction: a failing statement undoes the ones before it; writes are never grouped. */
static void test_atomicity(sq_syncdb_t *s, sq_ctx_t *cx)
{
    result_t setup;
    one(s, cx, &t_setup, NULL, &setup);
    CHECK(setup.ok);
    result_t r[2] = {0};
    uint64_t trips = sq_db_round_trips(cx->db);
    sq_batch_t *b = sq_db_batch(cx->db, cx->arena);
    sq_batch_add(b, &t_insert, 1, sq_db_params(cx->arena, 1, "7001"));
    sq_batch_add(b, &t_insert, 1, sq_db_params(cx->arena, 1, "-1")); /* violates the CHECK */
    sq_batch_send(b, on_batch, &r[0]);
    sq_batch_t *b2 = sq_db_batch(cx->db, cx->arena);
    sq_batch_add(b2, &t_insert, 1, sq_db_params(cx->arena, 1, "7002"));
    sq_batch_send(b2, on_batch, &r[1]);
    wait_all(s, r, 2);
    CHECK(!r[0].ok && r[0].code == SQ_E_CONFLICT);
    CHECK(r[1].ok);
    CHECK(sq_db_round_trips(cx->db) - trips == 2);
    result_t c1, c2;
    one(s, cx, &t_count, "7001", &c1);
    one(s, cx, &t_count, "7002", &c2);
    CHECK(c1.ok && c1.value == 0);
    CHECK(c2.ok && c2.value == 1);
}

/* A batch failing with 40001 is sent again (a rolled-back transaction may simply run again), at most 3 times. */
static void test_serialization_retry(sq_syncdb_t *s, sq_ctx_t *cx)
{
    result_t r;
    one(s, cx, &t_retry_setup, NULL, &r);
    CHECK(r.ok);
    one(s, cx, &t_retry_fn, NULL, &r);
    CHECK(r.ok);
    one(s, cx, &t_flaky, "2", &r); /* fails twice, then succeeds: the caller sees the success */
    CHECK(r.ok && r.value == 1);
    one(s, cx, &t_flaky, "1000", &r); /* always fails: after the retries the caller gets 503 busy */
    CHECK(!r.ok && r.code == SQ_E_BUSY);
}

static int notified;
static void on_notify(const char *payload, void *data)
{
    (void)data;
    if (strcmp(payload, "api_keys") == 0)
        notified++;
}

static void test_notify(sq_syncdb_t *s, sq_ctx_t *cx)
{
    sq_db_on_notify(cx->db, on_notify, NULL);
    result_t r;
    one(s, cx, &t_notify, NULL, &r);
    CHECK(r.ok);
    result_t r2;
    one(s, cx, &t_echo, "1", &r2); /* the notification arrives with the next results at the latest */
    CHECK(notified == 1);
}

/* Coalesced calls: one batch carries the calls issued together (8 at most), each call gets its own rows (none when
 * the statement answers none for it), and an error fails every call of its batch only. */
static void test_coalesce(sq_syncdb_t *s, sq_ctx_t *cx)
{
    result_t r[12] = {0};
    uint64_t calls = sq_db_coalesced_calls(cx->db), batches = sq_db_coalesced_batches(cx->db);
    for (int i = 0; i < 12; i++)
        sq_db_coalesce(cx->db, cx->arena, &double_many, sq_arena_printf(cx->arena, "{\"v\": %d}", i == 5 ? -1 : i + 1),
                       on_coalesced, &r[i]);
    wait_all(s, r, 12);
    for (int i = 0; i < 12; i++) {
        CHECK(r[i].ok);
        CHECK_INT(r[i].nrows, i == 5 ? 0 : 1);
        if (i != 5)
            CHECK_INT(r[i].value, 2 * (i + 1));
    }
    CHECK(sq_db_coalesced_calls(cx->db) - calls == 12);
    CHECK(sq_db_coalesced_batches(cx->db) - batches == 2); /* 8 + 4 */
    /* a division by zero in the first batch fails its 8 calls; the next batch's 2 go through */
    result_t f[10] = {0};
    for (int i = 0; i < 10; i++)
        sq_db_coalesce(cx->db, cx->arena, &double_many, sq_arena_printf(cx->arena, "{\"v\": %d}", i == 3 ? 0 : 7), on_coalesced, &f[i]);
    wait_all(s, f, 10);
    for (int i = 0; i < 10; i++) {
        CHECK(i < 8 ? !f[i].ok && f[i].code == SQ_E_INTERNAL : f[i].ok && f[i].value == 14);
    }
}

/* The backend dies while a query runs: the caller gets SQ_E_UNAVAILABLE, and the connection comes back. */
static void test_connection_killed(sq_syncdb_t *s, sq_ctx_t *cx, const char *url)
{
    result_t pid;
    one(s, cx, &t_pid, NULL, &pid);
    CHECK(pid.ok && pid.value > 0);
    result_t slow = {0};
    sq_db_query(cx->db, cx->arena, &t_sleep, 0, NULL, on_rows, &slow);
    bool never = false;
    sq_syncdb_wait(s, &never, 200); /* the sleep is on its way */
    sq_err_t err;
    sq_err_clear(&err);
    sq_syncdb_t *other = sq_syncdb_connect(url, 5000, &err);
    CHECK(other != NULL);
    if (other == NULL)
        return;
    sq_ctx_t *ocx = sq_syncdb_ctx(other);
    SQ_STMT(t_kill, "SELECT pg_terminate_backend($1::int)");
    result_t k;
    one(other, ocx, &t_kill, sq_db_int(ocx->arena, pid.value), &k);
    CHECK(k.ok);
    wait_all(s, &slow, 1);
    CHECK(!slow.ok && slow.code == SQ_E_UNAVAILABLE);
    /* while disconnected, a coalesced call fails at once, as a batch does: it never waits for a later connection */
    CHECK(sq_db_state(cx->db) == SQ_DB_DISCONNECTED);
    result_t down = {0};
    sq_db_coalesce(cx->db, cx->arena, &double_many, "{\"v\": 1}", on_coalesced, &down);
    CHECK(down.done && !down.ok && down.code == SQ_E_UNAVAILABLE);
    sq_syncdb_ctx_free(ocx);
    sq_syncdb_close(other);
    /* reconnects by itself (backoff from 100 ms) */
    result_t back = {0};
    for (int i = 0; i < 40 && !back.ok; i++) {
        sq_syncdb_wait(s, &never, 100);
        if (sq_db_state(cx->db) == SQ_DB_READY)
            one(s, cx, &t_echo, "21", &back);
    }
    CHECK(back.ok && back.value == 42);
    CHECK(sq_db_reconnects(cx->db) == 1);
}

int main(void)
{
    const char *url = getenv("SOUQ_TEST_DATABASE_URL");
    if (url == NULL) {
        fprintf(stderr, "pipeline: SOUQ_TEST_DATABASE_URL is not set\n");
        return 2;
    }
    sq_err_t err;
    sq_err_clear(&err);
    sq_syncdb_t *s = sq_syncdb_connect(url, 10000, &err);
    if (s == NULL) {
        fprintf(stderr, "pipeline: %s\n", err.detail);
        return 1;
    }
    sq_ctx_t *cx = sq_syncdb_ctx(s);
    test_grouping(s, cx);
    test_failure_in_group(s, cx);
    test_prepare_failure(s, cx);
    test_atomicity(s, cx);
    test_serialization_retry(s, cx);
    test_notify(s, cx);
    test_coalesce(s, cx);
    test_connection_killed(s, cx, url);
    sq_syncdb_ctx_free(cx);
    sq_syncdb_close(s);
    return check_done("pipeline");
}
