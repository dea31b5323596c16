/* spec.c: `souq plugin test DIR`, the plugin author's test runner. Each spec file (spec/NAME.lua) of the plugin runs inside the
 * real sandbox (the plugin's own allowlisted globals and budgets) with one more global, `spec`: tests register
 * with spec.test, call the plugin's hooks with spec.call exactly as the host calls them (a coroutine on a state of
 * their own, the request or background budgets, JSON in and out), and answer its souq.http.request calls from
 * fakes (spec.http.respond) while recording them (spec.http.requests); souq.kv runs on an in-memory store (spec.kv) and
 * souq.events.emit is recorded (spec.events). Nothing here opens a socket or a database.
 * The spec API is documented in sdk/lua/guide.md. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "plugins/host/internal.h"

#define SPEC_STATES 8       /* plugin states (one per config) a test may keep */
#define SPEC_FILE_MAX 65536 /* bytes of one spec file */
#define SPEC_BUDGET_X 10    /* a spec's own code runs under 10 times the plugin's background budgets */

typedef struct harness {
    sq_pdef_t *def;
    sq_ctx_t cx;      /* the context of hook calls: its http is the fake below */
    json_t *fakes;    /* [{method, url, response}] */
    json_t *requests; /* what the plugin sent, in order */
    json_t *kv;       /* souq.kv of the hooks: key -> {hex, exp} (kv.c) */
    json_t *events;   /* what souq.events.emit wrote: [{type, payload}] */
    sq_pstate_t *ps[SPEC_STATES];
    char *key[SPEC_STATES]; /* the config each state was built with (sorted, compact JSON) */
    int nps;
} harness_t;

static harness_t *harness(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static void reset(harness_t *h)
{
    for (int i = 0; i < h->nps; i++) {
        sq_pstate_free(h->ps[i]);
        free(h->key[i]);
    }
    h->nps = 0;
    json_array_clear(h->fakes);
    json_array_clear(h->requests);
    json_object_clear(h->kv);
    json_array_clear(h->events);
    if (h->cx.arena != NULL)
        sq_arena_unref(h->cx.arena);
    h->cx.arena = sq_arena_new();
}

/* ---- the fake outbound HTTP client ------------------------------------------------------------------------------ */

static bool url_matches(const char *pattern, const char *url)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*') /* a prefix */
        return strncmp(pattern, url, n - 1) == 0;
    return strcmp(pattern, url) == 0;
}

static sq_http_error_t error_named(const char *name)
{
    for (int e = SQ_HTTP_OK + 1; e <= SQ_HTTP_E_UNAVAILABLE; e++)
        if (strcmp(sq_http_error_name((sq_http_error_t)e), name) == 0)
            return (sq_http_error_t)e;
    return SQ_HTTP_E_REFUSED;
}

