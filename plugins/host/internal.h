/* internal.h: what the files of the plugin host share (the registry, per-thread states, the call machinery).
 * Nothing outside plugins/host/ includes it; api/ and tests use plugins/host/host.h. */
#ifndef SQ_PLUGIN_INTERNAL_H
#define SQ_PLUGIN_INTERNAL_H

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/base/arena.h"
#include "core/base/err.h"
#include "core/ctx.h"
#include "plugins/host/host.h"

#define SQ_PLUGIN_SDK_MAJOR 1
#define SQ_PLUGIN_SDK_VERSION "1.0"
#define SQ_PLUGIN_MAX 64         /* plugins a process knows by name (stats slots are never reused) */
#define SQ_PLUGIN_HOOK_STEP 1000 /* the count hook fires every this many VM instructions */
#define SQ_PLUGIN_OUTPUT_MAX (256 * 1024)
#define SQ_PLUGIN_PATTERN_SUBJECT_MAX (64 * 1024)
#define SQ_PLUGIN_PATTERN_MAX 256
#define SQ_PLUGIN_DEPTH_MAX 32
#define SQ_PLUGIN_HTTP_RESPONSE_MAX (1024 * 1024) /* souq.http.request: the largest answer body */
#define SQ_PLUGIN_HTTP_REQUEST_MAX (1024 * 1024)  /* and the largest request body */
#define SQ_PLUGIN_HTTP_PER_CALL 16                /* requests one call may make */
/* souq.kv and souq.events (kv.c) */
#define SQ_PLUGIN_KV_KEY_MAX 256                /* bytes of a key */
#define SQ_PLUGIN_KV_VALUE_MAX (64 * 1024)      /* bytes of a value */
#define SQ_PLUGIN_KV_KEYS_MAX 10000             /* live keys of one plugin */
#define SQ_PLUGIN_KV_TTL_MAX_S (366 * 86400)    /* the longest ttl, seconds */
#define SQ_PLUGIN_DB_PER_CALL 64                /* souq.kv and souq.events calls one call may make */
#define SQ_PLUGIN_EVENT_PAYLOAD_MAX (64 * 1024) /* bytes of an emitted event's payload as JSON */
#define SQ_PLUGIN_RATES_TTL_MAX_S 3600          /* manifest cache.rates_ttl_s: the longest reuse of a shipping rate */
#define SQ_PLUGIN_RATES_CACHE_BYTES (1 << 20)   /* bytes of reusable shipping rates per thread (shipping.c) */

/** Why a call failed (the `reason` of the log line and of souq_plugin_failures_total). */
typedef enum {
    SQ_PR_NONE = 0,
    SQ_PR_TIMEOUT,          /* instruction or wall-clock budget */
    SQ_PR_MEMORY,           /* the state's byte cap */
    SQ_PR_ERROR,            /* a Lua error, or an output that breaks the hook's contract */
    SQ_PR_SANDBOX,          /* a forbidden global, library member, bytecode, or a write to a read-only table */
    SQ_PR_OUTPUT_TOO_LARGE, /* the result is over SQ_PLUGIN_OUTPUT_MAX once encoded */
    SQ_PR_DEGRADED,         /* the circuit breaker is open: the call was not made */
    SQ_PR_UNAVAILABLE,      /* the plugin is not loaded, disabled, or its state could not be built */
    SQ_PR__COUNT
} sq_preason_t;

const char *sq_preason_name(sq_preason_t r);

/** One loaded plugin: its manifest, source and effective configuration. Immutable once published; shared by
 * every thread; reference-counted because a reload carries a plugin that failed to load over from the previous
 * registry. */
