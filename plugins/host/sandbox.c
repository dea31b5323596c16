/* sandbox.c: one plugin's lua_State: the byte-capped allocator, the instruction and wall-clock budget hook that
 * pcall cannot swallow, the allowlisted read-only environment, text-only loading, and the coroutine each call
 * runs in. Lua 5.4 (PUC); see ../shared/reference/reliability.md A6 and deps.md pitfalls 18-22. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "core/base/json.h"
#include "core/base/util.h"
#include "plugins/host/internal.h"

static char SENTINEL; /* the error object of a budget, memory or sandbox stop: pcall wrappers re-raise it */

static sq_pstate_t *pstate(lua_State *L)
{
    return *(sq_pstate_t **)lua_getextraspace(L);
}

/* ---- the allocator --------------------------------------------------------------------------------------------- */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    sq_pstate_t *ps = ud;
    if (ptr == NULL)
        osize = 0; /* a type tag, not a size */
    if (nsize == 0) {
        free(ptr);
        ps->used -= osize;
        return NULL;
    }
    if (nsize > osize && ps->used + (nsize - osize) > ps->limit) { /* never fail a shrink (Lua assumes it works) */
        ps->refused++;
        return NULL;
    }
    void *np = realloc(ptr, nsize);
    if (np != NULL)
        ps->used = ps->used - osize + nsize;
    return np;
}

/* ---- stopping a call ------------------------------------------------------------------------------------------- */

static int raise_stop(lua_State *L)
{
    lua_sethook(L, lua_gethook(L), LUA_MASKCOUNT, 1); /* sticky: every later instruction of this coroutine raises */
    lua_pushlightuserdata(L, &SENTINEL);
    return lua_error(L);
}

static void stop(lua_State *L, sq_preason_t r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void stop(lua_State *L, sq_preason_t r, const char *fmt, ...)
{
    sq_pcall_t *c = pstate(L)->cur;
    if (c != NULL && c->reason == SQ_PR_NONE) {
        c->reason = r;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
        va_end(ap);
    }
    raise_stop(L);
}

void sq_sandbox_stop(lua_State *L, sq_preason_t r, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    stop(L, r, "%s", msg);
}

sq_pcall_t *sq_pcall_current(lua_State *L)
{
    return pstate(L)->cur;
}

int sq_sandbox_violation(lua_State *L, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    stop(L, SQ_PR_SANDBOX, "%s", msg);
    return 0;
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    sq_pcall_t *c = pstate(L)->cur;
    if (c == NULL)
        return;
    if (c->reason == SQ_PR_NONE) {
        c->used += SQ_PLUGIN_HOOK_STEP; /* one shared total: coroutines cannot multiply the budget */
        if (c->used > c->budget)
            stop(L, SQ_PR_TIMEOUT, "instruction budget of %lld exceeded", (long long)c->budget);
        else if (sq_mono_us() > c->deadline_us)
            stop(L, SQ_PR_TIMEOUT, "wall-clock budget of %lld ms exceeded", (long long)((c->deadline_us - c->start_us) / 1000));
        return;
    }
    raise_stop(L);
}

/* check(err): called by the pcall/xpcall/coroutine.resume wrappers with the error they caught; re-raises when the
 * call was stopped (budget, sandbox) or ran out of memory, so plugin code cannot swallow either. */
static int l_check(lua_State *L)
{
    sq_pcall_t *c = pstate(L)->cur;
    if (c != NULL && c->reason != SQ_PR_NONE)
        return raise_stop(L);
    if (lua_touserdata(L, 1) == &SENTINEL)
        return raise_stop(L);
    size_t n;
    const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &n) : NULL;
    if (s != NULL && strcmp(s, "not enough memory") == 0)
        stop(L, SQ_PR_MEMORY, "memory cap of %zu bytes reached", pstate(L)->limit);
    return 0;
}

static const char prelude[] = "local rawpcall, rawxpcall, rawresume, check = ...\n"
                              "local function pass(ok, ...)\n"
                              "  if not ok then check((...)) end\n"
                              "  return ok, ...\n"
                              "end\n"
                              "return function(f, ...) return pass(rawpcall(f, ...)) end,\n"
                              "       function(f, h, ...) return pass(rawxpcall(f, h, ...)) end,\n"
                              "       function(co, ...) return pass(rawresume(co, ...)) end\n";

