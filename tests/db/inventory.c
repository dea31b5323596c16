/* inventory.c: the reservation API (core/inventory.h) against a real, migrated PostgreSQL
 * (SOUQ_TEST_DATABASE_URL): all-or-nothing reservations, shared stock, location fallback, backorders, replace,
 * release, commit, expiry, and races between processes: buyers for the last units, and buyers racing staff
 * adjustments, after which the ledger must still explain every level. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/db/syncloop.h"
#include "core/inventory.h"
#include "tests/unit/check.h"

SQ_STMT(t_location, "INSERT INTO stock_locations (name) VALUES ($1) RETURNING id");
SQ_STMT(t_channel, "INSERT INTO sales_channels (name) VALUES ($1) RETURNING id");
SQ_STMT(t_channel_location, "INSERT INTO sales_channel_locations VALUES ($1, $2, $3::int) RETURNING 1");
SQ_STMT(t_product, "SELECT souq_product_save(NULL, $1::jsonb, NULL)");
SQ_STMT(t_share, "UPDATE variant_inventory_items SET inventory_item_id = $1 WHERE variant_id = $2 RETURNING 1");
SQ_STMT_RO(t_level, "SELECT coalesce((SELECT on_hand || '/' || reserved FROM inventory_levels "
                    "WHERE inventory_item_id = $1 AND location_id = $2), 'none')");
SQ_STMT(t_expire, "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE reference = $1 RETURNING 1");
/* levels that the ledger or the active reservations do not explain: must be none */
SQ_STMT_RO(t_unbalanced,
           "SELECT count(*) FROM inventory_levels l WHERE "
           "l.on_hand <> (SELECT coalesce(sum(g.delta_on_hand), 0) FROM inventory_ledger g "
           "  WHERE g.inventory_item_id = l.inventory_item_id AND g.location_id = l.location_id) "
           "OR l.reserved <> (SELECT coalesce(sum(g.delta_reserved), 0) FROM inventory_ledger g "
           "  WHERE g.inventory_item_id = l.inventory_item_id AND g.location_id = l.location_id) "
           "OR l.reserved <> (SELECT coalesce(sum(r.quantity), 0) FROM reservations r WHERE r.status = 'active' "
           "  AND r.inventory_item_id = l.inventory_item_id AND r.location_id = l.location_id)");

static const char *url;

typedef struct {
    bool done;
    char *text; /* first cell, or the JSON */
    long n;
    sq_code_t code;
} res_t;

static void on_rows(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    res_t *r = data;
    r->done = true;
    r->code = err ? err->code : SQ_OK;
    if (err == NULL && sq_rows_count(rows) > 0 && sq_rows_text(rows, 0, 0) != NULL)
        r->text = strdup(sq_rows_text(rows, 0, 0));
}

static void on_json(const char *json, const sq_err_t *err, void *data)
{
    res_t *r = data;
    r->done = true;
    r->code = err ? err->code : SQ_OK;
    if (json != NULL)
        r->text = strdup(json);
}

static void on_count(long n, const sq_err_t *err, void *data)
{
    res_t *r = data;
    r->done = true;
    r->code = err ? err->code : SQ_OK;
    r->n = n;
}

static sq_syncdb_t *db;
static sq_ctx_t *cx;

static void wait_for(res_t *r)
{
    for (int i = 0; i < 600 && !r->done; i++)
        sq_syncdb_wait(db, &r->done, 50);
    CHECK(r->done);
}

/* first cell of a statement as a malloc'd string (NULL on error) */
static char *q(sq_stmt_t *st, int n, const char *a, const char *b, const char *c)
{
    res_t r = {0};
    sq_db_query(cx->db, cx->arena, st, n, sq_db_params(cx->arena, 3, a, b, c), on_rows, &r);
    wait_for(&r);
    if (r.code != SQ_OK)
        fprintf(stderr, "inventory: statement failed with code %d\n", (int)r.code);
    return r.text;
}

/* the answer's text stays valid until the next reserve */
static res_t reserve(const char *lines, const char *channel, const char *ref, int ttl)
{
    static char *last;
    free(last);
    res_t r = {0};
    sq_stock_reserve(cx, lines, channel, ref, ttl, on_json, &r);
    wait_for(&r);
    last = r.text;
    return r;
}

static res_t end(const char *ref, bool commit)
{
    res_t r = {0};
    (commit ? sq_stock_commit : sq_stock_release)(cx, ref, on_count, &r);
    wait_for(&r);
    return r;
}