/* cx->http of hook calls: records the request and answers at once from the last fake that matches it. */
static void fake_http(sq_ctx_t *cx, const sq_http_request_t *rq, sq_http_cb cb, void *data)
{
    harness_t *h = (harness_t *)((char *)cx - offsetof(harness_t, cx));
    json_t *headers = json_object();
    for (int i = 0; i < rq->nheaders; i++) {
        char *name = sq_arena_strdup(cx->arena, rq->headers[i].name);
        for (char *p = name; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        json_object_set_new(headers, name, json_string(rq->headers[i].value));
    }
    json_array_append_new(h->requests, json_pack("{s:s, s:s, s:o, s:s%}", "method", rq->method, "url", rq->url, "headers", headers,
                                                 "body", rq->body ? rq->body : "", rq->body ? rq->body_len : (size_t)0));
    sq_http_response_t res;
    memset(&res, 0, sizeof(res));
    json_t *resp = NULL;
    for (size_t i = json_array_size(h->fakes); i-- > 0;) {
        json_t *f = json_array_get(h->fakes, i);
        if (strcmp(json_string_value(json_object_get(f, "method")), rq->method) == 0 &&
            url_matches(json_string_value(json_object_get(f, "url")), rq->url)) {
            resp = json_object_get(f, "response");
            break;
        }
    }
    if (resp == NULL) {
        res.error = SQ_HTTP_E_REFUSED;
        res.error_detail = sq_arena_printf(cx->arena, "no fake answers %s %s (spec.http.respond)", rq->method, rq->url);
    } else if (json_is_string(json_object_get(resp, "error"))) {
        res.error = error_named(json_string_value(json_object_get(resp, "error")));
        res.error_detail = "a faked failure";
    } else {
        json_t *st = json_object_get(resp, "status"), *hs = json_object_get(resp, "headers"), *body = json_object_get(resp, "body");
        res.status = json_is_integer(st) ? (int)json_integer_value(st) : 200;
        sq_http_header_t *out = sq_arena_alloc(cx->arena, sizeof(*out) * (json_object_size(hs) + 1));
        const char *k;
        json_t *v;
        json_object_foreach(hs, k, v)
        {
            out[res.nheaders].name = sq_arena_strdup(cx->arena, k);
            out[res.nheaders++].value = sq_arena_strdup(cx->arena, json_string_value(v));
        }
        res.headers = out;
        res.body = sq_arena_strndup(cx->arena, json_string_value(body) ? json_string_value(body) : "", json_string_length(body));
        res.body_len = json_string_length(body);
        res.address = "127.0.0.1";
    }
    cb(&res, data);
}

/* ---- the spec API (C half; the Lua half is PRELUDE) --------------------------------------------------------------- */

/* The JSON of the Lua value at idx (nil -> NULL), or raises. */
static json_t *to_json(lua_State *L, int idx, const char *what)
{
    if (lua_isnoneornil(L, idx))
        return NULL;
    size_t bytes = 0;
    char why[160];
    json_t *j = sq_lua_to_json(L, idx, 0, &bytes, why, sizeof(why));
    if (j == NULL)
        luaL_error(L, "%s is not JSON: %s", what, why);
    return j;
}

/* spec.http.respond(method, url, response): url exact, or a prefix ending in "*"; response {status =, headers =,
 * body =} or {error = "timeout"} (a souq.http error code). The latest matching fake answers. */
static int l_respond(lua_State *L)
{
    harness_t *h = harness(L);
    const char *method = luaL_checkstring(L, 1), *url = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    json_t *resp = to_json(L, 3, "the response");
    json_t *body = json_object_get(resp, "body"), *hs = json_object_get(resp, "headers"), *st = json_object_get(resp, "status");
    const char *k;
    json_t *v;
    bool ok = (body == NULL || json_is_string(body)) && (st == NULL || json_is_integer(st)) && (hs == NULL || json_is_object(hs));
    json_object_foreach(hs, k, v) ok = ok && json_is_string(v);
    if (!ok) {
        json_decref(resp);
        return luaL_error(L, "spec.http.respond: response is {status = integer, headers = {name = string}, body = string} "
                             "or {error = code}");
    }
    json_array_append_new(h->fakes, json_pack("{s:s, s:s, s:o}", "method", method, "url", url, "response", resp));
    return 0;
}

/* spec.http.requests() -> what the plugin sent so far in this test: {method, url, headers (lower-case names), body}. */
static int l_requests(lua_State *L)
{
    sq_lua_push_json(L, harness(L)->requests, 0);
    return 1;
}

typedef struct {
    bool done;
    json_t *out;
    sq_preason_t reason;
    char detail[256];
} answer_t;

static void on_done(sq_pcall_t *call, json_t *out)
{
    answer_t *a = call->data;
    a->done = true;
    a->out = out;
    a->reason = call->reason;
    snprintf(a->detail, sizeof(a->detail), "%s", call->detail);
}

/* The plugin's state for a config (built on first use in the test), or NULL with a message in err. */
static sq_pstate_t *state_for(harness_t *h, const json_t *config, int *slot, char *err, size_t errlen)
{
    char *key = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    for (int i = 0; i < h->nps; i++)
        if (strcmp(h->key[i], key) == 0) {
            free(key);
            *slot = i;
            return h->ps[i];
        }
    sq_err_t e;
    sq_err_clear(&e);
    sq_pdef_t *d = h->nps < SPEC_STATES ? sq_pdef_with_config(h->def, config, &e) : NULL;
    sq_pstate_t *ps = NULL;
    if (h->nps == SPEC_STATES)
        snprintf(err, errlen, "more than %d different configs in one test", SPEC_STATES);
    else if (d == NULL)
        snprintf(err, errlen, "the config does not fit the manifest: %s %s", e.nfields ? e.fields[0].pointer : "",
                 e.nfields ? e.fields[0].detail : e.detail);
    else {
        ps = sq_pstate_new(d, err, errlen);
        sq_pdef_unref(d);
    }
    if (ps == NULL) {
        free(key);
        return NULL;
    }
    h->ps[h->nps] = ps;
    h->key[h->nps] = key;
    *slot = h->nps++;
    return ps;
}

/* spec.call(fn, input, config [, {background = true}]) -> the hook's result, as core gets it (JSON). A failed call
 * raises {code = reason, message = detail}: timeout, memory, error, sandbox, output_too_large. */
static int l_call(lua_State *L)
{
    harness_t *h = harness(L);
    const char *fn = luaL_checkstring(L, 1);
    bool background = false;
    if (lua_type(L, 4) == LUA_TTABLE) {
        lua_getfield(L, 4, "background");
        background = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    json_t *config = to_json(L, 3, "config");
    if (config == NULL)
        config = json_object();
    int slot;
    char err[512];
    sq_pstate_t *ps = state_for(h, config, &slot, err, sizeof(err));
    json_decref(config);
    if (ps == NULL)
        return luaL_error(L, "spec.call: %s", err);
    json_t *input = to_json(L, 2, "input");
    answer_t a = {0};
    sq_pcall_t *call = sq_xcalloc(1, sizeof(*call));
    call->fn = fn;
    call->input = input ? input : json_null();
    call->background = background;
    call->cx = &h->cx;
    call->kv_fake = h->kv;
    call->events_fake = h->events;
    call->done = on_done;
    call->data = &a;
    sq_pstate_start(ps, call);
    json_decref(call->input);
    bool waiting = !a.done;
    if (waiting) /* a call suspended on I/O the harness cannot answer: its coroutine is dropped with the state */
        ps->discard = true;
    else
        free(call);
    if (waiting || a.reason == SQ_PR_TIMEOUT || a.reason == SQ_PR_MEMORY) { /* as the host does: a fresh state next time */
        sq_pstate_free(ps);
        free(h->key[slot]);
        h->ps[slot] = h->ps[--h->nps];
        h->key[slot] = h->key[h->nps];
    }
    if (waiting)
        return luaL_error(L, "spec.call: %s waits for I/O the harness does not fake", fn);
    if (a.reason != SQ_PR_NONE) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, sq_preason_name(a.reason));
        lua_setfield(L, -2, "code");
        lua_pushstring(L, a.detail);
        lua_setfield(L, -2, "message");
        return lua_error(L);
    }
    sq_lua_push_json(L, a.out, 0);
    json_decref(a.out);
    return 1;
}