/* ---- read-only tables ------------------------------------------------------------------------------------------ */

static bool is_readonly(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return false;
    lua_pushliteral(L, "__souq_ro");
    bool ro = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return ro;
}

static int ro_newindex(lua_State *L)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "a key";
    return sq_sandbox_violation(L, "write of %.60s to a read-only table (globals and libraries are read-only; use locals)", k);
}

static int ro_iter(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1)) == 0)
        return 0;
    return 2;
}

static int ro_pairs(lua_State *L)
{
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__index");
    lua_pushcclosure(L, ro_iter, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int ro_len(lua_State *L)
{
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "__index");
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    return 1;
}

void sq_lua_readonly(lua_State *L)
{
    int real = lua_gettop(L);
    lua_newtable(L); /* the proxy */
    lua_createtable(L, 0, 6);
    lua_pushvalue(L, real);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushliteral(L, "read-only");
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__souq_ro");
    lua_setmetatable(L, -2);
    lua_replace(L, real);
}

/* Reading a missing member of a library (or a missing global): forbidden names are sandbox violations, the rest
 * nil. upvalue 1: the library name ("" for globals), upvalue 2: a table of forbidden names (or nil: all are). */
static int miss(lua_State *L)
{
    const char *lib = lua_tostring(L, lua_upvalueindex(1));
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    const char *k = lua_tostring(L, 2);
    bool forbidden = true;
    if (lua_type(L, lua_upvalueindex(2)) == LUA_TTABLE) {
        lua_pushvalue(L, 2);
        forbidden = lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL;
    }
    if (!forbidden)
        return 0;
    return sq_sandbox_violation(L, "%s%s%.40s is not available in the plugin sandbox", lib, lib[0] ? "." : "", k);
}

/* Sets a "miss" metatable on the table at the top of the stack. */
static void guard(lua_State *L, const char *lib, const char *const *forbidden)
{
    lua_createtable(L, 0, 1);
    lua_pushstring(L, lib);
    if (forbidden != NULL) {
        lua_newtable(L);
        for (; *forbidden; forbidden++) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, *forbidden);
        }
    } else {
        lua_pushnil(L);
    }
    lua_pushcclosure(L, miss, 2);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

/* ---- replaced base functions ------------------------------------------------------------------------------------ */

static int l_setmetatable(lua_State *L)
{
    if (is_readonly(L, 1))
        return sq_sandbox_violation(L, "setmetatable on a read-only table");
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc"); /* finalizers would run outside any call's budget */
        if (lua_rawget(L, 2) != LUA_TNIL)
            return sq_sandbox_violation(L, "__gc metamethods are not available in the plugin sandbox");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int l_rawset(lua_State *L)
{
    if (is_readonly(L, 1))
        return sq_sandbox_violation(L, "rawset on a read-only table");
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

static int l_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0)
        return sq_sandbox_violation(L, "collectgarbage(\"%.20s\") is not available (only \"count\")", opt);
    int kb = lua_gc(L, LUA_GCCOUNT), b = lua_gc(L, LUA_GCCOUNTB);
    lua_pushnumber(L, (lua_Number)kb + (lua_Number)b / 1024.0);
    return 1;
}

/* load(chunk [, chunkname [, mode [, env]]]): text only, and never with the real globals. */
static int l_load(lua_State *L)
{
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "load takes the chunk as a string");
    const char *s = lua_tolstring(L, 1, &len);
    if (len > 0 && s[0] == LUA_SIGNATURE[0])
        return sq_sandbox_violation(L, "load of a binary (bytecode) chunk");
    const char *name = luaL_optstring(L, 2, "=(load)");
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (!lua_isnoneornil(L, 4))
        lua_pushvalue(L, 4);
    else
        lua_pushvalue(L, lua_upvalueindex(1)); /* the plugin's read-only globals */
    lua_setupvalue(L, -2, 1);
    return 1;
}

/* string.find/match/gmatch/gsub with capped subject and pattern: a C-level match cannot be interrupted by the
 * count hook, so its input is kept small. upvalue 1: the original. */
