/* kv.c: souq.kv (a key-value store per plugin with TTLs, in PostgreSQL) and souq.events.emit (custom events through
 * the outbox): the SDK functions that reach the database. Like souq.http.request (http.c), each checks its arguments,
 * issues one statement through the call's context (core/plugin_sdk.h) and yields the hook's coroutine; the statement's
 * callback resumes it and the continuation hands the plugin its answer. The plugin's name comes from its definition,
 * never from the plugin, so no plugin reaches another's keys.
 *
 * Waiting costs no instructions and does not count against the wall-clock budget (sq_pcall_resume moves it), only
 * against the call's deadline, as for souq.http. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/jobs.h"
#include "core/plugin_sdk.h"
#include "plugins/host/internal.h"

enum { OP_GET, OP_SET, OP_DELETE, OP_INCR, OP_EMIT };
static const char *const op_names[] = {"souq.kv.get", "souq.kv.set", "souq.kv.delete", "souq.kv.incr", "souq.events.emit"};

/* One statement a call waits for: the arena of the call's context holds it. */
typedef struct {
    sq_pcall_t *c;
    int op;
    json_t *res; /* owned by the arena */
    bool failed;
    sq_code_t code;
    char detail[200];
} dbop_t;

static bool key_ok(const char *s, size_t n)
{
    if (n < 1 || n > SQ_PLUGIN_KV_KEY_MAX)
        return false;
    /* UTF-8 without control characters (PostgreSQL text holds no NUL; keys show up in logs and tools) */
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t len = ch < 0x80 ? 1 : (ch & 0xE0) == 0xC0 ? 2 : (ch & 0xF0) == 0xE0 ? 3 : (ch & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || i + len > n || (len == 1 && (ch < 0x20 || ch == 0x7F)) || (len == 2 && ch < 0xC2))
            return false;
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

static void on_db(const char *json, const sq_err_t *err, void *data)
{
    dbop_t *op = data;
    sq_pcall_t *c = op->c;
    if (err != NULL) {
        op->failed = true;
        op->code = err->code;
        snprintf(op->detail, sizeof(op->detail), "%s", err->detail);
    } else {
        op->res = sq_json_own(c->cx->arena, json_loads(json, 0, NULL));
    }
    if (c->io == SQ_PIO_ISSUING) { /* answered before the SDK function returned: no yield needed */
        c->io = SQ_PIO_DONE;
        return;
    }
    sq_pcall_resume(c);
}

/* The continuation: the statement's answer as the SDK function's results, or a Lua error. */
static int answer_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    dbop_t *op = (dbop_t *)ctx;
    sq_pcall_t *c = op->c;
    c->io = SQ_PIO_NONE;
    if (sq_mono_us() > c->call_deadline_us)
        sq_sandbox_stop(L, SQ_PR_TIMEOUT, "call deadline of %lld ms exceeded (waiting for %s)",
                        (long long)((c->call_deadline_us - c->start_us) / 1000), op_names[op->op]);
    lua_settop(L, 0);
    if (op->failed) {
        if (op->code == SQ_E_VALIDATION) /* the plugin's doing: the key cap, a value that is not an integer, an overflow */
            return luaL_error(L, "%s: %s", op_names[op->op], op->detail);
        return luaL_error(L, "%s: the store is unavailable (%s)", op_names[op->op], sq_err_slug(op->code));
    }
    switch (op->op) {
    case OP_GET: {
        const char *hex = json_string_value(json_object_get(op->res, "value"));
        if (!json_is_true(json_object_get(op->res, "found")) || hex == NULL) {
            lua_pushnil(L);
            return 1;
        }
        size_t n = strlen(hex) / 2;
        luaL_Buffer b;
        char *out = luaL_buffinitsize(L, &b, n + 1);
        for (size_t i = 0; i < n; i++) {
            int h = hex[2 * i], l = hex[2 * i + 1];
            h = h <= '9' ? h - '0' : h - 'a' + 10;
            l = l <= '9' ? l - '0' : l - 'a' + 10;
            out[i] = (char)(h << 4 | l);
        }
        luaL_pushresultsize(&b, n);
        return 1;
    }
    case OP_SET:
        lua_pushboolean(L, 1);
        return 1;
    case OP_DELETE:
        lua_pushboolean(L, json_is_true(json_object_get(op->res, "deleted")));
        return 1;
    case OP_INCR:
        lua_pushinteger(L, (lua_Integer)json_integer_value(json_object_get(op->res, "value")));
        return 1;
    default:
        lua_pushstring(L, json_string_value(json_object_get(op->res, "id")));
        return 1;
    }
}