typedef struct sq_pdef {
    int refs;
    char *name, *version, *description, *dir;
    int sdk, priority;
    char **provides; /* "payment:manual" ... */
    int nprovides;
    char *source; /* handler.lua */
    size_t srclen;
    json_t *schema;                          /* manifest "config": field -> {type, description, secret, required, default, ...} */
    json_t *config;                          /* defaults + stored values, validated against schema */
    json_t *stored;                          /* the values staff set (plugin_settings.config), without defaults */
    bool wanted;                             /* plugin_settings.enabled (true without a row) */
    bool configured;                         /* config validated (required settings present) */
    json_t *payment_data;                    /* manifest "payment_data": the buyer's payment data fields, or NULL */
    json_t *actions;                         /* manifest "actions": name -> {description, input}, or NULL (actions.c) */
    json_t *channels;                        /* plugin_settings.sales_channels: the channel ids it serves, NULL: all */
    json_t *events;                          /* manifest "events": the event types an events:* plugin subscribes to, or NULL */
    bool enabled;                            /* wanted && configured */
    int64_t instr_request, instr_background; /* per-call instruction budgets */
    int64_t wall_request_ms, wall_background_ms;
    int64_t deadline_request_ms, deadline_background_ms; /* a call's bound including the time waiting for I/O */
    int64_t memory_bytes;
    int breaker_failures, breaker_window_s, breaker_open_s;
    int slot;              /* index of the plugin's stats slot (by name, stable across reloads) */
    unsigned optional_fns; /* SQ_PFN_* bits: the optional hook functions handler.lua defines (found at load) */
    int rates_ttl_s;       /* manifest cache.rates_ttl_s: seconds a shipping_rates answer may be reused, 0: never */
} sq_pdef_t;

/* Optional hook functions a plugin may define (tax.c): plain fields of the handler table, found at load. */
enum { SQ_PFN_TAX_COMMIT = 1, SQ_PFN_TAX_VOID = 2, SQ_PFN_TAX_REFUND = 4, SQ_PFN_TAX_ADJUST = 8 };
/* the optional hook functions a loaded plugin may define, NULL-terminated: bit 1 << i is sq_pfn_names[i] */
extern const char *const sq_pfn_names[];
/** The SQ_PFN_* bit of an optional function's name, or 0. */
unsigned sq_pfn_bit(const char *fn);

void sq_pdef_ref(sq_pdef_t *d);
void sq_pdef_unref(sq_pdef_t *d);

/** The manifest's cache.rates_ttl_s of the plugin as this thread sees it now (0: not declared, not loaded or disabled),
 * and the registry generation it belongs to (a reload and a settings change publish a new one). No locks unless the
 * registry changed since this thread last looked. *slot: the plugin's stats slot (-1 when unknown). */
int sq_plugin_rates_ttl(const char *plugin, uint64_t *generation, int *slot);
/** Counts one rate request of a caching plugin (its stats slot): answered from the cache (hit) or not, and the entries
 * a store evicted from a full cache (/metrics souq_plugin_rate_cache_*). Relaxed atomics; any thread. */
void sq_plugin_rate_cache_count(int slot, bool hit, uint64_t evicted);

/** Frees this thread's reusable shipping rates (shipping.c; at thread exit). */
void sq_shipping_rates_cache_free(void);

/** True when d provides some kind:<id> of kind. */
bool sq_pdef_provides_kind(const sq_pdef_t *d, const char *kind);

/** A set of plugins as loaded by one (re)load. */
typedef struct sq_preg {
    int refs;
    uint64_t generation;
    sq_pdef_t **defs;
    int n;
} sq_preg_t;

/** The current registry with a reference taken (drop it with sq_preg_unref); never NULL after init. */
sq_preg_t *sq_preg_acquire(void);
void sq_preg_unref(sq_preg_t *r);
/** The generation of the current registry (a cheap check for threads). */
uint64_t sq_preg_generation(void);

typedef struct sq_pstate sq_pstate_t;

/** Brings the plugin's souq_plugin_memory_bytes gauge up to date with ps->used (after a call, and with 0 when
 * the state is closed). */
void sq_pstate_account(sq_pstate_t *ps, size_t now_used);

/** Parses and checks dir/manifest.json and dir/handler.lua (compiled and run once in a scratch sandbox). NULL and
 * a message naming the problem in err when the plugin is refused. */
sq_pdef_t *sq_pdef_load(const char *dir, char *err, size_t errlen);

/** The contents of a file of at most max bytes (NUL-terminated, free it), or NULL with a message in err. */
char *sq_plugin_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/** A copy of d whose effective config is cfg validated against d's schema (defaults filled), or NULL with err
 * set (per-field errors point at /config/<field>). The copy is enabled. */