static void check_level(const char *item, const char *loc, const char *want, int line)
{
    char *got = q(&t_level, 2, item, loc, NULL);
    check_count++;
    if (got == NULL || strcmp(got, want) != 0) {
        check_failed++;
        fprintf(stderr, "%s:%d: level (on_hand/reserved) is %s, expected %s\n", __FILE__, line, got ? got : "(error)", want);
    }
    free(got);
}
#define LEVEL(item, loc, want) check_level(item, loc, want, __LINE__)

/* request bodies live in a small ring, so a test can hold a few at once without freeing them */
static char *body(void)
{
    static char ring[8][256];
    static int next;
    return ring[next++ % 8];
}

static char *lines1(const char *variant, int qty)
{
    char *s = body();
    snprintf(s, 256, "[{\"variant_id\":\"%s\",\"quantity\":%d}]", variant, qty);
    return s;
}

static char *lines2(const char *v1, int q1, const char *v2, int q2)
{
    char *s = body();
    snprintf(s, 256, "[{\"variant_id\":\"%s\",\"quantity\":%d},{\"variant_id\":\"%s\",\"quantity\":%d}]", v1, q1, v2, q2);
    return s;
}

/* field key of the first reservation of an answer (-1 when absent); location ids compare as strings */
static long first(const res_t *r, const char *key)
{
    json_t *a = json_loads(r->text ? r->text : "[]", 0, NULL);
    json_t *v = json_object_get(json_array_get(a, 0), key);
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    json_decref(a);
    return n;
}

static bool first_at(const res_t *r, const char *location)
{
    json_t *a = json_loads(r->text ? r->text : "[]", 0, NULL);
    const char *got = json_string_value(json_object_get(json_array_get(a, 0), "location_id"));
    bool same = got != NULL && strcmp(got, location) == 0;
    json_decref(a);
    return same;
}

static long unbalanced(void)
{
    char *n = q(&t_unbalanced, 0, NULL, NULL, NULL);
    long v = n ? atol(n) : -1;
    free(n);
    return v;
}

/* fixtures: channel C sells from L1 (first) and L2; variants A and B share one item; O has its own item;
 * BO allows backorders */
static char channel[40], l1[40], l2[40], va[40], vb[40], vo[40], vbo[40], item_a[40], item_o[40], item_bo[40];

static void copy_id(char *dst, const char *src)
{
    snprintf(dst, 40, "%s", src ? src : "");
}

static void setup(void)
{
    char *s;
    copy_id(l1, s = q(&t_location, 1, "L1", NULL, NULL)), free(s);
    copy_id(l2, s = q(&t_location, 1, "L2", NULL, NULL)), free(s);
    copy_id(channel, s = q(&t_channel, 1, "test channel", NULL, NULL)), free(s);
    free(q(&t_channel_location, 3, channel, l1, "0"));
    free(q(&t_channel_location, 3, channel, l2, "1"));
    char *body;
    if (asprintf(&body,
                 "{\"title\":\"Reservation test\",\"status\":\"active\",\"sales_channel_ids\":[\"%s\"],"
                 "\"options\":[{\"title\":\"Kind\",\"values\":[\"A\",\"B\",\"O\",\"BO\"]}],\"variants\":["
                 "{\"sku\":\"R-A\",\"options\":{\"Kind\":\"A\"},\"inventory\":[{\"location_id\":\"%s\",\"quantity\":10}]},"
                 "{\"sku\":\"R-B\",\"options\":{\"Kind\":\"B\"}},"
                 "{\"sku\":\"R-O\",\"options\":{\"Kind\":\"O\"},\"inventory\":[{\"location_id\":\"%s\",\"quantity\":2},{\"location_id\":\"%s\",\"quantity\":10}]},"
                 "{\"sku\":\"R-BO\",\"options\":{\"Kind\":\"BO\"},\"allow_backorder\":true,\"inventory\":[{\"location_id\":\"%s\",\"quantity\":3}]}]}",
                 channel, l1, l1, l2, l1) < 0)
        abort();
    char *product = q(&t_product, 1, body, NULL, NULL);
    free(body);
    CHECK(product != NULL);
    json_t *p = json_loads(product ? product : "{}", 0, NULL);
    json_t *vs = json_object_get(p, "variants");
    CHECK(json_array_size(vs) == 4);
    char *ids[4] = {va, vb, vo, vbo}, *items[4] = {item_a, NULL, item_o, item_bo};
    for (size_t i = 0; i < 4 && i < json_array_size(vs); i++) {
        json_t *v = json_array_get(vs, i);
        copy_id(ids[i], json_string_value(json_object_get(v, "id")));
        if (items[i] != NULL)
            copy_id(items[i],
                    json_string_value(json_object_get(json_array_get(json_object_get(v, "inventory_items"), 0), "inventory_item_id")));
    }
    json_decref(p);
    free(product);
    free(q(&t_share, 2, item_a, vb, NULL));
}