static int l_pattern(lua_State *L)
{
    size_t sl = 0, pl = 0;
    if (lua_type(L, 1) == LUA_TSTRING)
        lua_tolstring(L, 1, &sl);
    if (lua_type(L, 2) == LUA_TSTRING)
        lua_tolstring(L, 2, &pl);
    if (sl > SQ_PLUGIN_PATTERN_SUBJECT_MAX)
        return luaL_error(L, "pattern subject longer than %d bytes", SQ_PLUGIN_PATTERN_SUBJECT_MAX);
    if (pl > SQ_PLUGIN_PATTERN_MAX)
        return luaL_error(L, "pattern longer than %d bytes", SQ_PLUGIN_PATTERN_MAX);
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

static int l_rep(lua_State *L)
{
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    double total = n <= 0 ? 0.0 : (double)l * (double)n + (double)lsep * (double)(n - 1);
    if (total > (double)pstate(L)->limit)
        stop(L, SQ_PR_MEMORY, "string.rep of %.0f bytes is over the memory cap", total);
    int top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, top, 1);
    return 1;
}

/* ---- the environment -------------------------------------------------------------------------------------------- */

static const char *const base_allowed[] = {"assert", "error",    "ipairs",       "next",     "pairs",
                                           "select", "tonumber", "tostring",     "type",     "rawequal",
                                           "rawget", "rawlen",   "getmetatable", "_VERSION", NULL};
static const char *const globals_forbidden[] = {"io",     "debug",   "package", "require", "dofile",   "loadfile", "loadstring",
                                                "module", "setfenv", "getfenv", "print",   "newproxy", NULL};
static const char *const string_forbidden[] = {"dump", NULL};

/* Opens a standard library into a fresh table (not the state's globals) and leaves it on the stack. */
static void open_lib(lua_State *L, const char *name, lua_CFunction f)
{
    luaL_requiref(L, name, f, 0);
}

static void wrap(lua_State *L, int lib, const char *name, lua_CFunction f)
{
    lua_getfield(L, lib, name);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, lib, name);
}