sq_pdef_t *sq_pdef_with_config(const sq_pdef_t *d, const json_t *cfg, sq_err_t *err);

/** Checks the manifest's "events" (NULL when absent) against d's provides and keeps it in d->events (notify.c). */
int sq_pdef_load_events(sq_pdef_t *d, json_t *events, char *err, size_t errlen);

/** Checks values (an object; NULL = {}) against a manifest schema (field -> {type, required, default, enum, min, max,
 * max_length}: settings and action inputs alike) and fills defaults: a new reference, or NULL with err set, per-field
 * errors at at/<field> ("/config", "/input"); noun names a field in messages, owner starts the unknown-field detail. */
json_t *sq_pschema_check(const json_t *schema, const json_t *values, const char *at, const char *noun, const char *owner,
                         sq_err_t *err);

/** Validates cfg (an object; NULL = {}) against a plugin's schema and fills defaults: a new reference to the
 * effective config, or NULL with err set (per-field errors point at /config/<field>). */
json_t *sq_pdef_config(const sq_pdef_t *d, const json_t *cfg, sq_err_t *err);

/* ---- sandboxed states (sandbox.c) ---------------------------------------------------------------------- */

typedef struct sq_pcall sq_pcall_t;

/** One plugin's lua_State on one thread. */
struct sq_pstate {
    lua_State *L;
    sq_pdef_t *def;     /* referenced */
    size_t used, limit; /* bytes, enforced by the allocator */
    uint64_t refused;   /* allocations refused at the cap */
    size_t reported;    /* bytes last added to the plugin's memory gauge */
    int handler_ref;    /* the table handler.lua returned */
    int config_ref;     /* the read-only config table (souq.config, and the first argument of every hook) */
    int env_ref;        /* the read-only globals plugin code sees (spec.c runs specs in a table inheriting them) */
    int inflight;       /* calls running or suspended in a coroutine */
    bool discard;       /* closed once inflight reaches 0 (after a timeout or OOM, or on reload) */
    sq_pcall_t *cur;    /* the call running now (the hook charges it) */
};

typedef void (*sq_pcall_done)(sq_pcall_t *call, json_t *out);

/** A call in progress (heap-allocated by the host; it may be suspended while souq.http waits for its answer): its
 * budgets and what stopped it. The instruction and wall-clock budgets count only time running Lua: deadline_us
 * moves forward by each wait. call_deadline_us bounds the whole call, waits included. */
struct sq_pcall {
    sq_pstate_t *ps;
    int64_t budget, used; /* instructions */
    int64_t start_us, deadline_us, call_deadline_us;
    int64_t io_us, paused_us; /* time spent waiting for I/O; when the current wait began */
    sq_preason_t reason;
    char detail[256]; /* why, for the log only */
    /* set by the caller of sq_pstate_start */
    const char *fn;
    json_t *input;
    const sq_plugin_text_t *texts; /* JSON texts decoded straight into fields of the input table (sq_plugin_call_texts) */
    int ntexts;
    bool spread; /* input is an array of the arguments after config (sq_plugin_call_args) */
    bool background;
    sq_ctx_t *cx; /* for I/O (souq.http); NULL: no I/O (tools, unit tests) */
    sq_pcall_done done;
    void *data;
    /* the machinery */
    lua_State *co;
    int co_ref;
    int io; /* SQ_PIO_* */
    int nrequests;
    int nsdk_io;         /* souq.kv and souq.events calls made (kv.c) */
    json_t *kv_fake;     /* the spec harness: an in-memory souq.kv (key -> {hex, exp}) instead of the database, or NULL */
    json_t *events_fake; /* the spec harness: souq.events.emit appends {type, payload} here instead, or NULL */
    sq_http_response_t res;
    sq_pcall_t *prev_cur;
};

enum { SQ_PIO_NONE, SQ_PIO_ISSUING, SQ_PIO_WAITING, SQ_PIO_DONE };

/** Builds a state for d: the allowlisted environment, the SDK, and handler.lua run once with the background
 * budget. NULL with a message in err on failure. */
sq_pstate_t *sq_pstate_new(sq_pdef_t *d, char *err, size_t errlen);
void sq_pstate_free(sq_pstate_t *ps);