static void test_basics(void)
{
    LEVEL(item_a, l1, "10/0");
    res_t r = reserve(lines1(va, 3), channel, "cart-1", 900);
    CHECK_INT(r.code, SQ_OK);
    CHECK_INT(first(&r, "quantity"), 3);
    CHECK(first_at(&r, l1));
    LEVEL(item_a, l1, "10/3");
    /* reserving the same reference again replaces what it held */
    r = reserve(lines1(va, 5), channel, "cart-1", 900);
    CHECK_INT(r.code, SQ_OK);
    LEVEL(item_a, l1, "10/5");
    /* A and B share an item: 3 + 3 more does not fit into the 5 left, and nothing is reserved */
    r = reserve(lines2(va, 3, vb, 3), channel, "cart-2", 900);
    CHECK_INT(r.code, SQ_E_CONFLICT);
    LEVEL(item_a, l1, "10/5");
    r = reserve(lines2(va, 2, vb, 3), channel, "cart-2", 900);
    CHECK_INT(r.code, SQ_OK);
    LEVEL(item_a, l1, "10/10");
    r = reserve(lines1(vb, 1), channel, "cart-3", 900);
    CHECK_INT(r.code, SQ_E_CONFLICT);
    /* release gives back, commit sells; both are idempotent */
    CHECK_INT(end("cart-1", false).n, 1);
    LEVEL(item_a, l1, "10/5");
    CHECK_INT(end("cart-1", false).n, 0);
    CHECK_INT(end("cart-2", true).n, 1);
    LEVEL(item_a, l1, "5/0");
    CHECK_INT(end("cart-2", true).n, 0);
    CHECK_INT(end("cart-2", false).n, 0);
    LEVEL(item_a, l1, "5/0");
    /* an unknown variant */
    r = reserve(lines1("var_01zzzzzzzzzzzzzzzzzzzzzzzz", 1), channel, "cart-4", 900);
    CHECK_INT(r.code, SQ_E_VALIDATION);
    CHECK_INT(unbalanced(), 0);
}

/* the first location (by the channel's priority) that has all of it; else the next */
static void test_locations_and_backorders(void)
{
    res_t r = reserve(lines1(vo, 2), channel, "cart-loc-1", 900);
    CHECK_INT(r.code, SQ_OK);
    LEVEL(item_o, l1, "2/2");
    r = reserve(lines1(vo, 5), channel, "cart-loc-2", 900);
    CHECK_INT(r.code, SQ_OK);
    CHECK(first_at(&r, l2));
    LEVEL(item_o, l2, "10/5");
    LEVEL(item_o, l1, "2/2");
    /* backorders: what there is is reserved, the rest recorded */
    r = reserve(lines1(vbo, 5), channel, "cart-bo", 900);
    CHECK_INT(r.code, SQ_OK);
    CHECK_INT(first(&r, "quantity"), 3);
    CHECK_INT(first(&r, "backordered"), 2);
    LEVEL(item_bo, l1, "3/3");
    CHECK_INT(end("cart-bo", false).n, 1);
    CHECK_INT(end("cart-loc-1", false).n, 1);
    CHECK_INT(end("cart-loc-2", false).n, 1);
    CHECK_INT(unbalanced(), 0);
}

static void test_expiry(void)
{
    res_t r = reserve(lines1(va, 2), channel, "cart-exp", 900);
    CHECK_INT(r.code, SQ_OK);
    LEVEL(item_a, l1, "5/2");
    res_t s = {0};
    sq_stock_release_expired(cx, 100, on_count, &s);
    wait_for(&s);
    CHECK_INT(s.n, 0); /* not expired yet */
    free(q(&t_expire, 1, "cart-exp", NULL, NULL));
    s = (res_t){0};
    sq_stock_release_expired(cx, 100, on_count, &s);
    wait_for(&s);
    CHECK_INT(s.code, SQ_OK);
    CHECK_INT(s.n, 1);
    LEVEL(item_a, l1, "5/0");
    CHECK_INT(end("cart-exp", true).n, 0); /* an expired reservation cannot be sold any more */
    CHECK_INT(unbalanced(), 0);
}

/* ---- races between processes ------------------------------------------------------------------------------- */

enum { RACE_OK = 0, RACE_CONFLICT = 1, RACE_OTHER = 2 };