/* Checks that L may wait for a statement now; the op to fill, in the context's arena. */
static dbop_t *begin(lua_State *L, int which)
{
    sq_pcall_t *c = sq_pcall_current(L);
    if (c == NULL || c->co != L)
        luaL_error(L, "%s can only be called while a hook runs, and not inside a coroutine the plugin created", op_names[which]);
    if (c->cx == NULL || c->cx->arena == NULL || (c->cx->db == NULL && (which == OP_EMIT ? c->events_fake : c->kv_fake) == NULL))
        luaL_error(L, "%s: the store is unavailable in this context", op_names[which]);
    if (c->nsdk_io >= SQ_PLUGIN_DB_PER_CALL)
        luaL_error(L, "%s: at most %d souq.kv and souq.events calls per hook call", op_names[which], SQ_PLUGIN_DB_PER_CALL);
    if (sq_mono_us() >= c->call_deadline_us)
        sq_sandbox_stop(L, SQ_PR_TIMEOUT, "call deadline of %lld ms reached before %s",
                        (long long)((c->call_deadline_us - c->start_us) / 1000), op_names[which]);
    dbop_t *op = SQ_NEW(c->cx->arena, dbop_t);
    op->c = c;
    op->op = which;
    c->nsdk_io++;
    c->io = SQ_PIO_ISSUING; /* the caller issues the statement next; nothing may raise in between */
    c->paused_us = sq_mono_us();
    return op;
}

/* ---- the spec harness's store (souq plugin test): the same rules, in memory, answered at once ------------------------- */

static bool fake_live(const json_t *e, int64_t now)
{
    json_int_t exp = json_integer_value(json_object_get(e, "exp"));
    return e != NULL && (exp == 0 || exp > now);
}

static void fake_fail(dbop_t *op, const char *msg)
{
    op->failed = true;
    op->code = SQ_E_VALIDATION;
    snprintf(op->detail, sizeof(op->detail), "%s", msg);
}

/* Runs op on c->kv_fake (hex: set's value; by: incr's step; ttl_ms: set and incr) and marks it answered. */
static void fake_kv(dbop_t *op, const char *key, const char *hex, int64_t by, int64_t ttl_ms)
{
    sq_pcall_t *c = op->c;
    json_t *kv = c->kv_fake, *e = json_object_get(kv, key);
    int64_t now = sq_now_us() / 1000000;
    bool live = fake_live(e, now);
    sq_arena_t *a = c->cx->arena;
    if ((op->op == OP_SET || op->op == OP_INCR) && !live) { /* a new key: the cap */
        int n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(kv, k, v) n += fake_live(v, now);
        char msg[80];
        snprintf(msg, sizeof(msg), "the plugin already has %d keys (the limit)", SQ_PLUGIN_KV_KEYS_MAX);
        if (n >= SQ_PLUGIN_KV_KEYS_MAX)
            fake_fail(op, msg);
    }
    json_int_t exp = ttl_ms > 0 ? (json_int_t)(now + ttl_ms / 1000) : 0;
    if (op->failed) {
        /* answered below */
    } else if (op->op == OP_GET) {
        op->res = sq_json_own(a, live ? json_pack("{s:b, s:O}", "found", 1, "value", json_object_get(e, "hex"))
                                      : json_pack("{s:b}", "found", 0));
    } else if (op->op == OP_SET) {
        json_object_set_new(kv, key, json_pack("{s:s, s:I}", "hex", hex, "exp", exp));
        op->res = sq_json_own(a, json_pack("{s:b}", "ok", 1));
    } else if (op->op == OP_DELETE) {
        json_object_del(kv, key);
        op->res = sq_json_own(a, json_pack("{s:b}", "deleted", live));
    } else { /* OP_INCR: the value is hex of its decimal text */
        long long cur = 0, n = 0;
        if (live) {
            const char *h = json_string_value(json_object_get(e, "hex"));
            char text[24];
            size_t hl = strlen(h);
            bool ok = hl >= 2 && hl <= 40;
            for (size_t i = 0; ok && i < hl / 2; i++) {
                int hi = h[2 * i] <= '9' ? h[2 * i] - '0' : h[2 * i] - 'a' + 10,
                    lo = h[2 * i + 1] <= '9' ? h[2 * i + 1] - '0' : h[2 * i + 1] - 'a' + 10;
                text[i] = (char)(hi << 4 | lo);
                ok = (text[i] >= '0' && text[i] <= '9') || (i == 0 && text[i] == '-' && hl > 2);
            }
            if (ok) {
                text[hl / 2] = '\0';
                char *end;
                cur = strtoll(text, &end, 10);
            } else {
                fake_fail(op, "the value at this key is not an integer");
            }
        }
        if (!op->failed && __builtin_add_overflow(cur, (long long)by, &n))
            fake_fail(op, "the value would overflow");
        if (!op->failed) {
            char text[24], hx[49];
            int tl = snprintf(text, sizeof(text), "%lld", n);
            sq_hex((const unsigned char *)text, (size_t)tl, hx);
            json_object_set_new(
                kv, key, json_pack("{s:s, s:I}", "hex", hx, "exp", live ? json_integer_value(json_object_get(e, "exp")) : exp));
            op->res = sq_json_own(a, json_pack("{s:I}", "value", (json_int_t)n));
        }
    }
    c->io = SQ_PIO_DONE;
}