/* Protected set-up of a new state: arg 1 is the pstate. Leaves nothing on the stack. */
static int setup(lua_State *L)
{
    sq_pstate_t *ps = lua_touserdata(L, 1);
    sq_pdef_t *d = ps->def;
    lua_settop(L, 0);
    open_lib(L, "_G", luaopen_base); /* 1: the state's real globals (never reachable by plugins) */
    lua_newtable(L);                 /* 2: B, the allowlisted globals */
    for (int i = 0; base_allowed[i]; i++) {
        lua_getfield(L, 1, base_allowed[i]);
        lua_setfield(L, 2, base_allowed[i]);
    }
    lua_getfield(L, 1, "setmetatable");
    lua_pushcclosure(L, l_setmetatable, 1);
    lua_setfield(L, 2, "setmetatable");
    lua_pushcfunction(L, l_rawset);
    lua_setfield(L, 2, "rawset");
    lua_pushcfunction(L, l_collectgarbage);
    lua_setfield(L, 2, "collectgarbage");
    /* pcall, xpcall and coroutine.resume that re-raise stops */
    open_lib(L, "coroutine", luaopen_coroutine); /* 3 */
    if (luaL_loadbufferx(L, prelude, sizeof(prelude) - 1, "=prelude", "t") != LUA_OK)
        return lua_error(L);
    lua_getfield(L, 1, "pcall");
    lua_getfield(L, 1, "xpcall");
    lua_getfield(L, 3, "resume");
    lua_pushcfunction(L, l_check);
    lua_call(L, 4, 3);
    lua_setfield(L, 3, "resume");
    lua_setfield(L, 2, "xpcall");
    lua_setfield(L, 2, "pcall");
    lua_pushvalue(L, 3);
    sq_lua_readonly(L);
    lua_setfield(L, 2, "coroutine");
    /* libraries */
    open_lib(L, "string", luaopen_string); /* 4 */
    lua_pushnil(L);
    lua_setfield(L, 4, "dump");
    wrap(L, 4, "find", l_pattern);
    wrap(L, 4, "match", l_pattern);
    wrap(L, 4, "gmatch", l_pattern);
    wrap(L, 4, "gsub", l_pattern);
    wrap(L, 4, "rep", l_rep);
    lua_pushvalue(L, 4);
    guard(L, "string", string_forbidden);
    lua_pop(L, 1);
    lua_pushliteral(L, ""); /* the metatable of strings: its __index is the (modified) library; hide it */
    if (lua_getmetatable(L, -1)) {
        lua_pushliteral(L, "read-only");
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushvalue(L, 4);
    sq_lua_readonly(L);
    lua_setfield(L, 2, "string");
    static const struct {
        const char *name;
        lua_CFunction open;
    } libs[] = {{"table", luaopen_table}, {"math", luaopen_math}, {"utf8", luaopen_utf8}};
    for (size_t i = 0; i < SQ_ARRAY_LEN(libs); i++) {
        open_lib(L, libs[i].name, libs[i].open);
        sq_lua_readonly(L);
        lua_setfield(L, 2, libs[i].name);
    }
    /* os: time and clock only */
    open_lib(L, "os", luaopen_os);
    lua_createtable(L, 0, 2);
    lua_getfield(L, -2, "time");
    lua_setfield(L, -2, "time");
    lua_getfield(L, -2, "clock");
    lua_setfield(L, -2, "clock");
    guard(L, "os", NULL);
    sq_lua_readonly(L);
    lua_setfield(L, 2, "os");
    lua_pop(L, 1);
    /* the SDK */
    lua_newtable(L);
    sq_sdk_open(L, d);
    lua_setfield(L, 2, "souq");
    lua_pushvalue(L, 2);
    guard(L, "", globals_forbidden); /* B's misses */
    lua_pop(L, 1);
    /* the read-only globals P: B behind a proxy; _G and load's default env are P */
    lua_pushvalue(L, 2);
    sq_lua_readonly(L);
    int P = lua_gettop(L);
    lua_pushvalue(L, P);
    lua_setfield(L, 2, "_G");
    lua_pushvalue(L, P);
    lua_pushcclosure(L, l_load, 1);
    lua_setfield(L, 2, "load");
    lua_pushvalue(L, P);
    ps->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* the config: souq.config and the first argument of hooks */
    lua_getfield(L, 2, "souq");
    lua_getfield(L, -1, "config");
    ps->config_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    /* strip the state's real globals too (defence in depth) */
    static const char *const strip[] = {"load", "dofile", "loadfile", "require", "collectgarbage", "print", NULL};
    for (int i = 0; strip[i]; i++) {
        lua_pushnil(L);
        lua_setfield(L, 1, strip[i]);
    }
    /* handler.lua, text only, with P as its environment */
    char chunk[96];
    snprintf(chunk, sizeof(chunk), "=%s/handler.lua", d->name);
    if (luaL_loadbufferx(L, d->source, d->srclen, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_pushvalue(L, P);
    lua_setupvalue(L, -2, 1);
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "handler.lua must return the plugin's table of hook functions");
    int h = lua_gettop(L);
    static const struct {
        const char *kind;
        const char *const fns[5];
    } need[] = {
        {"payment", {"payment_authorize", "payment_capture", "payment_cancel", "payment_refund", NULL}},
        {"shipping", {"shipping_rates", NULL}},
        {"tax", {"tax_calculate", NULL}},
        {"notification", {"notification_send", NULL}},
        {"pricing", {"pricing_adjust", NULL}},
        {"events", {"on_event", NULL}},
    };
    for (int i = 0; i < d->nprovides; i++)
        for (size_t k = 0; k < SQ_ARRAY_LEN(need); k++) {
            size_t kl = strlen(need[k].kind);
            if (strncmp(d->provides[i], need[k].kind, kl) != 0 || d->provides[i][kl] != ':')
                continue;
            for (int f = 0; need[k].fns[f]; f++) {
                lua_getfield(L, h, need[k].fns[f]);
                if (!lua_isfunction(L, -1))
                    return luaL_error(L, "it provides %s but handler.lua has no function %s", d->provides[i], need[k].fns[f]);
                lua_pop(L, 1);
            }
        }
    const char *an; /* named automation actions: action_<name> (actions.c) */
    json_t *av;
    json_object_foreach(d->actions, an, av)
    {
        lua_pushfstring(L, "action_%s", an);
        if (lua_gettable(L, h) != LUA_TFUNCTION)
            return luaL_error(L, "its manifest lists the action %s but handler.lua has no function action_%s", an, an);
        lua_pop(L, 1);
    }
    ps->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
    return 0;
}

/* Lua's message of the error object at idx, for the log (never for clients). */
static void describe(lua_State *L, int idx, char *out, size_t len)
{
    if (lua_type(L, idx) == LUA_TSTRING)
        snprintf(out, len, "%s", lua_tostring(L, idx));
    else if (lua_type(L, idx) == LUA_TTABLE && lua_checkstack(L, 2)) { /* souq.http's errors: {code =, message =} */
        idx = lua_absindex(L, idx);
        lua_pushliteral(L, "code");
        lua_rawget(L, idx);
        lua_pushliteral(L, "message");
        lua_rawget(L, idx);
        if (lua_type(L, -2) == LUA_TSTRING)
            snprintf(out, len, "(an error table) code=%.40s message=%.180s", lua_tostring(L, -2),
                     lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "-");
        else
            snprintf(out, len, "(an error object of type table)");
        lua_pop(L, 2);
    } else
        snprintf(out, len, "(an error object of type %s)", luaL_typename(L, idx));
}

sq_pstate_t *sq_pstate_new(sq_pdef_t *d, char *err, size_t errlen)
{
    sq_pstate_t *ps = sq_xcalloc(1, sizeof(*ps));
    sq_pdef_ref(d);
    ps->def = d;
    ps->limit = (size_t)d->memory_bytes;
    ps->handler_ref = ps->config_ref = ps->env_ref = LUA_NOREF;
    ps->L = lua_newstate(l_alloc, ps);
    if (ps->L == NULL) {
        snprintf(err, errlen, "cannot create a Lua state");
        sq_pstate_free(ps);
        return NULL;
    }
    *(sq_pstate_t **)lua_getextraspace(ps->L) = ps;
    sq_pcall_t init;
    memset(&init, 0, sizeof(init));
    init.ps = ps;
    init.budget = d->instr_background;
    init.start_us = sq_mono_us();
    init.deadline_us = init.start_us + d->wall_background_ms * 1000;
    ps->cur = &init;
    lua_sethook(ps->L, hook, LUA_MASKCOUNT, SQ_PLUGIN_HOOK_STEP);
    lua_pushcfunction(ps->L, setup);
    lua_pushlightuserdata(ps->L, ps);
    int st = lua_pcall(ps->L, 1, 0, 0);
    ps->cur = NULL;
    if (st != LUA_OK) {
        if (init.reason != SQ_PR_NONE)
            snprintf(err, errlen, "handler.lua: %s: %s", sq_preason_name(init.reason), init.detail);
        else if (st == LUA_ERRMEM)
            snprintf(err, errlen, "handler.lua: out of memory (cap %zu bytes)", ps->limit);
        else {
            char msg[300];
            describe(ps->L, -1, msg, sizeof(msg));
            snprintf(err, errlen, "handler.lua: %s", msg);
        }
        sq_pstate_free(ps);
        return NULL;
    }
    return ps;
}

void sq_pstate_free(sq_pstate_t *ps)
{
    if (ps == NULL)
        return;
    if (ps->L != NULL)
        lua_close(ps->L);
    sq_pstate_account(ps, 0);
    sq_pdef_unref(ps->def);
    free(ps);
}

/* ---- a call ----------------------------------------------------------------------------------------------------- */

static int mk_thread(lua_State *L)
{
    sq_pcall_t *c = lua_touserdata(L, 1);
    c->co = lua_newthread(L);
    c->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int entry_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)L;
    (void)status;
    (void)ctx;
    return 1;
}

/* The body of a call's coroutine: handler[fn](config, input). */
static int entry(lua_State *L)
{
    sq_pcall_t *c = lua_touserdata(L, 1);
    sq_pstate_t *ps = pstate(L);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ps->handler_ref);
    lua_pushstring(L, c->fn);
    if (lua_rawget(L, 1) != LUA_TFUNCTION)
        return luaL_error(L, "the plugin has no function %s", c->fn);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ps->config_ref);
    int nargs = 1;
    if (c->spread && json_is_array(c->input)) { /* handler[fn](config, input[1], input[2], ...) */
        size_t i;
        json_t *v;
        luaL_checkstack(L, (int)json_array_size(c->input) + 1, "arguments");
        json_array_foreach(c->input, i, v) sq_lua_push_json(L, v, 0);
        nargs = (int)json_array_size(c->input);
    } else {
        sq_lua_push_json(L, c->input, 0);
        for (int i = 0; i < c->ntexts && lua_istable(L, -1); i++) {
            const sq_plugin_text_t *t = &c->texts[i];
            if (t->text == NULL)
                continue;
            sq_lua_push_json_text(L, t->text, strlen(t->text), t->keep, t->keep_depth);
            if (t->pick != NULL) {
                if (lua_istable(L, -1))
                    lua_getfield(L, -1, t->pick);
                else
                    lua_pushnil(L);
                lua_remove(L, -2);
            }
            if (lua_istable(L, -1) || !lua_isnil(L, -1))
                lua_setfield(L, -2, t->key);
            else
                lua_pop(L, 1);
        }
    }
    lua_callk(L, 1 + nargs, 1, 0, entry_k);
    return entry_k(L, LUA_OK, 0);
}