/* spec.kv.get(key) -> the string the plugin's souq.kv holds at key, or nil; spec.kv.set(key, value): seeds it (no
 * expiry). The store is the test's: empty at its start. */
static int l_kv_get(lua_State *L)
{
    json_t *e = json_object_get(harness(L)->kv, luaL_checkstring(L, 1));
    const char *hex = json_string_value(json_object_get(e, "hex"));
    json_int_t exp = json_integer_value(json_object_get(e, "exp"));
    if (hex == NULL || (exp != 0 && exp <= sq_now_us() / 1000000)) {
        lua_pushnil(L);
        return 1;
    }
    luaL_Buffer b;
    size_t n = strlen(hex) / 2;
    char *out = luaL_buffinitsize(L, &b, n + 1);
    for (size_t i = 0; i < n; i++) {
        int hi = hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10;
        int lo = hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10;
        out[i] = (char)(hi << 4 | lo);
    }
    luaL_pushresultsize(&b, n);
    return 1;
}

static int l_kv_set(lua_State *L)
{
    const char *k = luaL_checkstring(L, 1);
    size_t vl;
    const char *v = luaL_checklstring(L, 2, &vl);
    char *hex = sq_xmalloc(vl * 2 + 1);
    sq_hex((const unsigned char *)v, vl, hex);
    json_t *e = json_pack("{s:s, s:i}", "hex", hex, "exp", 0);
    free(hex);
    if (json_object_set_new(harness(L)->kv, k, e) != 0)
        return luaL_error(L, "spec.kv.set: the key must be UTF-8");
    return 0;
}

/* spec.events() -> what the plugin's souq.events.emit wrote in this test: {{type = "plugin.<name>.<type>", payload =
 * {...}}, ...}. */
static int l_events(lua_State *L)
{
    sq_lua_push_json(L, harness(L)->events, 0);
    return 1;
}

/* spec.test(name, fn): registers a test (run in order, each with fresh fakes and fresh plugin states). */
static int l_test(lua_State *L)
{
    luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, "souq.spec.tests");
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return 0;
}