/* After the statement was issued: goes on at once when it already answered, else yields until on_db resumes. */
static int wait_for(lua_State *L, dbop_t *op)
{
    sq_pcall_t *c = op->c;
    if (c->io == SQ_PIO_DONE)
        return answer_k(L, LUA_OK, (lua_KContext)op);
    c->io = SQ_PIO_WAITING;
    return lua_yieldk(L, 0, (lua_KContext)op, answer_k);
}

static const char *check_key(lua_State *L, int which)
{
    size_t n;
    if (lua_type(L, 1) != LUA_TSTRING)
        luaL_error(L, "%s: the key must be a string", op_names[which]);
    const char *k = lua_tolstring(L, 1, &n);
    if (!key_ok(k, n))
        luaL_error(L, "%s: the key must be 1-%d bytes of UTF-8 without control characters", op_names[which], SQ_PLUGIN_KV_KEY_MAX);
    return k;
}

static int64_t check_ttl(lua_State *L, int idx, int which)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    if (!lua_isinteger(L, idx) || lua_tointeger(L, idx) < 1 || lua_tointeger(L, idx) > SQ_PLUGIN_KV_TTL_MAX_S)
        luaL_error(L, "%s: ttl must be an integer number of seconds from 1 to %d", op_names[which], SQ_PLUGIN_KV_TTL_MAX_S);
    return (int64_t)lua_tointeger(L, idx) * 1000;
}

/** souq.kv
 * A key-value store of your plugin's own, shared by every node (PostgreSQL). Values are strings (bytes); encode tables
 * with `souq.json.encode`. Each call suspends your hook like `souq.http.request` (only from the hook's own coroutine;
 * the wait counts only against the call's deadline). Errors are Lua errors starting with the function's name (`pcall`
 * them): limits, bad arguments, and `souq.kv.get: the store is unavailable (...)` when the database cannot be reached.
 * Keys: 1-256 bytes of UTF-8 without control characters. At most 64 `souq.kv` and `souq.events` calls per hook call.
 * Expired keys are invisible at once and purged by a job every 5 minutes. No plugin sees another's keys. */

/** souq.kv.get(key) -> string | nil
 * nil when the key was never set, was deleted, or has expired. */
static int kv_get(lua_State *L)
{
    const char *k = check_key(L, OP_GET);
    dbop_t *op = begin(L, OP_GET);
    sq_ctx_t *cx = op->c->cx;
    const char *key = sq_arena_strdup(cx->arena, k);
    if (op->c->kv_fake != NULL)
        fake_kv(op, key, NULL, 0, 0);
    else
        sq_plugin_kv_get(cx, sq_pcall_current(L)->ps->def->name, key, on_db, op);
    return wait_for(L, op);
}

/** souq.kv.set(key, value [, ttl]) -> true
 * `value`: a string of at most 64 KiB. `ttl`: seconds (1 to 366 days) after which the key is gone; none: kept until
 * deleted. Replaces the value and the ttl. A new key beyond 10,000 live keys of the plugin is an error (rewriting a
 * live key is always fine). */