/* The end of a call: its result or reason, the coroutine dropped, done() told. */
static void finish(sq_pcall_t *c, json_t *out)
{
    sq_pstate_t *ps = c->ps;
    if (c->co != NULL) {
        lua_settop(c->co, 0);
        luaL_unref(ps->L, LUA_REGISTRYINDEX, c->co_ref);
        c->co = NULL;
    }
    ps->inflight--;
    if (c->reason != SQ_PR_NONE) {
        json_decref(out);
        out = NULL;
    }
    c->done(c, out);
}

/* Runs the call's coroutine until it returns, fails, or waits for I/O (nargs values on its stack). */
static void step(sq_pcall_t *c, lua_State *from, int nargs)
{
    sq_pstate_t *ps = c->ps;
    lua_State *co = c->co;
    c->prev_cur = ps->cur;
    ps->cur = c;
    int nres = 0;
    int st = lua_resume(co, from, nargs, &nres);
    ps->cur = c->prev_cur;
    json_t *out = NULL;
    if (st == LUA_YIELD && c->reason == SQ_PR_NONE && c->io == SQ_PIO_WAITING) {
        lua_pop(co, nres);
        return; /* the I/O callback resumes it */
    }
    if (c->reason != SQ_PR_NONE) {
        /* stopped: the reason and detail are set */
    } else if (st == LUA_OK) {
        size_t bytes = 0;
        char why[160] = "";
        json_t *j = nres >= 1 ? sq_lua_to_json(co, -1, 0, &bytes, why, sizeof(why)) : json_null();
        if (j != NULL && json_dumpb(j, NULL, 0, JSON_COMPACT) > SQ_PLUGIN_OUTPUT_MAX) {
            json_decref(j);
            j = NULL;
            bytes = SQ_PLUGIN_OUTPUT_MAX + 1;
        }
        if (j == NULL && bytes > SQ_PLUGIN_OUTPUT_MAX) {
            c->reason = SQ_PR_OUTPUT_TOO_LARGE;
            snprintf(c->detail, sizeof(c->detail), "%s returned more than %d bytes", c->fn, SQ_PLUGIN_OUTPUT_MAX);
        } else if (j == NULL) {
            c->reason = SQ_PR_ERROR;
            snprintf(c->detail, sizeof(c->detail), "%s returned a value that is not JSON: %s", c->fn, why);
        }
        out = j;
    } else if (st == LUA_YIELD) {
        c->reason = SQ_PR_ERROR;
        snprintf(c->detail, sizeof(c->detail), "%s yielded outside an SDK call", c->fn);
    } else if (st == LUA_ERRMEM) {
        c->reason = SQ_PR_MEMORY;
        snprintf(c->detail, sizeof(c->detail), "memory cap of %zu bytes reached", ps->limit);
    } else {
        c->reason = SQ_PR_ERROR;
        describe(co, -1, c->detail, sizeof(c->detail));
    }
    finish(c, out);
}

