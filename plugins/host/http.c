/* http.c: souq.http.request, the SDK's one I/O function. It checks the plugin's arguments, issues the request
 * through the call's context (core/http.h: http and https only, the egress policy with outbound_allow_cidrs, the
 * size cap), and yields the call's coroutine; the client's callback resumes it, and the continuation turns the
 * answer into a table or raises an error table {code =, message =} the plugin can pcall.
 *
 * Budgets: the instruction budget counts VM instructions only, so waiting costs nothing; the wall-clock budget's
 * deadline moves forward by each wait (sandbox.c sq_pcall_resume). What bounds the waits is the call's deadline
 * (limits.deadline_ms, default 8 s on the request path, 60 s in the background): each request's timeout is cut to
 * the time left, and a call whose deadline has passed when it resumes is stopped as a timeout (pcall cannot
 * swallow it). */
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>

#include "core/base/util.h"
#include "plugins/host/internal.h"

#define HEADERS_MAX 32
#define HEADER_VALUE_MAX 8192

/* H2O keeps one timer list per duration, so request timeouts are rounded down to one of a few steps. */
static const int timeout_steps_ms[] = {500, 1000, 2000, 5000, 10000, 30000};

/* Raises the error table {code = code, message = ...}. */
static int raise_code(lua_State *L, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int raise_code(lua_State *L, const char *code, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    return lua_error(L);
}

static bool token_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool header_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!token_char((unsigned char)s[i]))
            return false;
    static const char *const reserved[] = {"host", "content-length", "connection", "transfer-encoding", "te", "upgrade",
                                           "keep-alive", NULL};
    for (int i = 0; reserved[i]; i++)
        if (strcasecmp(s, reserved[i]) == 0)
            return false;
    return true;
}

static bool header_value_ok(const char *s, size_t n)
{
    if (n > HEADER_VALUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return false;
    return true;
}

static void on_answer(const sq_http_response_t *res, void *data)
{
    sq_pcall_t *c = data;
    c->res = *res;
    if (c->io == SQ_PIO_ISSUING) { /* answered before the request function returned: no yield needed */
        c->io = SQ_PIO_DONE;
        return;
    }
    sq_pcall_resume(c);
}

/* The continuation: the answer (in the context's arena) as {status, headers, body}, or an error table. */
static int answer_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    sq_pcall_t *c = sq_pcall_current(L);
    c->io = SQ_PIO_NONE;
    int64_t now = sq_mono_us();
    if (now > c->call_deadline_us)
        sq_sandbox_stop(L, SQ_PR_TIMEOUT, "call deadline of %lld ms exceeded (%lld ms waiting for souq.http)",
                        (long long)((c->call_deadline_us - c->start_us) / 1000), (long long)(c->io_us / 1000));
    const sq_http_response_t *res = &c->res;
    if (res->error != SQ_HTTP_OK)
        return raise_code(L, sq_http_error_name(res->error), "souq.http.request: %s", res->error_detail ? res->error_detail : "failed");
    lua_settop(L, 0);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, res->status);
    lua_setfield(L, 1, "status");
    lua_createtable(L, 0, res->nheaders);
    for (int i = 0; i < res->nheaders; i++) {
        char name[129];
        size_t n = strlen(res->headers[i].name);
        if (n >= sizeof(name))
            continue;
        for (size_t k = 0; k <= n; k++)
            name[k] = (char)((res->headers[i].name[k] >= 'A' && res->headers[i].name[k] <= 'Z') ? res->headers[i].name[k] + 32
                                                                                                : res->headers[i].name[k]);
        if (lua_getfield(L, 2, name) == LUA_TSTRING) { /* a repeated header: joined with ", " */
            lua_pushliteral(L, ", ");
            lua_pushstring(L, res->headers[i].value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, res->headers[i].value);
        }
        lua_setfield(L, 2, name);
    }
    lua_setfield(L, 1, "headers");
    lua_pushlstring(L, res->body ? res->body : "", res->body ? res->body_len : 0);
    lua_setfield(L, 1, "body");
    return 1;
}

/** souq.http.request{method =, url =, headers =, body =, timeout_ms =} -> {status =, headers =, body =}
 * The call reads synchronously, but the host suspends your hook's coroutine while the request is out and resumes it
 * with the answer: the event loop keeps serving meanwhile, and the wait counts neither against the instruction
 * budget nor against the wall-clock budget, only against the call's deadline (`limits.deadline_ms`).
 * - `method`: `GET` (default), `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`. `url`: absolute `http://` or `https://`
 *   (other schemes fail with `scheme`). `headers`: a table of `name = value` strings (at most 32; `Host`,
 *   `Content-Length`, `Connection`, `Transfer-Encoding`, `TE`, `Upgrade`, `Keep-Alive` are the host's and
 *   refused; no line breaks). `body`: a string (at most 1 MiB). `timeout_ms`: 1-30000, default 10000, rounded
 *   down to 500, 1000, 2000, 5000, 10000 or 30000 ms (at least 500) and cut to what is left of the deadline.
 * - The answer: any HTTP status is an answer (check `status`); header names are lower case (repeated headers
 *   joined with `, `); `body` is at most 1 MiB. Redirects are not followed.
 * - No answer raises an error table `{code =, message =}` you can `pcall`: `code` is `invalid_url`, `scheme`,
 *   `dns`, `ssrf_blocked` (the host resolves to a private, loopback, link-local or reserved address not in the
 *   server's `outbound_allow_cidrs`), `refused`, `timeout`, `too_large`, `tls`, `protocol`, `unavailable` (no
 *   client, e.g. a tool) or `too_many_requests`. Bad arguments raise a plain error.
 * - Only from the hook's own coroutine: calling it inside a coroutine you created (or while `handler.lua` loads)
 *   is an error.
 *
 * ```lua
 * local ok, res = pcall(souq.http.request, { method = "POST", url = conf.base_url .. "/v1/charges",
 *   headers = { ["Content-Type"] = "application/json", ["Idempotency-Key"] = req.idempotency_key },
 *   body = souq.json.encode({ amount = req.amount }), timeout_ms = 5000 })
 * if not ok then error("gateway unreachable: " .. res.code, 0) end
 * ```
 */
