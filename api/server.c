/* server.c: process start-up, the loop threads, and the glue that drives each thread's PostgreSQL
 * connection from its H2O event loop. */
#include "api/server.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/authn.h"
#include "api/dispatcher.h"
#include "api/jobs_runner.h"
#include "core/dynprice.h"
#include "core/automation.h"
#include "api/upkeep.h"
#include "core/auto_capture.h"
#include "core/tax_commit.h"
#include "core/gift_sale.h"
#include "core/jobs.h"
#include "core/loyalty.h"
#include "api/req.h"
#include "api/routes.h"
#include "core/auth.h"
#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/db/migrate.h"
#include "core/db/syncloop.h"
#include "core/idempotency.h"
#include "core/import.h"
#include "core/inventory.h"
#include "core/plugin.h"
#include "core/storefront.h"
#include "plugins/host/host.h"

extern char **environ;

sq_server_t sq_server;

/* ---- runtime (config + keys) ---------------------------------------------------------------------------- */

sq_rt_t *sq_rt_new(sq_config_t *cfg, char *errbuf, size_t errlen)
{
    static uint64_t generations;
    sq_rt_t *rt = sq_xcalloc(1, sizeof(*rt));
    rt->refs = 1;
    rt->generation = __atomic_add_fetch(&generations, 1, __ATOMIC_RELAXED);
    rt->cfg = cfg;
    if (sq_jwt_init(&rt->jwt, cfg, errbuf, errlen) != 0) {
        sq_config_free(cfg);
        free(rt);
        return NULL;
    }
    return rt;
}

void sq_rt_ref(sq_rt_t *rt)
{
    __atomic_add_fetch(&rt->refs, 1, __ATOMIC_RELAXED);
}

void sq_rt_unref(sq_rt_t *rt)
{
    if (__atomic_sub_fetch(&rt->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    sq_jwt_free(&rt->jwt);
    sq_config_free(rt->cfg);
    free(rt);
}

/* ---- this node's name ---------------------------------------------------------------------------------- */

static char node_id[96];
static pthread_once_t node_once = PTHREAD_ONCE_INIT;

static void make_node_id(void)
{
    char host[64] = "node";
    gethostname(host, sizeof(host) - 1);
    unsigned char rnd[4];
    char hex[9];
    sq_random_bytes(rnd, sizeof(rnd));
    sq_hex(rnd, sizeof(rnd), hex);
    snprintf(node_id, sizeof(node_id), "%.60s:%d:%s", host, (int)getpid(), hex);
}

const char *sq_node_id(void)
{
    pthread_once(&node_once, make_node_id);
    return node_id;
}

/* ---- the database connection on the loop ----------------------------------------------------------------- */

static void on_db_readable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    sq_dblink_t *l = sock->data;
    sq_db_on_io(l->db, true, false);
}

static void on_db_writable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    sq_dblink_t *l = sock->data;
    l->write_wanted = false;
    sq_db_on_io(l->db, false, true);
}

static void db_watch(void *ctx, int fd, bool want_write)
{
    sq_dblink_t *l = ctx;
    if (fd != l->fd || fd < 0) {
        if (l->sock != NULL) {
            h2o_socket_read_stop(l->sock);
            h2o_socket_close(l->sock); /* closes our dup(), not libpq's descriptor */
            l->sock = NULL;
        }
        l->fd = fd;
        l->write_wanted = false;
        if (fd >= 0) {
            /* DONT_READ: the loop must only tell us about readiness; libpq reads its own bytes */
            l->sock = h2o_evloop_socket_create(l->t->loop, dup(fd), H2O_SOCKET_FLAG_DONT_READ);
            l->sock->data = l;
            h2o_socket_read_start(l->sock, on_db_readable);
        }
    }
    /* one pending write notification at a time (H2O asserts it): a second want_write before the socket turned
     * writable is already covered by the first */
    if (l->sock != NULL && want_write && !l->write_wanted) {
        l->write_wanted = true;
        h2o_socket_notify_write(l->sock, on_db_writable);
    }
}

static void db_timer(void *ctx, int ms)
{
    sq_dblink_t *l = ctx;
    l->timer_due = sq_mono_us() + (int64_t)ms * 1000;
}

static const sq_db_io_t db_io = {db_watch, db_timer};

/* Plugin settings another node changed (migration 0049: NOTIFY souq 'plugin_settings' when they commit): thread 0
 * reads them all and applies them process-wide (a setting the node already holds, the same or newer, stays). */