static int kv_set(lua_State *L)
{
    const char *k = check_key(L, OP_SET);
    size_t vl;
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "souq.kv.set: the value must be a string (encode tables with souq.json.encode)");
    const char *v = lua_tolstring(L, 2, &vl);
    if (vl > SQ_PLUGIN_KV_VALUE_MAX)
        return luaL_error(L, "souq.kv.set: the value is larger than %d bytes", SQ_PLUGIN_KV_VALUE_MAX);
    int64_t ttl = check_ttl(L, 3, OP_SET);
    dbop_t *op = begin(L, OP_SET);
    sq_ctx_t *cx = op->c->cx;
    char *hex = sq_arena_alloc(cx->arena, vl * 2 + 1);
    sq_hex((const unsigned char *)v, vl, hex);
    hex[vl * 2] = '\0';
    const char *key = sq_arena_strdup(cx->arena, k);
    if (op->c->kv_fake != NULL)
        fake_kv(op, key, hex, 0, ttl);
    else
        sq_plugin_kv_set(cx, op->c->ps->def->name, key, hex, ttl, SQ_PLUGIN_KV_KEYS_MAX, on_db, op);
    return wait_for(L, op);
}

/** souq.kv.delete(key) -> boolean
 * true when a live key was deleted, false when there was none. */
static int kv_delete(lua_State *L)
{
    const char *k = check_key(L, OP_DELETE);
    dbop_t *op = begin(L, OP_DELETE);
    sq_ctx_t *cx = op->c->cx;
    const char *key = sq_arena_strdup(cx->arena, k);
    if (op->c->kv_fake != NULL)
        fake_kv(op, key, NULL, 0, 0);
    else
        sq_plugin_kv_delete(cx, op->c->ps->def->name, key, on_db, op);
    return wait_for(L, op);
}

/** souq.kv.incr(key [, by [, ttl]]) -> integer
 * Adds `by` (default 1; negative decrements) atomically: concurrent calls on every node each count. A missing or
 * expired key starts from 0 and gets `ttl`; a live key keeps its expiry, so `incr(k, 1, 60)` counts within a fixed
 * 60-second window. A value that is not a decimal integer, or an overflow, is an error. */
static int kv_incr(lua_State *L)
{
    const char *k = check_key(L, OP_INCR);
    lua_Integer by = 1;
    if (!lua_isnoneornil(L, 2)) {
        if (!lua_isinteger(L, 2))
            return luaL_error(L, "souq.kv.incr: by must be an integer");
        by = lua_tointeger(L, 2);
    }
    int64_t ttl = check_ttl(L, 3, OP_INCR);
    dbop_t *op = begin(L, OP_INCR);
    sq_ctx_t *cx = op->c->cx;
    const char *key = sq_arena_strdup(cx->arena, k);
    if (op->c->kv_fake != NULL)
        fake_kv(op, key, NULL, (int64_t)by, ttl);
    else
        sq_plugin_kv_incr(cx, op->c->ps->def->name, key, (int64_t)by, ttl, SQ_PLUGIN_KV_KEYS_MAX, on_db, op);
    return wait_for(L, op);
}

/** souq.events.emit(type, payload) -> "evt_..."
 * Writes the event `plugin.<your plugin>.<type>` to the outbox at once, in its own transaction (it stays even if your
 * hook fails later); webhooks subscribed to it (by name, to `plugin.<your plugin>.*` or to `plugin.*`) get it at least
 * once. `type`: 1-64 of `a-z 0-9 _ .`, starting with a letter, no `..`, not ending with `.`. `payload`: a table that
 * encodes as a JSON object (`{}` for an empty table), at most 64 KiB. Document your events in your README. */
