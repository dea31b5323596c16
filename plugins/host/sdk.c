/* sdk.c: the souq.* SDK a plugin sees (SDK major 1). Every function checks its arguments, returns copies, and
 * never hands out pointers into host memory. The reference is sdk/lua/reference.md; within a major, functions are
 * only added, never changed (STYLE.md 13). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "plugins/host/internal.h"

#define JSON_DECODE_MAX (1024 * 1024)
#define CRYPTO_INPUT_MAX (4 * 1024 * 1024)
#define LOG_MAX 1024

static sq_pdef_t *def(lua_State *L)
{
    return (*(sq_pstate_t **)lua_getextraspace(L))->def;
}

/* ---- souq.json ---------------------------------------------------------------------------------------------------- */

/** souq.json.encode(value) -> string
 * Tables with keys `1..n` become arrays, other tables objects (string keys only); an empty table is `{}`. Errors on
 * functions, cycles, NaN/infinity, nesting over 32, output over 256 KiB. */
static int json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    size_t bytes = 0;
    char why[160] = "";
    json_t *j = sq_lua_to_json(L, 1, 0, &bytes, why, sizeof(why));
    if (j == NULL)
        return luaL_error(L, "souq.json.encode: %s", bytes > SQ_PLUGIN_OUTPUT_MAX ? "output too large" : why);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (s == NULL)
        return luaL_error(L, "souq.json.encode: cannot encode");
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static int box_gc(lua_State *L)
{
    json_t **box = lua_touserdata(L, 1);
    json_decref(*box);
    *box = NULL;
    return 0;
}

/** souq.json.decode(text) -> value | nil, message
 * JSON `null` becomes nil (dropped from objects). Input up to 1 MiB. */
static int json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    if (n > JSON_DECODE_MAX)
        return luaL_error(L, "souq.json.decode: input over %d bytes", JSON_DECODE_MAX);
    /* the parsed document sits in a box with a finalizer, so a memory error while copying it into Lua frees it */
    json_t **box = lua_newuserdatauv(L, sizeof(json_t *), 0);
    *box = NULL;
    if (luaL_newmetatable(L, "souq.jsonbox")) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    json_error_t je;
    *box = json_loadb(s, n, JSON_DECODE_ANY, &je);
    if (*box == NULL) {
        luaL_pushfail(L);
        lua_pushfstring(L, "invalid JSON at line %d: %s", je.line, je.text);
        return 2;
    }
    sq_lua_push_json(L, *box, 0);
    json_decref(*box);
    *box = NULL;
    return 1;
}

/* ---- souq.crypto ------------------------------------------------------------------------------------------------- */

static const char *checkdata(lua_State *L, int i, size_t *n)
{
    const char *s = luaL_checklstring(L, i, n);
    if (*n > CRYPTO_INPUT_MAX)
        luaL_error(L, "souq.crypto: input over %d bytes", CRYPTO_INPUT_MAX);
    return s;
}

static void push_digest(lua_State *L, const unsigned char *md, size_t n, bool raw)
{
    if (raw) {
        lua_pushlstring(L, (const char *)md, n);
        return;
    }
    char hex[129];
    sq_hex(md, n, hex);
    lua_pushstring(L, hex);
}

/** souq.crypto
 * Inputs up to 4 MiB; strings are bytes. */

/** souq.crypto.sha256(data [, raw]) -> hex
 * 64 lower-case hex characters; 32 raw bytes with `raw = true`. */
static int c_sha256(lua_State *L)
{
    size_t n;
    const char *s = checkdata(L, 1, &n);
    unsigned char md[32];
    sq_sha256(s, n, md);
    push_digest(L, md, 32, lua_toboolean(L, 2));
    return 1;
}

/** souq.crypto.hmac_sha256(key, data [, raw]) -> hex
 * For webhook signatures: Stripe's `v1` is `hmac_sha256(secret, timestamp .. "." .. body)`. */
static int c_hmac(lua_State *L)
{
    size_t kl, n;
    const char *k = checkdata(L, 1, &kl);
    const char *s = checkdata(L, 2, &n);
    unsigned char md[32];
    sq_hmac_sha256(k, kl, s, n, md);
    push_digest(L, md, 32, lua_toboolean(L, 3));
    return 1;
}

/** souq.crypto.equals(a, b) -> boolean
 * Constant time for strings of the same length: use it to compare signatures. */
static int c_equals(lua_State *L)
{
    size_t al, bl;
    const char *a = luaL_checklstring(L, 1, &al), *b = luaL_checklstring(L, 2, &bl);
    lua_pushboolean(L, sq_ct_equal(a, al, b, bl));
    return 1;
}

/** souq.crypto.random_bytes(n) -> bytes
 * n (1 <= n <= 1024) bytes from the CSPRNG. */
static int c_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 1024, 1, "must be 1..1024");
    unsigned char buf[1024];
    sq_random_bytes(buf, (size_t)n);
    lua_pushlstring(L, (const char *)buf, (size_t)n);
    return 1;
}