static void on_settings_changed(const char *json, const sq_err_t *err, void *data)
{
    sq_arena_t *a = data;
    json_t *all = err == NULL ? json_loads(json, 0, NULL) : NULL;
    if (all != NULL)
        sq_plugins_apply_all(all);
    else
        sq_log(SQ_LOG_WARN, "plugin", "changed plugin settings not read (%s); this node applies them at its next reload",
               err != NULL ? err->detail : "not JSON");
    json_decref(all);
    sq_arena_unref(a);
}

static void refresh_plugin_settings(sq_thread_t *t)
{
    sq_arena_t *a = sq_arena_new();
    sq_ctx_t cx;
    sq_thread_ctx(t, &cx, a);
    sq_plugin_settings_list(&cx, on_settings_changed, a);
}

static void on_notify(const char *payload, void *data)
{
    sq_thread_t *t = data;
    if (strcmp(payload, "api_keys") == 0)
        sq_authn_flush_keys(t);
    else if (strcmp(payload, "catalog") == 0 && t->index == 0)
        sq_store_invalidate(); /* one thread bumps the process-wide generation */
    else if (strcmp(payload, "imports") == 0 && t->index == 0)
        t->next_import = 0; /* a new import: look at the next tick instead of the next poll */
    else if (strcmp(payload, "events") == 0 && t->index == 0)
        sq_dispatcher_wake(t); /* new events or deliveries (replay, test) */
    else if (strcmp(payload, "jobs") == 0 && t->index == 0)
        sq_jobs_runner_wake(t); /* new due jobs, manual retries */
    else if (strcmp(payload, "plugin_settings") == 0 && t->index == 0)
        refresh_plugin_settings(t); /* a node (this one too) changed a plugin's settings */
}

/* ---- per-thread housekeeping ----------------------------------------------------------------------------- */

#define SWEEP_EVERY_US 5000000
#define SWEEP_BATCH 500

typedef struct {
    sq_thread_t *t;
    sq_ctx_t cx;
} sweep_t;

#define PURGE_EVERY_US 60000000
#define PURGE_BATCH 1000

static void on_purged(long n, const sq_err_t *err, void *data)
{
    sweep_t *s = data;
    sq_thread_t *t = s->t;
    t->sweeping = false;
    t->next_purge = sq_mono_us() + (err == NULL && n == PURGE_BATCH ? 0 : PURGE_EVERY_US);
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "api", "idempotency-key purge failed: %s", err->detail);
    else if (n > 0)
        sq_log(SQ_LOG_INFO, "api", "purged %ld idempotency keys older than 24 hours", n);
    sq_arena_unref(s->cx.arena);
}

static void on_swept(long n, const sq_err_t *err, void *data)
{
    sweep_t *s = data;
    sq_thread_t *t = s->t;
    /* a full batch means more are waiting: go again at the next tick */
    t->next_sweep = sq_mono_us() + (err == NULL && n == SWEEP_BATCH ? 0 : SWEEP_EVERY_US);
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "inventory", "reservation sweep failed: %s", err->detail);
    else if (n > 0)
        sq_log(SQ_LOG_INFO, "inventory", "released %ld expired reservations", n);
    if (err == NULL && sq_mono_us() >= t->next_purge) { /* then, once a minute, old Idempotency-Keys */
        sq_idem_purge(&s->cx, PURGE_BATCH, on_purged, s);
        return;
    }
    t->sweeping = false;
    sq_arena_unref(s->cx.arena);
}

/* Thread 0 releases expired reservations (every node may: rows another node holds are skipped). */
static void sweep(sq_thread_t *t)
{
    sq_arena_t *a = sq_arena_new();
    sweep_t *s = SQ_NEW(a, sweep_t);
    s->t = t;
    sq_thread_ctx(t, &s->cx, a);
    t->sweeping = true;
    sq_stock_release_expired(&s->cx, SWEEP_BATCH, on_swept, s);
}

/* Imports: thread 0 processes pending imports in batches of at most IMPORT_BATCH products or about
 * IMPORT_BATCH_MS of database time, one statement each, so its connection serves requests between batches
 * and the loop never waits. A full batch is followed at once by
 * the next; with nothing to do it looks again every IMPORT_POLL_US. State is in the database, so an import
 * interrupted by a restart resumes, and nodes share the work (SKIP LOCKED). */
#define IMPORT_BATCH 50
#define IMPORT_BATCH_MS 100
#define IMPORT_POLL_US 1000000