static int events_emit(lua_State *L)
{
    size_t tl;
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "souq.events.emit: type must be a string");
    const char *t = lua_tolstring(L, 1, &tl);
    bool ok = tl >= 1 && tl <= 64 && t[0] >= 'a' && t[0] <= 'z' && t[tl - 1] != '.';
    for (size_t i = 0; ok && i < tl; i++)
        ok = (t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_' || (t[i] == '.' && t[i + 1] != '.');
    if (!ok)
        return luaL_error(L, "souq.events.emit: type must be 1-64 of a-z 0-9 _ . starting with a letter (the event is "
                             "plugin.<plugin>.<type>)");
    if (lua_type(L, 2) != LUA_TTABLE)
        return luaL_error(L, "souq.events.emit: payload must be a table");
    size_t bytes = 0;
    char why[160] = "";
    json_t *j = sq_lua_to_json(L, 2, 0, &bytes, why, sizeof(why));
    if (j == NULL)
        return luaL_error(L, "souq.events.emit: the payload is not JSON: %s", bytes > SQ_PLUGIN_OUTPUT_MAX ? "too large" : why);
    if (json_is_array(j) && json_array_size(j) == 0) { /* an empty table is {} */
        json_decref(j);
        j = json_object();
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return luaL_error(L, "souq.events.emit: the payload must be a table with string keys (a JSON object)");
    }
    size_t len = json_dumpb(j, NULL, 0, JSON_COMPACT);
    if (len > SQ_PLUGIN_EVENT_PAYLOAD_MAX) {
        json_decref(j);
        return luaL_error(L, "souq.events.emit: the payload is larger than %d bytes as JSON", SQ_PLUGIN_EVENT_PAYLOAD_MAX);
    }
    sq_pcall_t *c = sq_pcall_current(L);
    if (c == NULL || c->co != L || c->cx == NULL) { /* begin() raises; drop the document first */
        json_decref(j);
        begin(L, OP_EMIT);
    }
    dbop_t *op = begin(L, OP_EMIT);
    sq_ctx_t *cx = op->c->cx;
    const char *payload = sq_json_dump(cx->arena, j, &len);
    json_decref(j);
    const char *type = sq_arena_strndup(cx->arena, t, tl);
    if (op->c->events_fake != NULL) { /* the spec harness records it */
        json_t *ev = json_pack("{s:s, s:o}", "type", sq_arena_printf(cx->arena, "plugin.%s.%s", op->c->ps->def->name, type),
                               "payload", json_loads(payload, 0, NULL));
        json_array_append_new(op->c->events_fake, ev);
        op->res = sq_json_own(
            cx->arena, json_pack("{s:s}", "id", sq_arena_printf(cx->arena, "evt_spec_%zu", json_array_size(op->c->events_fake))));
        op->c->io = SQ_PIO_DONE;
    } else {
        sq_plugin_event_emit(cx, op->c->ps->def->name, type, payload, on_db, op);
    }
    return wait_for(L, op);
}

void sq_sdk_open_db(lua_State *L)
{
    static const luaL_Reg kv[] = {{"get", kv_get}, {"set", kv_set}, {"delete", kv_delete}, {"incr", kv_incr}, {NULL, NULL}};
    static const luaL_Reg events[] = {{"emit", events_emit}, {NULL, NULL}};
    lua_newtable(L);
    luaL_setfuncs(L, kv, 0);
    sq_lua_readonly(L);
    lua_setfield(L, -2, "kv");
    lua_newtable(L);
    luaL_setfuncs(L, events, 0);
    sq_lua_readonly(L);
    lua_setfield(L, -2, "events");
}

/* ---- the plugin_kv.purge job: expired keys, in batches ------------------------------------------------------------ */

#define PURGE_BATCH 5000
#define PURGE_BATCHES 20 /* per run: 100,000 keys; the schedule runs every 5 minutes */

typedef struct {
    sq_ctx_t *cx;
    sq_job_done_cb done;
    void *data;
    int batches;
    long deleted;
} purge_t;

static void on_purged(const char *json, const sq_err_t *err, void *data)
{
    purge_t *p = data;
    if (err != NULL) {
        p->done(err, false, p->data);
        return;
    }
    json_t *j = sq_json_own(p->cx->arena, json_loads(json, 0, NULL));
    json_int_t n = json_integer_value(json_object_get(j, "deleted"));
    p->deleted += (long)n;
    if (n == PURGE_BATCH && ++p->batches < PURGE_BATCHES) {
        sq_plugin_kv_purge(p->cx, PURGE_BATCH, on_purged, p);
        return;
    }
    if (p->deleted > 0)
        sq_log(SQ_LOG_INFO, "plugin", "plugin_kv.purge deleted=%ld", p->deleted);
    p->done(NULL, false, p->data);
}

static void purge_job(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    (void)job;
    purge_t *p = SQ_NEW(cx->arena, purge_t);
    *p = (purge_t){cx, done, data, 0, 0};
    sq_plugin_kv_purge(cx, PURGE_BATCH, on_purged, p);
}

void sq_plugin_kv_register_jobs(void)
{
    sq_jobs_register("plugin_kv.purge", purge_job);
}