/* a child: its own connection, waits for the start signal, runs job, exits with its outcome */
static pid_t spawn(int start_fd, int (*job)(int), int arg)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    sq_err_t err;
    sq_err_clear(&err);
    db = sq_syncdb_connect(url, 10000, &err);
    if (db == NULL)
        _exit(RACE_OTHER);
    cx = sq_syncdb_ctx(db);
    char go;
    if (read(start_fd, &go, 1) != 1)
        _exit(RACE_OTHER);
    int rc = job(arg);
    sq_syncdb_ctx_free(cx);
    sq_syncdb_close(db);
    _exit(rc);
}

static int race(int (*job)(int), int n, int outcomes[3])
{
    int fds[2];
    if (n < 1 || n > 64 || pipe(fds) != 0)
        return -1;
    pid_t pids[64];
    for (int i = 0; i < n; i++)
        pids[i] = spawn(fds[0], job, i);
    usleep(300000); /* let every child connect */
    char go[64] = {0};
    if (write(fds[1], go, (size_t)n) != (ssize_t)n)
        return -1;
    for (int i = 0; i < n; i++) {
        int st = 0;
        waitpid(pids[i], &st, 0);
        int rc = WIFEXITED(st) ? WEXITSTATUS(st) : RACE_OTHER;
        outcomes[rc > 2 ? 2 : rc]++;
    }
    close(fds[0]);
    close(fds[1]);
    return 0;
}

static int buy_one(int i)
{
    char ref[32];
    snprintf(ref, sizeof(ref), "race-%d", i);
    res_t r = reserve(lines1(i % 2 ? va : vb, 1), channel, ref, 900);
    if (r.code == SQ_OK && end(ref, true).n != 1)
        return RACE_OTHER;
    return r.code == SQ_OK ? RACE_OK : r.code == SQ_E_CONFLICT ? RACE_CONFLICT : RACE_OTHER;
}

/* 5 units left of the shared item, 16 buyers of either variant at once: exactly 5 sales */
static void test_race_last_units(void)
{
    LEVEL(item_a, l1, "5/0");
    int out[3] = {0};
    CHECK(race(buy_one, 16, out) == 0);
    CHECK_INT(out[RACE_OK], 5);
    CHECK_INT(out[RACE_CONFLICT], 11);
    CHECK_INT(out[RACE_OTHER], 0);
    LEVEL(item_a, l1, "0/0");
    CHECK_INT(unbalanced(), 0);
}

SQ_STMT(t_adjust, "SELECT (souq_inventory_adjust($1, $2, $3::int, 'adjustment', NULL, 'race', 'test')).on_hand");

/* buyers reserve, sell and release while staff add and remove stock: a refusal is fine, an imbalance is not */
static int churn(int i)
{
    int bad = 0;
    for (int k = 0; k < 30; k++) {
        if (i < 2) { /* staff */
            res_t r = {0};
            char delta[8];
            snprintf(delta, sizeof(delta), "%d", k % 2 ? -2 : 3);
            sq_db_query(cx->db, cx->arena, &t_adjust, 3, sq_db_params(cx->arena, 3, item_o, l2, delta), on_rows, &r);
            wait_for(&r);
            free(r.text);
            bad += r.code != SQ_OK && r.code != SQ_E_CONFLICT;
            continue;
        }
        char ref[32];
        snprintf(ref, sizeof(ref), "churn-%d-%d", i, k);
        res_t r = reserve(lines1(vo, 1 + k % 3), channel, ref, 900);
        bad += r.code != SQ_OK && r.code != SQ_E_CONFLICT;
        if (r.code == SQ_OK)
            bad += end(ref, k % 2 == 0).code != SQ_OK;
    }
    return bad ? RACE_OTHER : RACE_OK;
}

static void test_race_adjustments(void)
{
    int out[3] = {0};
    CHECK(race(churn, 8, out) == 0);
    CHECK_INT(out[RACE_OK], 8);
    CHECK_INT(unbalanced(), 0);
}

int main(void)
{
    url = getenv("SOUQ_TEST_DATABASE_URL");
    if (url == NULL) {
        fprintf(stderr, "inventory: SOUQ_TEST_DATABASE_URL is not set\n");
        return 2;
    }
    sq_err_t err;
    sq_err_clear(&err);
    db = sq_syncdb_connect(url, 10000, &err);
    if (db == NULL) {
        fprintf(stderr, "inventory: %s\n", err.detail);
        return 1;
    }
    cx = sq_syncdb_ctx(db);
    setup();
    test_basics();
    test_locations_and_backorders();
    test_expiry();
    test_race_last_units();
    test_race_adjustments();
    sq_syncdb_ctx_free(cx);
    sq_syncdb_close(db);
    return check_done("inventory");
}
