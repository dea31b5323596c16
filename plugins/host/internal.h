/* internal.h: what the files of the plugin host share (the registry, per-thread states, the call machinery).
 * Nothing outside plugins/host/ includes it; api/ and tests use plugins/host/host.h. */
#ifndef SQ_PLUGIN_INTERNAL_H
#define SQ_PLUGIN_INTERNAL_H

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/base/arena.h"
#include "core/base/err.h"
#include "plugins/host/host.h"

#define SQ_PLUGIN_SDK_MAJOR 1
#define SQ_PLUGIN_SDK_VERSION "1.0"
#define SQ_PLUGIN_MAX 64         /* plugins a process knows by name (stats slots are never reused) */
#define SQ_PLUGIN_HOOK_STEP 1000 /* the count hook fires every this many VM instructions */
#define SQ_PLUGIN_OUTPUT_MAX (256 * 1024)
#define SQ_PLUGIN_PATTERN_SUBJECT_MAX (64 * 1024)
#define SQ_PLUGIN_PATTERN_MAX 256
#define SQ_PLUGIN_DEPTH_MAX 32

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
    bool enabled;                            /* wanted && configured */
    int64_t instr_request, instr_background; /* per-call instruction budgets */
    int64_t wall_request_ms, wall_background_ms;
    int64_t memory_bytes;
    int breaker_failures, breaker_window_s, breaker_open_s;
    int slot; /* index of the plugin's stats slot (by name, stable across reloads) */
} sq_pdef_t;

void sq_pdef_ref(sq_pdef_t *d);
void sq_pdef_unref(sq_pdef_t *d);

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
    int inflight;       /* calls running or suspended in a coroutine */
    bool discard;       /* closed once inflight reaches 0 (after a timeout or OOM, or on reload) */
    sq_pcall_t *cur;    /* the call running now (the hook charges it) */
};

/** A call in progress: its budgets and what stopped it. */
struct sq_pcall {
    sq_pstate_t *ps;
    int64_t budget, used; /* instructions */
    int64_t start_us, deadline_us;
    sq_preason_t reason;
    char detail[256]; /* why, for the log only */
};

/** Builds a state for d: the allowlisted environment, the SDK, and handler.lua run once with the background
 * budget. NULL with a message in err on failure. */
sq_pstate_t *sq_pstate_new(sq_pdef_t *d, char *err, size_t errlen);
void sq_pstate_free(sq_pstate_t *ps);

/** Runs handler[fn](config, input) in a coroutine of ps under the request or background budget. On success
 * *out gets a new reference (the result, or JSON null for nil). On failure returns the reason and fills call. */
sq_preason_t sq_pstate_run(sq_pstate_t *ps, const char *fn, json_t *input, bool background, json_t **out, sq_pcall_t *call);

/** Marks the running call as a sandbox violation and raises (never returns). */
int sq_sandbox_violation(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Replaces the table at the top of L's stack with a read-only proxy of it (writes, rawset and setmetatable are
 * sandbox violations; pairs and # still work). May raise (memory). */
void sq_lua_readonly(lua_State *L);

/** Installs the souq.* SDK into the table at the top of L's stack (sdk.c). */
void sq_sdk_open(lua_State *L, sq_pdef_t *d);

/** JSON -> a fresh Lua value (copies) pushed on L; may raise (memory). */
void sq_lua_push_json(lua_State *L, const json_t *j, int depth);
/** The Lua value at idx -> a new JSON reference, or NULL with a message in why (cycles, depth, non-string keys,
 * functions, NaN...). Never raises; *bytes accumulates the size of strings seen (capped output). */
json_t *sq_lua_to_json(lua_State *L, int idx, int depth, size_t *bytes, char *why, size_t whylen);

#endif