int sq_sdk_http_request(lua_State *L)
{
    sq_pcall_t *c = sq_pcall_current(L);
    if (c == NULL || c->co != L)
        return luaL_error(L, "souq.http.request can only be called while a hook runs, and not inside a coroutine the "
                             "plugin created");
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (c->cx == NULL)
        return raise_code(L, "unavailable", "souq.http.request: no outbound HTTP client for this call");
    if (c->nrequests >= SQ_PLUGIN_HTTP_PER_CALL)
        return raise_code(L, "too_many_requests", "souq.http.request: at most %d requests per call", SQ_PLUGIN_HTTP_PER_CALL);
    sq_arena_t *a = c->cx->arena;
    sq_http_request_t rq;
    memset(&rq, 0, sizeof(rq));
    lua_getfield(L, 1, "method");
    const char *method = lua_isnil(L, -1) ? "GET" : lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", NULL};
    int mi = 0;
    while (method != NULL && methods[mi] && strcmp(methods[mi], method) != 0)
        mi++;
    if (method == NULL || methods[mi] == NULL)
        return luaL_error(L, "souq.http.request: method must be GET, POST, PUT, PATCH, DELETE or HEAD");
    rq.method = methods[mi];
    lua_getfield(L, 1, "url");
    if (lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "souq.http.request: url must be a string");
    rq.url = sq_arena_strdup(a, lua_tostring(L, -1));
    lua_getfield(L, 1, "body");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "souq.http.request: body must be a string");
        size_t n;
        const char *b = lua_tolstring(L, -1, &n);
        if (n > SQ_PLUGIN_HTTP_REQUEST_MAX)
            return luaL_error(L, "souq.http.request: body larger than %d bytes", SQ_PLUGIN_HTTP_REQUEST_MAX);
        rq.body = sq_arena_strndup(a, b, n);
        rq.body_len = n;
    }
    lua_getfield(L, 1, "timeout_ms");
    lua_Integer timeout = 10000;
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 30000)
            return luaL_error(L, "souq.http.request: timeout_ms must be an integer from 1 to 30000");
        timeout = lua_tointeger(L, -1);
    }
    lua_getfield(L, 1, "headers");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TTABLE)
            return luaL_error(L, "souq.http.request: headers must be a table of name = value strings");
        sq_http_header_t *h = sq_arena_alloc(a, sizeof(*h) * HEADERS_MAX);
        int t = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, t) != 0) {
            size_t kl, vl;
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "souq.http.request: headers must be a table of name = value strings");
            const char *k = lua_tolstring(L, -2, &kl), *v = lua_tolstring(L, -1, &vl);
            if (!header_name_ok(k, kl))
                return luaL_error(L, "souq.http.request: header name %.60s is not allowed", k);
            if (!header_value_ok(v, vl))
                return luaL_error(L, "souq.http.request: the value of header %.60s has a line break or is too long", k);
            if (rq.nheaders == HEADERS_MAX)
                return luaL_error(L, "souq.http.request: at most %d headers", HEADERS_MAX);
            h[rq.nheaders].name = sq_arena_strndup(a, k, kl);
            h[rq.nheaders].value = sq_arena_strndup(a, v, vl);
            rq.nheaders++;
            lua_pop(L, 1);
        }
        rq.headers = h;
    }
    lua_settop(L, 0);
    /* the timeout: rounded down to a step, and cut to what is left of the call's deadline */
    int64_t left_ms = (c->call_deadline_us - sq_mono_us()) / 1000;
    if (timeout > left_ms)
        timeout = left_ms;
    int step = 0;
    for (size_t i = 0; i < SQ_ARRAY_LEN(timeout_steps_ms); i++)
        if (timeout_steps_ms[i] <= timeout)
            step = timeout_steps_ms[i];
    if (step == 0) {
        if (left_ms < timeout_steps_ms[0])
            sq_sandbox_stop(L, SQ_PR_TIMEOUT, "call deadline of %lld ms: too little time left for souq.http",
                            (long long)((c->call_deadline_us - c->start_us) / 1000));
        step = timeout_steps_ms[0];
    }
    rq.total_timeout_ms = step;
    rq.connect_timeout_ms = step < 2000 ? step : 2000;
    rq.max_response_bytes = SQ_PLUGIN_HTTP_RESPONSE_MAX;
    c->nrequests++;
    c->io = SQ_PIO_ISSUING;
    c->paused_us = sq_mono_us();
    sq_ctx_http(c->cx, &rq, on_answer, c);
    if (c->io == SQ_PIO_DONE) /* answered at once (no client here): go on without yielding */
        return answer_k(L, LUA_OK, 0);
    c->io = SQ_PIO_WAITING;
    return lua_yieldk(L, 0, 0, answer_k);
}