void sq_pstate_start(sq_pstate_t *ps, sq_pcall_t *c)
{
    lua_State *L = ps->L;
    c->ps = ps;
    c->reason = SQ_PR_NONE;
    c->budget = c->background ? ps->def->instr_background : ps->def->instr_request;
    c->start_us = sq_mono_us();
    c->deadline_us = c->start_us + (c->background ? ps->def->wall_background_ms : ps->def->wall_request_ms) * 1000;
    c->call_deadline_us = c->start_us + (c->background ? ps->def->deadline_background_ms : ps->def->deadline_request_ms) * 1000;
    c->io = SQ_PIO_NONE;
    c->co = NULL;
    c->co_ref = LUA_NOREF;
    ps->inflight++;
    lua_pushcfunction(L, mk_thread);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lua_pop(L, 1);
        c->reason = SQ_PR_MEMORY;
        snprintf(c->detail, sizeof(c->detail), "no memory for the call's coroutine");
        finish(c, NULL);
        return;
    }
    lua_sethook(c->co, hook, LUA_MASKCOUNT, SQ_PLUGIN_HOOK_STEP);
    lua_pushcfunction(c->co, entry);
    lua_pushlightuserdata(c->co, c);
    step(c, L, 1);
}

void sq_pcall_resume(sq_pcall_t *c)
{
    /* the wait does not count against the CPU budgets: the wall-clock deadline moves by its length */
    int64_t waited = sq_mono_us() - c->paused_us;
    c->io_us += waited;
    c->deadline_us += waited;
    c->io = SQ_PIO_DONE;
    step(c, c->ps->L, 0);
}