static void import_step(sq_thread_t *t);

static void on_import_step(const char *json, const sq_err_t *err, void *data)
{
    sweep_t *s = data;
    sq_thread_t *t = s->t;
    t->importing = false;
    bool more = err == NULL && json != NULL && strstr(json, "\"more\": true") != NULL;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "import", "import batch failed: %s (%s)", err->detail, err->internal);
    else if (json != NULL && !more)
        sq_log(SQ_LOG_INFO, "import", "an import finished");
    sq_arena_unref(s->cx.arena);
    t->next_import = sq_mono_us() + (more || (err == NULL && json != NULL) ? 0 : IMPORT_POLL_US);
    if (more && !t->draining)
        import_step(t);
}

static void import_step(sq_thread_t *t)
{
    sq_arena_t *a = sq_arena_new();
    sweep_t *s = SQ_NEW(a, sweep_t);
    s->t = t;
    sq_thread_ctx(t, &s->cx, a);
    t->importing = true;
    sq_import_step(&s->cx, NULL, IMPORT_BATCH, IMPORT_BATCH_MS, on_import_step, s);
}

static void on_tick(h2o_timeout_entry_t *e)
{
    sq_thread_t *t = H2O_STRUCT_FROM_MEMBER(sq_thread_t, tick, e);
    int64_t now = sq_mono_us();
    bool second = now - t->last_db_tick >= 1000000;
    if (second)
        t->last_db_tick = now;
    for (int i = -1; i < t->ncommit; i++) {
        sq_dblink_t *l = i < 0 ? &t->link : &t->commit_links[i];
        if (l->timer_due != 0 && now >= l->timer_due) {
            l->timer_due = 0;
            sq_db_on_timer(l->db);
        }
        if (second)
            sq_db_tick(l->db, (int64_t)(t->rt->cfg->statement_timeout_ms + 2000) * 1000);
    }
    if (t->index == 0 && !t->draining && !t->sweeping && now >= t->next_sweep)
        sweep(t);
    /* reservations change stock without notifying (0026): bound how old the quantities of cached pages get */
    int max_age = t->rt->cfg->store_cache_max_age_s;
    if (t->index == 0 && max_age > 0 && now >= t->next_cache_age) {
        if (t->next_cache_age != 0)
            sq_store_invalidate();
        t->next_cache_age = now + (int64_t)max_age * 1000000;
    }
    if (t->index == 0 && sq_db_reconnects(t->db) != t->db_reconnects) {
        t->db_reconnects = sq_db_reconnects(t->db);
        sq_store_invalidate();
    }
    if (t->index == 0 && !t->draining && !t->importing && now >= t->next_import && sq_db_state(t->db) == SQ_DB_READY)
        import_step(t);
    if (t->index == 0) {
        sq_dispatcher_tick(t, now);
        sq_jobs_runner_tick(t, now);
        sq_upkeep_tick(t, now);
    }
    if (t->draining && t->inflight == 0 && !t->sweeping && !t->importing && !sq_dispatcher_busy(t) && !sq_jobs_runner_busy(t) &&
        !(t->index == 0 && sq_upkeep_busy(t)))
        t->stop = true;
    h2o_timeout_link(t->loop, &t->tick_timeout, &t->tick);
}

static void start_drain(sq_thread_t *t)
{
    if (t->draining)
        return;
    t->draining = true;
    if (t->listener != NULL) {
        h2o_socket_read_stop(t->listener);
        h2o_socket_close(t->listener);
        t->listener = NULL;
    }
    h2o_context_request_shutdown(&t->ctx);
}

static void on_inbox(h2o_multithread_receiver_t *r, h2o_linklist_t *messages)
{
    sq_thread_t *t = H2O_STRUCT_FROM_MEMBER(sq_thread_t, inbox, r);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        sq_msg_t *msg = (sq_msg_t *)m;
        switch (msg->kind) {
        case SQ_MSG_OFFLOAD:
            sq_req_offload_done(msg);
            break;
        case SQ_MSG_RT_SWAP: {
            sq_rt_t *old = t->rt;
            t->rt = msg->rt;
            sq_rt_unref(old);
            free(msg);
            break;
        }
        case SQ_MSG_SHUTDOWN:
            start_drain(t);
            free(msg);
            break;
        }
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    sq_thread_t *t = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&t->accept_ctx, sock);
}

