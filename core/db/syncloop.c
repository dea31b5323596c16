/* syncloop.c: a poll(2) loop for one sq_db_t. */
#include "core/db/syncloop.h"

#include <poll.h>
#include <stdlib.h>

#include "core/base/util.h"

struct sq_syncdb {
    sq_db_t *db;
    int fd;
    bool want_write;
    int64_t timer_at; /* monotonic us, 0 = none */
};

static void io_watch(void *ctx, int fd, bool want_write)
{
    sq_syncdb_t *s = ctx;
    s->fd = fd;
    s->want_write = want_write;
}

static void io_timer(void *ctx, int ms)
{
    sq_syncdb_t *s = ctx;
    s->timer_at = sq_mono_us() + (int64_t)ms * 1000;
}

static const sq_db_io_t io = {io_watch, io_timer};

static void step(sq_syncdb_t *s, int max_ms)
{
    sq_db_pump(s->db);
    int timeout = max_ms;
    if (s->timer_at != 0) {
        int64_t left = (s->timer_at - sq_mono_us()) / 1000;
        if (left < timeout)
            timeout = left < 0 ? 0 : (int)left;
    }
    struct pollfd p = {s->fd, (short)(POLLIN | (s->want_write ? POLLOUT : 0)), 0};
    int n = poll(&p, s->fd >= 0 ? 1 : 0, timeout);
    if (n > 0)
        sq_db_on_io(s->db, (p.revents & (POLLIN | POLLERR | POLLHUP)) != 0, (p.revents & POLLOUT) != 0);
    if (s->timer_at != 0 && sq_mono_us() >= s->timer_at) {
        s->timer_at = 0;
        sq_db_on_timer(s->db);
    }
}

int sq_syncdb_wait(sq_syncdb_t *s, const bool *done, int timeout_ms)
{
    int64_t end = sq_mono_us() + (int64_t)timeout_ms * 1000;
    while (!*done) {
        int64_t left = (end - sq_mono_us()) / 1000;
        if (left <= 0)
            return -1;
        step(s, left > 100 ? 100 : (int)left);
    }
    return 0;
}

sq_syncdb_t *sq_syncdb_connect(const char *conninfo, int timeout_ms, sq_err_t *err)
{
    sq_syncdb_t *s = sq_xcalloc(1, sizeof(*s));
    s->fd = -1;
    s->db = sq_db_new(conninfo, &io, s);
    sq_db_start(s->db);
    int64_t end = sq_mono_us() + (int64_t)timeout_ms * 1000;
    while (sq_db_state(s->db) != SQ_DB_READY) {
        if (sq_mono_us() >= end) {
            sq_err_set(err, SQ_E_UNAVAILABLE, "cannot connect to the database (see the log above)");
            sq_syncdb_close(s);
            return NULL;
        }
        step(s, 50);
    }
    return s;
}

static void inline_offload(sq_ctx_t *cx, void (*work)(void *), void (*done)(void *), void *data)
{
    (void)cx;
    work(data);
    done(data);
}

sq_ctx_t *sq_syncdb_ctx(sq_syncdb_t *s)
{
    sq_ctx_t *cx = sq_xcalloc(1, sizeof(*cx));
    cx->db = s->db;
    cx->arena = sq_arena_new();
    cx->offload = inline_offload;
    return cx;
}

void sq_syncdb_ctx_free(sq_ctx_t *cx)
{
    sq_arena_unref(cx->arena);
    free(cx);
}

void sq_syncdb_close(sq_syncdb_t *s)
{
    sq_db_free(s->db);
    free(s);
}