/* ---- JSON <-> Lua --------------------------------------------------------------------------------------------------- */

/* ---- JSON text -> Lua: sq_json_walk's tokens pushed as they come (no intermediate tree) ---- */

typedef struct {
    lua_State *L;
    const char *text;
    const char *const *keep;
    int keep_depth;
    const char *why; /* a refused number */
    size_t why_at;
    lua_Integer next[SQ_PLUGIN_DEPTH_MAX]; /* the open container at each depth: the next array index, 0 for an object */
} jtext_t;

static bool jt_kept(const jtext_t *j, const char *k, size_t n)
{
    for (const char *const *w = j->keep; *w != NULL; w++)
        if (strlen(*w) == n && memcmp(*w, k, n) == 0)
            return true;
    return false;
}

/* pushes each value; a complete one goes into its container at once (a member's key is below it on the stack) */
static int jt_on(void *ctx, const sq_jw_tok_t *t)
{
    jtext_t *j = ctx;
    lua_State *L = j->L;
    switch (t->kind) {
    case SQ_JW_OBJECT:
    case SQ_JW_ARRAY:
        luaL_checkstack(L, 4, "JSON too deep");
        lua_createtable(L, t->kind == SQ_JW_ARRAY ? 4 : 0, t->kind == SQ_JW_OBJECT ? 8 : 0);
        j->next[t->depth] = t->kind == SQ_JW_ARRAY;
        return 0;
    case SQ_JW_KEY:
        if (j->keep != NULL && t->depth == j->keep_depth + 1 && !jt_kept(j, t->s, t->n))
            return SQ_JW_SKIP; /* checked, never built */
        lua_pushlstring(L, t->s, t->n);
        return 0;
    case SQ_JW_OBJECT_END:
    case SQ_JW_ARRAY_END:
        break; /* the table is on top */
    case SQ_JW_STRING:
        lua_pushlstring(L, t->s, t->n);
        break;
    case SQ_JW_NUMBER: {
        int64_t i;
        double d;
        int r = sq_json_number(t->s, t->n, &i, &d);
        if (r < 0) {
            j->why = "number out of range";
            j->why_at = (size_t)(t->raw - j->text);
            return SQ_JW_STOP;
        }
        if (r == 1)
            lua_pushinteger(L, (lua_Integer)i);
        else
            lua_pushnumber(L, d);
        break;
    }
    case SQ_JW_TRUE:
    case SQ_JW_FALSE:
        lua_pushboolean(L, t->kind == SQ_JW_TRUE);
        break;
    case SQ_JW_NULL:
        lua_pushnil(L);
        break;
    }
    if (t->depth == 0)
        return 0; /* the result, left on the stack */
    lua_Integer *next = &j->next[t->depth - 1];
    if (*next > 0)
        lua_rawseti(L, -2, (*next)++);
    else if (lua_isnil(L, -1))
        lua_pop(L, 2); /* a null member is left out */
    else
        lua_rawset(L, -3);
    return 0;
}