static void *thread_main(void *arg)
{
    sq_thread_t *t = arg;
    h2o_socket_read_start(t->listener, on_accept);
    while (!t->stop) {
        h2o_evloop_run(t->loop, INT32_MAX);
        sq_db_pump(t->db); /* what this iteration's requests asked for, in as few round trips as possible */
        for (int i = 0; i < t->ncommit; i++)
            sq_db_pump(t->commit_dbs[i]);
    }
    sq_db_close(t->db);
    for (int i = 0; i < t->ncommit; i++)
        sq_db_close(t->commit_dbs[i]);
    sq_plugins_thread_exit();
    return NULL; /* the read cache stays until the process ends: /metrics on another thread may still read it */
}

/* ---- start-up --------------------------------------------------------------------------------------------- */

/* A listening socket on cfg->listen; with probe, a bind without SO_REUSEPORT that is closed at once: it fails
 * when another process (a second souq, say) already listens there, which SO_REUSEPORT would silently allow. */
static int open_listener(const sq_config_t *cfg, bool probe)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[8];
    snprintf(port, sizeof(port), "%d", cfg->listen_port);
    int rc = getaddrinfo(cfg->listen_host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "souq: config listen: cannot resolve %s: %s\n", cfg->listen_host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (!probe && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        (!probe && listen(fd, SOMAXCONN) != 0)) {
        fprintf(stderr, "souq: config listen: cannot listen on %s: %s\n", cfg->listen, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (probe && fd >= 0) {
        close(fd);
        return 0;
    }
    return fd;
}

static int preflight(const sq_config_t *cfg)
{
    sq_preflight_t pf;
    sq_err_t err;
    sq_err_clear(&err);
    if (sq_db_preflight(cfg->database_url, &pf, &err) != 0) {
        fprintf(stderr, "souq: config database_url: %s\n", err.detail);
        return -1;
    }
    if (!pf.fsync_on || !pf.synchronous_commit_on) {
        const char *what = !pf.fsync_on ? "fsync=off" : "synchronous_commit=off";
        if (strcmp(cfg->durability_check, "refuse") == 0) {
            fprintf(stderr,
                    "souq: the database runs with %s, so acknowledged orders can be lost in a crash. Fix the database, or "
                    "set durability_check = warn for a throwaway environment.\n",
                    what);
            return -1;
        }
        sq_log(SQ_LOG_WARN, "server", "DURABILITY WARNING: the database runs with %s; acknowledged writes can be lost", what);
    }
    if (pf.applied < pf.embedded)
        sq_log(SQ_LOG_WARN, "server",
               "the database schema is behind (%d of %d migrations applied): run `souq migrate`; "
               "/readyz answers 503 until then",
               pf.applied, pf.embedded);
    return 0;
}

static void setup_h2o(const sq_config_t *cfg)
{
    h2o_config_init(&sq_server.h2o);
    /* the largest body any route takes; req.c holds every other route to its own limit */
    sq_server.h2o.max_request_entity_size =
        (size_t)(cfg->max_import_bytes > cfg->max_body_bytes ? cfg->max_import_bytes : cfg->max_body_bytes);
    sq_server.h2o.server_name = h2o_iovec_init(H2O_STRLIT("souq"));
    h2o_hostconf_t *host = h2o_config_register_host(&sq_server.h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));
    h->on_req = sq_req_handle;
}

static void init_thread(sq_thread_t *t, int index, int fd, const sq_config_t *cfg)
{
    t->index = index;
    t->link.fd = -1;
    t->loop = h2o_evloop_create();
    h2o_context_init(&t->ctx, t->loop, &sq_server.h2o);
    t->accept_ctx.ctx = &t->ctx;
    t->accept_ctx.hosts = sq_server.h2o.hosts;
    t->queue = h2o_multithread_create_queue(t->loop);
    h2o_multithread_register_receiver(t->queue, &t->inbox, on_inbox);
    h2o_timeout_init(t->loop, &t->tick_timeout, 100);
    t->tick.cb = on_tick;
    h2o_timeout_link(t->loop, &t->tick_timeout, &t->tick);
    h2o_timeout_init(t->loop, &t->deadline_timeout, (uint64_t)cfg->request_timeout_ms);
    h2o_timeout_init(t->loop, &t->step_timeout, SQ_AFTER_STEP_MS);
    t->listener = h2o_evloop_socket_create(t->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
    sq_rt_ref(sq_server.rt);
    t->rt = sq_server.rt;
    unsigned char rnd[4];
    sq_random_bytes(rnd, sizeof(rnd));
    sq_hex(rnd, sizeof(rnd), t->req_prefix);
    t->jwt_cache = sq_xcalloc(SQ_JWT_CACHE, sizeof(sq_jwt_entry_t));
    t->store_cache = sq_cache_new((size_t)cfg->store_cache_mb << 20);
    t->next_purge = sq_mono_us() + SWEEP_EVERY_US; /* the second sweep purges first: start-up stays quick */
    t->link.t = t;
    t->db = t->link.db = sq_db_new(cfg->database_url, &db_io, &t->link);
    sq_db_on_notify(t->db, on_notify, t);
    sq_db_start(t->db);
    t->ncommit = cfg->db_commit_connections;
    t->commit_links = sq_xcalloc((size_t)t->ncommit + 1, sizeof(sq_dblink_t));
    t->commit_dbs = sq_xcalloc((size_t)t->ncommit + 1, sizeof(sq_db_t *));
    for (int i = 0; i < t->ncommit; i++) {
        sq_dblink_t *l = &t->commit_links[i];
        l->t = t;
        l->fd = -1;
        l->db = t->commit_dbs[i] = sq_db_new(cfg->database_url, &db_io, l);
        sq_db_start(l->db);
    }
}

static void send_all(sq_msg_kind_t kind, sq_rt_t *rt)
{
    for (int i = 0; i < sq_server.nthreads; i++) {
        sq_msg_t *m = sq_xcalloc(1, sizeof(*m));
        m->kind = kind;
        if (rt != NULL) {
            sq_rt_ref(rt);
            m->rt = rt;
        }
        h2o_multithread_send_message(&sq_server.threads[i].inbox, &m->super);
    }
}

/* The stored plugin settings (plugin_settings), read with a blocking connection: only on the main thread, before
 * the loops start and on SIGHUP. Without them (database down, schema behind) plugins load with their defaults. */
typedef struct {
    bool done;
    json_t *settings;
    sq_err_t err;
} settings_read_t;

static void on_plugin_settings(const char *json, const sq_err_t *err, void *data)
{
    settings_read_t *st = data;
    st->done = true;
    if (err != NULL)
        sq_err_copy(&st->err, err);
    else
        st->settings = json_loads(json, 0, NULL);
}

static void read_plugin_settings(const sq_config_t *cfg)
{
    settings_read_t st = {0};
    sq_err_clear(&st.err);
    sq_syncdb_t *s = sq_syncdb_connect(cfg->database_url, 5000, &st.err);
    if (s != NULL) {
        sq_ctx_t *cx = sq_syncdb_ctx(s);
        sq_plugin_settings_list(cx, on_plugin_settings, &st);
        if (sq_syncdb_wait(s, &st.done, 5000) != 0 && !st.done)
            sq_err_set(&st.err, SQ_E_TIMEOUT, "timed out");
        sq_syncdb_ctx_free(cx);
        sq_syncdb_close(s);
    }
    if (st.settings != NULL)
        sq_plugins_set_settings(st.settings);
    else
        sq_log(SQ_LOG_WARN, "plugin", "plugin settings not read (%s); plugins use their defaults", st.err.detail);
    json_decref(st.settings);
}

static void reload(const char *config_path)
{
    char errbuf[512];
    sq_config_t *cfg = sq_config_load(config_path, environ, errbuf, sizeof(errbuf));
    sq_rt_t *rt = cfg ? sq_rt_new(cfg, errbuf, sizeof(errbuf)) : NULL;
    if (rt == NULL) {
        sq_log(SQ_LOG_ERROR, "server", "configuration reload refused, keeping the running one: %s", errbuf);
        return;
    }
    char restart[256];
    sq_config_restart_keys(sq_server.rt->cfg, cfg, restart, sizeof(restart));
    if (restart[0])
        sq_log(SQ_LOG_WARN, "server", "configuration reloaded; these keys need a restart to take effect: %s", restart);
    else
        sq_log(SQ_LOG_INFO, "server", "configuration reloaded");
    sq_log_set_level((sq_log_level_t)sq_log_level_parse(cfg->log_level));
    sq_password_set_cost((uint32_t)cfg->password_hash_memory_kib, (uint32_t)cfg->password_hash_iterations);
    sq_rt_t *old = sq_server.rt;
    sq_server.rt = rt;
    send_all(SQ_MSG_RT_SWAP, rt);
    sq_rt_unref(old);
    read_plugin_settings(cfg);
    sq_plugins_set_secret_keys(cfg->plugin_secrets_key, cfg->plugin_secrets_previous_key); /* validated at load */
    json_decref(sq_plugins_reload(cfg->plugin_dirs)); /* refused plugins are logged; their previous versions stay */
}

int sq_serve(const char *config_path)
{
    /* responses of tens of KiB come and go on every thread: keep freed memory in the heaps instead of giving it
     * back to the kernel and faulting it in again on the next request (glibc trims thread heaps eagerly) */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    char errbuf[512];
    sq_config_t *cfg = sq_config_load(config_path, environ, errbuf, sizeof(errbuf));
    if (cfg == NULL) {
        fprintf(stderr, "souq: %s\n", errbuf);
        return 2;
    }
    sq_log_set_level((sq_log_level_t)sq_log_level_parse(cfg->log_level));
    sq_password_set_cost((uint32_t)cfg->password_hash_memory_kib, (uint32_t)cfg->password_hash_iterations);
    sq_db_set_timeouts(cfg->statement_timeout_ms, cfg->lock_timeout_ms);
    sq_server.rt = sq_rt_new(cfg, errbuf, sizeof(errbuf));
    if (sq_server.rt == NULL) {
        fprintf(stderr, "souq: %s\n", errbuf);
        return 2;
    }
    cfg = sq_server.rt->cfg;
    sq_jobs_register_builtins(cfg->jobs_test_kinds); /* before the threads: the table is read-only from then on */
    sq_dynprice_register_jobs();                     /* price_schedule.run, pricing_rules.evaluate (core/dynprice.h) */
    sq_automation_register_jobs();
    sq_upkeep_init();
    sq_loyalty_register_jobs();                       /* loyalty.maintain, segments.refresh (core/loyalty.h) */
    sq_auto_capture_register();                      /* order.auto_capture (core/auto_capture.h) */
    sq_gift_sale_register();                         /* gift_cards.purge_deliveries (core/gift_sale.h) */
    sq_tax_commit_register(); /* tax.commit, tax.void, tax.refund (core/tax_commit.h) */
    sq_server.router = sq_router_new(sq_routes, sq_routes_count, errbuf, sizeof(errbuf));
    if (sq_server.router == NULL) {
        fprintf(stderr, "souq: internal route table: %s\n", errbuf);
        return 1;
    }
    if (preflight(cfg) != 0)
        return 1;

    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* threads inherit the mask; only main takes signals */

    int n = cfg->threads;
    int *fds = sq_xcalloc((size_t)n, sizeof(int));
    if (open_listener(cfg, true) < 0)
        return 1;
    for (int i = 0; i < n; i++)
        if ((fds[i] = open_listener(cfg, false)) < 0)
            return 1;
    setup_h2o(cfg);
    read_plugin_settings(cfg);
    sq_plugins_set_secret_keys(cfg->plugin_secrets_key, cfg->plugin_secrets_previous_key); /* validated at load */
    sq_plugins_init(cfg->plugin_dirs);
    sq_server.pool = sq_pool_new(cfg->pool_threads);
    sq_server.nthreads = n;
    sq_server.threads = sq_xcalloc((size_t)n, sizeof(sq_thread_t));
    sq_server.started_us = sq_now_us();
    for (int i = 0; i < n; i++)
        init_thread(&sq_server.threads[i], i, fds[i], cfg);
    for (int i = 0; i < n; i++)
        pthread_create(&sq_server.threads[i].tid, NULL, thread_main, &sq_server.threads[i]);
    free(fds);
    sq_log(SQ_LOG_INFO, "server", "souq listening on http://%s with %d threads", cfg->listen, n);

    for (;;) {
        int sig;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(config_path);
            continue;
        }
        break;
    }
    int timeout_ms = sq_server.rt->cfg->shutdown_timeout_ms;
    sq_log(SQ_LOG_INFO, "server", "shutting down: draining in-flight requests (up to %d ms)", timeout_ms);
    send_all(SQ_MSG_SHUTDOWN, NULL);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    int stuck = 0;
    for (int i = 0; i < n; i++)
        if (pthread_timedjoin_np(sq_server.threads[i].tid, NULL, &deadline) != 0)
            stuck++;
    if (stuck > 0)
        sq_log(SQ_LOG_WARN, "server", "%d thread(s) still had requests at the shutdown deadline", stuck);
    sq_log(SQ_LOG_INFO, "server", "stopped");
    return 0;
}