/* Assertions and helpers written in Lua; run with the spec table as its argument. */
static const char PRELUDE[] = "local spec = ...\n"
                              "local function show(v)\n"
                              "  if type(v) == 'string' then return string.format('%q', v) end\n"
                              "  if type(v) == 'table' then local ok, s = pcall(souq.json.encode, v); if ok then return s end end\n"
                              "  return tostring(v)\n"
                              "end\n"
                              "local function same(a, b)\n"
                              "  if type(a) ~= 'table' or type(b) ~= 'table' then return a == b end\n"
                              "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
                              "  for k in pairs(b) do if a[k] == nil then return false end end\n"
                              "  return true\n"
                              "end\n"
                              "local function fail(msg, what) error((msg and msg .. ': ' or '') .. what, 3) end\n"
                              "function spec.eq(actual, expected, msg)\n"
                              "  if not same(actual, expected) then fail(msg, 'expected ' .. show(expected) .. ', got ' .. "
                              "show(actual)) end\n"
                              "end\n"
                              "function spec.truthy(v, msg) if not v then fail(msg, 'expected a true value, got ' .. show(v)) "
                              "end end\n"
                              "function spec.contains(s, part, msg)\n"
                              "  if type(s) ~= 'string' or not string.find(s, part, 1, true) then\n"
                              "    fail(msg, 'expected ' .. show(s) .. ' to contain ' .. show(part)) end\n"
                              "end\n"
                              "function spec.fails(fn, input, config, opts)\n"
                              "  local ok, e = pcall(spec.call, fn, input, config, opts)\n"
                              "  if ok then fail(nil, 'expected ' .. fn .. ' to fail, it returned ' .. show(e)) end\n"
                              "  if type(e) ~= 'table' then fail(nil, 'expected ' .. fn .. ' to fail in the plugin, got ' .. "
                              "show(e)) end\n"
                              "  return e\n"
                              "end\n";

/* ---- running a spec file ---------------------------------------------------------------------------------------- */

/* Runs f (on the stack top, popped) with nargs arguments below it under the spec budgets; 0 or -1 with the
 * message in err. */
static int run_budgeted(sq_pstate_t *ps, int nargs, char *err, size_t errlen)
{
    lua_State *L = ps->L;
    sq_pdef_t *d = ps->def;
    sq_pcall_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.ps = ps;
    rec.fn = "spec";
    rec.budget = d->instr_background * SPEC_BUDGET_X;
    rec.start_us = sq_mono_us();
    rec.deadline_us = rec.start_us + d->wall_background_ms * 1000 * SPEC_BUDGET_X;
    sq_pcall_t *prev = ps->cur;
    ps->cur = &rec;
    int st = lua_pcall(L, nargs, 0, 0);
    ps->cur = prev;
    if (st == LUA_OK)
        return 0;
    if (rec.reason != SQ_PR_NONE)
        snprintf(err, errlen, "%s: %s", sq_preason_name(rec.reason), rec.detail);
    else if (lua_type(L, -1) == LUA_TSTRING)
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
    else if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, "code");
        lua_getfield(L, -2, "message");
        snprintf(err, errlen, "the plugin failed: %s: %s", lua_tostring(L, -2) ? lua_tostring(L, -2) : "?",
                 lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
        lua_pop(L, 2);
    } else
        snprintf(err, errlen, "an error object of type %s", luaL_typename(L, -1));
    lua_pop(L, 1);
    return -1;
}

/* Builds the spec's environment (a table inheriting the plugin's read-only globals, plus `spec`) and runs the file,
 * which registers its tests. */
static int load_spec(harness_t *h, sq_pstate_t *ps, const char *path, const char *src, size_t len, char *err, size_t errlen)
{
    lua_State *L = ps->L;
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "souq.spec.tests");
    lua_newtable(L); /* E */
    lua_createtable(L, 0, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ps->env_ref);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_newtable(L); /* spec */
    static const luaL_Reg fns[] = {{"test", l_test}, {"call", l_call}, {"events", l_events}, {NULL, NULL}};
    lua_pushlightuserdata(L, h);
    luaL_setfuncs(L, fns, 1);
    lua_newtable(L);
    static const luaL_Reg http[] = {{"respond", l_respond}, {"requests", l_requests}, {NULL, NULL}};
    lua_pushlightuserdata(L, h);
    luaL_setfuncs(L, http, 1);
    lua_setfield(L, -2, "http");
    lua_newtable(L);
    static const luaL_Reg kv[] = {{"get", l_kv_get}, {"set", l_kv_set}, {NULL, NULL}};
    lua_pushlightuserdata(L, h);
    luaL_setfuncs(L, kv, 1);
    lua_setfield(L, -2, "kv");
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "spec"); /* E.spec */
    /* the prelude, then the file, both with E as their environment */
    if (luaL_loadbufferx(L, PRELUDE, sizeof(PRELUDE) - 1, "=spec prelude", "t") != LUA_OK) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_settop(L, 0);
        return -1;
    }
    lua_pushvalue(L, -3);
    lua_setupvalue(L, -2, 1);
    lua_insert(L, -2); /* prelude, spec */
    if (run_budgeted(ps, 1, err, errlen) != 0) {
        lua_settop(L, 0);
        return -1;
    }
    char chunk[1200];
    snprintf(chunk, sizeof(chunk), "=%s", path);
    if (luaL_loadbufferx(L, src, len, chunk, "t") != LUA_OK) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_settop(L, 0);
        return -1;
    }
    lua_pushvalue(L, -2);
    lua_setupvalue(L, -2, 1);
    int rc = run_budgeted(ps, 0, err, errlen);
    lua_settop(L, 0);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spec files of dir (spec/NAME.lua), sorted; NULL when there are none. */