void sq_lua_push_json_text(lua_State *L, const char *text, size_t len, const char *const *keep, int keep_depth)
{
    /* escaped strings are decoded on the C stack, or for a long text into a userdata below the result (a string's
     * decoded form is never longer than the text; a Lua error unwinds either without a leak) */
    char small[4096];
    jtext_t j = {.L = L, .text = text, .keep = keep, .keep_depth = keep_depth};
    sq_jw_t w = {.fn = jt_on, .ctx = &j, .max_depth = SQ_PLUGIN_DEPTH_MAX, .buf = small, .cap = sizeof(small)};
    if (len > sizeof(small)) {
        w.buf = lua_newuserdatauv(L, len, 0);
        w.cap = len;
    }
    if (sq_json_walk(&w, text, len) != 0) {
        if (j.why != NULL)
            luaL_error(L, "malformed JSON input (%s at byte %d)", j.why, (int)j.why_at);
        luaL_error(L, "malformed JSON input (%s at byte %d)", w.err, (int)w.err_at);
    }
    if (w.buf != small)
        lua_remove(L, -2);
}

void sq_lua_push_json(lua_State *L, const json_t *j, int depth)
{
    luaL_checkstack(L, 4, "JSON too deep");
    if (depth > SQ_PLUGIN_DEPTH_MAX)
        luaL_error(L, "JSON nested more than %d levels", SQ_PLUGIN_DEPTH_MAX);
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (json_is_null(v))
                continue;
            sq_lua_push_json(L, v, depth + 1);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(j), 0);
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            sq_lua_push_json(L, v, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
        lua_pushnil(L);
        break;
    }
}

json_t *sq_lua_to_json(lua_State *L, int idx, int depth, size_t *bytes, char *why, size_t whylen)
{
    idx = lua_absindex(L, idx);
    if (depth > SQ_PLUGIN_DEPTH_MAX) {
        snprintf(why, whylen, "nested more than %d levels (or a cycle)", SQ_PLUGIN_DEPTH_MAX);
        return NULL;
    }
    if (*bytes > SQ_PLUGIN_OUTPUT_MAX)
        return NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            snprintf(why, whylen, "a NaN or infinite number");
            return NULL;
        }
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        *bytes += n;
        if (*bytes > SQ_PLUGIN_OUTPUT_MAX)
            return NULL;
        json_t *j = json_stringn(s, n);
        if (j == NULL)
            snprintf(why, whylen, "a string that is not UTF-8");
        return j;
    }
    case LUA_TTABLE: {
        if (!lua_checkstack(L, 4)) {
            snprintf(why, whylen, "nested too deeply");
            return NULL;
        }
        size_t len = lua_rawlen(L, idx), count = 0;
        bool strkeys = true, arraykeys = true; /* an array: exactly the keys 1..len */
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
            count++;
            strkeys &= lua_type(L, -2) == LUA_TSTRING;
            arraykeys &= lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && (size_t)lua_tointeger(L, -2) <= len;
            lua_pop(L, 1);
        }
        json_t *out;
        if (count > 0 && count == len && arraykeys) {
            out = json_array();
            for (size_t i = 1; i <= len; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i);
                json_t *v = sq_lua_to_json(L, -1, depth + 1, bytes, why, whylen);
                lua_pop(L, 1);
                if (v == NULL) {
                    json_decref(out);
                    return NULL;
                }
                json_array_append_new(out, v);
            }
            return out;
        }
        if (!strkeys) {
            snprintf(why, whylen, "a table with keys that are not strings (and not an array 1..n)");
            return NULL;
        }
        out = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
            size_t kl;
            const char *k = lua_tolstring(L, -2, &kl);
            *bytes += kl;
            json_t *v = sq_lua_to_json(L, -1, depth + 1, bytes, why, whylen);
            lua_pop(L, 1);
            if (v == NULL || json_object_setn_new(out, k, kl, v) != 0) {
                if (v != NULL)
                    snprintf(why, whylen, "a key that is not UTF-8");
                lua_pop(L, 1);
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    default:
        snprintf(why, whylen, "a value of type %s", luaL_typename(L, idx));
        return NULL;
    }
}