/** souq.crypto.hex_encode(bytes) -> hex, souq.crypto.hex_decode(hex) -> bytes | nil
 * Decoding answers nil on bad input. */
static int c_hex_encode(lua_State *L)
{
    size_t n;
    const char *s = checkdata(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n * 2 + 1);
    sq_hex((const unsigned char *)s, n, out);
    luaL_pushresultsize(&b, n * 2);
    return 1;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int c_hex_decode(lua_State *L)
{
    size_t n;
    const char *s = checkdata(L, 1, &n);
    if (n % 2 != 0) {
        luaL_pushfail(L);
        return 1;
    }
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n / 2 + 1);
    for (size_t i = 0; i < n; i += 2) {
        int h = hexval(s[i]), l = hexval(s[i + 1]);
        if (h < 0 || l < 0) {
            luaL_pushfail(L);
            return 1;
        }
        out[i / 2] = (char)(h << 4 | l);
    }
    luaL_pushresultsize(&b, n / 2);
    return 1;
}

/** souq.crypto.base64_encode(bytes) -> text, souq.crypto.base64_decode(text) -> bytes | nil
 * The standard alphabet with padding (RFC 4648 section 4: HTTP Basic auth). */
static int c_b64_encode(lua_State *L)
{
    size_t n;
    const char *s = checkdata(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 4 * ((n + 2) / 3) + 1);
    int w = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    luaL_pushresultsize(&b, (size_t)w);
    return 1;
}

static int c_b64_decode(lua_State *L)
{
    size_t n;
    const char *s = checkdata(L, 1, &n);
    if (n % 4 != 0) {
        luaL_pushfail(L);
        return 1;
    }
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 3 * (n / 4) + 1);
    int w = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    if (w < 0) {
        luaL_pushfail(L);
        return 1;
    }
    if (n >= 1 && s[n - 1] == '=') /* EVP_DecodeBlock counts padding as zero bytes */
        w--;
    if (n >= 2 && s[n - 2] == '=')
        w--;
    luaL_pushresultsize(&b, (size_t)w);
    return 1;
}

/** souq.crypto.base64url_encode(bytes) -> text, souq.crypto.base64url_decode(text) -> bytes | nil
 * The URL alphabet without padding (JWT, webhooks). */
static int c_b64url_encode(lua_State *L)
{
    size_t n;
    const char *s = checkdata(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 4 * ((n + 2) / 3) + 1);
    size_t w = sq_b64url_encode((const unsigned char *)s, n, out);
    luaL_pushresultsize(&b, w);
    return 1;
}

static int c_b64url_decode(lua_State *L)
{
    size_t n;
    const char *s = checkdata(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 3 * n / 4 + 3);
    long w = sq_b64url_decode(s, n, (unsigned char *)out);
    if (w < 0) {
        luaL_pushfail(L);
        return 1;
    }
    luaL_pushresultsize(&b, (size_t)w);
    return 1;
}

/* ---- souq.log ----------------------------------------------------------------------------------------------------- */

static int log_at(lua_State *L, sq_log_level_t level)
{
    size_t n;
    const char *s = luaL_tolstring(L, 1, &n);
    char comp[80];
    snprintf(comp, sizeof(comp), "plugin/%s", def(L)->name);
    sq_log(level, comp, "%.*s%s", (int)(n > LOG_MAX ? LOG_MAX : n), s, n > LOG_MAX ? "..." : "");
    return 0;
}

/** souq.log.debug(message), info(message), warn(message), error(message)
 * One JSON log line, component `plugin/<name>`, the message truncated to 1 KiB. Never log secrets (souq.config's
 * secret fields are the plugin's to protect) or card data. */
static int log_debug(lua_State *L)
{
    return log_at(L, SQ_LOG_DEBUG);
}
static int log_info(lua_State *L)
{
    return log_at(L, SQ_LOG_INFO);
}
static int log_warn(lua_State *L)
{
    return log_at(L, SQ_LOG_WARN);
}
static int log_error(lua_State *L)
{
    return log_at(L, SQ_LOG_ERROR);
}

/* ---- souq.money: integer minor units, overflow-checked -------------------------------------------------------------- */

static lua_Integer money(lua_State *L, int i)
{
    if (!lua_isinteger(L, i))
        luaL_typeerror(L, i, "integer (minor units)");
    return lua_tointeger(L, i);
}

/** souq.money
 * Integer minor units (cents); floats are refused; every function errors on overflow. */

/** souq.money.add(a, b), souq.money.sub(a, b), souq.money.mul(a, n) -> integer */
static int m_add(lua_State *L)
{
    lua_Integer r;
    if (__builtin_add_overflow(money(L, 1), money(L, 2), &r))
        return luaL_error(L, "souq.money.add: overflow");
    lua_pushinteger(L, r);
    return 1;
}
static int m_sub(lua_State *L)
{
    lua_Integer r;
    if (__builtin_sub_overflow(money(L, 1), money(L, 2), &r))
        return luaL_error(L, "souq.money.sub: overflow");
    lua_pushinteger(L, r);
    return 1;
}
static int m_mul(lua_State *L)
{
    lua_Integer r;
    if (__builtin_mul_overflow(money(L, 1), money(L, 2), &r))
        return luaL_error(L, "souq.money.mul: overflow");
    lua_pushinteger(L, r);
    return 1;
}