static char **spec_files(const char *dir, int *n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/spec", dir);
    DIR *dd = opendir(path);
    *n = 0;
    if (dd == NULL)
        return NULL;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".lua") == 0 && e->d_name[0] != '.') {
            names = sq_xrealloc(names, sizeof(char *) * (size_t)(*n + 1));
            names[(*n)++] = sq_xstrdup(e->d_name);
        }
    }
    closedir(dd);
    if (*n > 1)
        qsort(names, (size_t)*n, sizeof(char *), cmp_names);
    return names;
}

static int run_file(harness_t *h, const char *dir, const char *name, FILE *out, int *passed, int *failed)
{
    char path[1100], err[600];
    snprintf(path, sizeof(path), "%s/spec/%s", dir, name);
    size_t len = 0;
    char *src = sq_plugin_read_file(path, SPEC_FILE_MAX, &len, err, sizeof(err));
    sq_pstate_t *ps = src ? sq_pstate_new(h->def, err, sizeof(err)) : NULL;
    fprintf(out, "%s\n", path);
    reset(h);
    if (ps == NULL || load_spec(h, ps, path, src, len, err, sizeof(err)) != 0) {
        fprintf(out, "  FAIL  (the file) %s\n", err);
        (*failed)++;
        sq_pstate_free(ps);
        free(src);
        return -1;
    }
    lua_State *L = ps->L;
    lua_getfield(L, LUA_REGISTRYINDEX, "souq.spec.tests");
    int ntests = (int)lua_rawlen(L, -1);
    lua_pop(L, 1);
    if (ntests == 0) {
        fprintf(out, "  FAIL  (the file) registers no test (spec.test)\n");
        (*failed)++;
    }
    for (int i = 1; i <= ntests; i++) {
        reset(h);
        lua_getfield(L, LUA_REGISTRYINDEX, "souq.spec.tests");
        lua_rawgeti(L, -1, i);
        lua_rawgeti(L, -1, 1);
        char tname[200];
        snprintf(tname, sizeof(tname), "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_rawgeti(L, -1, 2);
        lua_replace(L, 1);
        lua_settop(L, 1);
        if (run_budgeted(ps, 0, err, sizeof(err)) == 0) {
            fprintf(out, "  ok    %s\n", tname);
            (*passed)++;
        } else {
            fprintf(out, "  FAIL  %s\n        %s\n", tname, err);
            (*failed)++;
        }
        lua_settop(L, 0);
    }
    reset(h);
    sq_pstate_free(ps);
    free(src);
    return 0;
}

int sq_plugin_spec_run(const char *dir, FILE *out, int *passed, int *failed)
{
    *passed = *failed = 0;
    char err[512];
    sq_pdef_t *d = sq_pdef_load(dir, err, sizeof(err));
    if (d == NULL) {
        fprintf(out, "%s: the plugin does not load: %s\n", dir, err);
        return -1;
    }
    int n;
    char **files = spec_files(dir, &n);
    if (n == 0) {
        fprintf(out, "%s: no spec files (spec/NAME.lua)\n", dir);
        sq_pdef_unref(d);
        return -1;
    }
    harness_t h;
    memset(&h, 0, sizeof(h));
    h.def = d;
    h.cx.http = fake_http;
    h.fakes = json_array();
    h.requests = json_array();
    h.kv = json_object();
    h.events = json_array();
    for (int i = 0; i < n; i++) {
        run_file(&h, dir, files[i], out, passed, failed);
        free(files[i]);
    }
    free(files);
    reset(&h);
    sq_arena_unref(h.cx.arena);
    json_decref(h.fakes);
    json_decref(h.requests);
    json_decref(h.kv);
    json_decref(h.events);
    sq_pdef_unref(d);
    fprintf(out, "%d passed, %d failed\n", *passed, *failed);
    return 0;
}