/** Starts handler[call->fn](config, call->input) in a coroutine of ps under the request or background budgets.
 * call->done(call, out) runs once at the end (maybe before this returns), with ps->inflight already decremented:
 * out is a new reference (the result, or JSON null for nil) when call->reason is SQ_PR_NONE, else NULL. */
void sq_pstate_start(sq_pstate_t *ps, sq_pcall_t *call);

/** Resumes a call suspended in an SDK I/O function (its answer is in call->res; http.c). */
void sq_pcall_resume(sq_pcall_t *call);

/** Stops the running call with reason r (the detail for the log) and raises (never returns). */
void sq_sandbox_stop(lua_State *L, sq_preason_t r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** The call running on L (NULL outside a call). */
sq_pcall_t *sq_pcall_current(lua_State *L);

/** souq.http.request (http.c). */
int sq_sdk_http_request(lua_State *L);

/** Marks the running call as a sandbox violation and raises (never returns). */
int sq_sandbox_violation(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Replaces the table at the top of L's stack with a read-only proxy of it (writes, rawset and setmetatable are
 * sandbox violations; pairs and # still work). May raise (memory). */
void sq_lua_readonly(lua_State *L);

/** Installs souq.kv and souq.events (kv.c) into the souq table at the top of L's stack. */
void sq_sdk_open_db(lua_State *L);
/** The admin view of a plugin's actions: [{name, description, input_schema}] (actions.c). */
json_t *sq_plugin_actions_describe(const sq_pdef_t *d);
/** True when d serves the sales channel (no sales_channels setting, or it lists the channel; NULL channel: true). */
bool sq_pdef_serves(const sq_pdef_t *d, const char *channel_id);

/** A copy of stored (a plugin's stored config values) with its sealed secret values opened (secrets.c); a value that
 * cannot be opened is left out (logged without its value). A new reference. */
json_t *sq_psecrets_open(const sq_pdef_t *d, const json_t *stored);

/** Registers the plugin_kv.purge job kind (core/jobs.h; its schedule is in migrations/0031). */
void sq_plugin_kv_register_jobs(void);

/** Installs the souq.* SDK into the table at the top of L's stack (sdk.c). */
void sq_sdk_open(lua_State *L, sq_pdef_t *d);

/** JSON text -> a fresh Lua value pushed on L without building a jansson tree (the hot provider inputs: a cart's lines
 * as PostgreSQL wrote them). Objects at nesting level keep_depth keep only the keys of keep (NULL: all); nulls in
 * objects are left out, as sq_lua_push_json does. Raises on malformed JSON, on depth and on memory. */
void sq_lua_push_json_text(lua_State *L, const char *text, size_t len, const char *const *keep, int keep_depth);

/** JSON -> a fresh Lua value (copies) pushed on L; may raise (memory). */
void sq_lua_push_json(lua_State *L, const json_t *j, int depth);
/** The Lua value at idx -> a new JSON reference, or NULL with a message in why (cycles, depth, non-string keys,
 * functions, NaN...). Never raises; *bytes accumulates the size of strings seen (capped output). */
json_t *sq_lua_to_json(lua_State *L, int idx, int depth, size_t *bytes, char *why, size_t whylen);
/** Whether a plugin's answer v may stand where the contract expects a list: an array, or an empty object. Lua has one
 * empty table, and sq_lua_to_json turns it into {} (it cannot know the plugin meant a list), so every validator that
 * expects a list accepts an empty object as the empty list (json_array_size and json_array_foreach see no element in
 * it). The one rule for "an empty table where a list is expected" (sdk/lua/reference.md). */
static inline bool sq_plugin_is_list(const json_t *v)
{
    return json_is_array(v) || (json_is_object(v) && json_object_size(v) == 0);
}

/* A string field of a plugin's answer: 1 to max bytes. */
static inline bool sq_plugin_short_string(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= max;
}

/* A JSON string literal of v (quoted, escaped) in the arena, to splice into JSON text. */
static inline const char *sq_plugin_quoted(sq_arena_t *a, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY);
    const char *out = sq_arena_strdup(a, s);
    free(s);
    return out;
}

#endif