/** souq.money.percent(amount, basis_points) -> integer
 * `amount * bp / 10000`, half away from zero (1900 bp = 19%; `percent(-5, 5000)` is `-3`). */
static int m_percent(lua_State *L)
{
    lua_Integer a = money(L, 1), bp = money(L, 2), p;
    if (__builtin_mul_overflow(a, bp, &p))
        return luaL_error(L, "souq.money.percent: overflow");
    lua_Integer q = p / 10000, rem = p % 10000;
    if (rem >= 5000)
        q++;
    else if (rem <= -5000)
        q--;
    lua_pushinteger(L, q);
    return 1;
}

/** souq.money.split(amount, n) -> {integers}
 * n parts (1..1000) that add up to amount, the remainder spread over the first parts (`split(100, 3)` is
 * `{34, 33, 33}`). */
static int m_split(lua_State *L)
{
    lua_Integer a = money(L, 1), n = money(L, 2);
    luaL_argcheck(L, n >= 1 && n <= 1000, 2, "must be 1..1000");
    lua_createtable(L, (int)n, 0);
    lua_Integer base = a / n, rem = a % n;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_Integer v = base + (rem > 0 && i <= rem ? 1 : rem < 0 && i <= -rem ? -1 : 0);
        lua_pushinteger(L, v);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

/* ---- souq.time ------------------------------------------------------------------------------------------------------ */

/** souq.time.now() -> integer, souq.time.now_ms() -> integer
 * Seconds (milliseconds) since the epoch, UTC. */
static int t_now(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)(sq_now_us() / 1000000));
    return 1;
}
static int t_now_ms(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)(sq_now_us() / 1000));
    return 1;
}

/** souq.time.iso8601([seconds]) -> "2026-01-31T12:00:00Z"
 * Now when omitted (UTC). */
static int t_iso(lua_State *L)
{
    time_t t = lua_isnoneornil(L, 1) ? (time_t)(sq_now_us() / 1000000) : (time_t)luaL_checkinteger(L, 1);
    struct tm tm;
    char buf[32];
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return luaL_error(L, "souq.time.iso8601: time out of range");
    lua_pushstring(L, buf);
    return 1;
}

static void lib(lua_State *L, const char *name, const luaL_Reg *fns)
{
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
    sq_lua_readonly(L);
    lua_setfield(L, -2, name);
}

void sq_sdk_open(lua_State *L, sq_pdef_t *d)
{
    static const luaL_Reg json[] = {{"encode", json_encode}, {"decode", json_decode}, {NULL, NULL}};
    static const luaL_Reg crypto[] = {{"sha256", c_sha256},
                                      {"hmac_sha256", c_hmac},
                                      {"equals", c_equals},
                                      {"random_bytes", c_random},
                                      {"hex_encode", c_hex_encode},
                                      {"hex_decode", c_hex_decode},
                                      {"base64_encode", c_b64_encode},
                                      {"base64_decode", c_b64_decode},
                                      {"base64url_encode", c_b64url_encode},
                                      {"base64url_decode", c_b64url_decode},
                                      {NULL, NULL}};
    static const luaL_Reg log[] = {
        {"debug", log_debug}, {"info", log_info}, {"warn", log_warn}, {"error", log_error}, {NULL, NULL}};
    static const luaL_Reg money_fns[] = {{"add", m_add},         {"sub", m_sub},     {"mul", m_mul},
                                         {"percent", m_percent}, {"split", m_split}, {NULL, NULL}};
    static const luaL_Reg time_fns[] = {{"now", t_now}, {"now_ms", t_now_ms}, {"iso8601", t_iso}, {NULL, NULL}};
    static const luaL_Reg http[] = {{"request", sq_sdk_http_request}, {NULL, NULL}};
    lua_pushliteral(L, SQ_PLUGIN_SDK_VERSION);
    lua_setfield(L, -2, "sdk_version");
    lua_createtable(L, 0, 2);
    lua_pushstring(L, d->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, d->version);
    lua_setfield(L, -2, "version");
    sq_lua_readonly(L);
    lua_setfield(L, -2, "plugin");
    lib(L, "json", json);
    lib(L, "crypto", crypto);
    lib(L, "log", log);
    lib(L, "money", money_fns);
    lib(L, "time", time_fns);
    lib(L, "http", http);
    sq_sdk_open_db(L); /* souq.kv, souq.events (kv.c) */
    sq_lua_push_json(L, d->config, 0);
    sq_lua_readonly(L);
    lua_setfield(L, -2, "config");
    sq_lua_readonly(L);
}
