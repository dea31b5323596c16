/* host.h: the Lua plugin host as api/ and the tests see it: loading and reloading plugin folders, calling a
 * plugin's function under its budgets, and the stats /metrics shows. The provider bridges (payment.c) register
 * plugins with core through the function-pointer hooks of core/hooks.h, so core never includes Lua. */
#ifndef SQ_PLUGIN_HOST_H
#define SQ_PLUGIN_HOST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/base/arena.h"
#include "core/base/err.h"

/** Loads every plugin folder under dirs (comma-separated directories whose subfolders hold a manifest.json)
 * and publishes them; refused plugins are logged with the reason and the rest load. Sets the payment lookup
 * hook of core. Main thread, before the loop threads start; may be called again by tests. Returns the number
 * of plugins loaded. */
int sq_plugins_init(const char *dirs);

/** Reloads from dirs (SIGHUP, POST /v1/admin/plugins/reload): new definitions are built and swapped in; a plugin
 * that fails to load keeps its previous version (when it had one). Threads build new states at their next call;
 * calls in flight finish on the old ones. Blocking (reads files, compiles): never on a loop thread. Returns a
 * new JSON reference {"generation":n,"loaded":[names],"refused":[{"plugin","error","kept_version"}]}. */
json_t *sq_plugins_reload(const char *dirs);

/** A plugin call's answer: out (borrowed, alive until the callback returns) or err. */
typedef void (*sq_plugin_cb)(json_t *out, const sq_err_t *err, void *data);

/** Calls handler.<fn>(config, input) of the named plugin on this thread's state for it, in a coroutine, under
 * the request-path (or background) instruction, wall-clock and memory budgets. input is copied into Lua. A
 * failure is logged, counted and answered as SQ_E_PLUGIN_TIMEOUT (budgets), SQ_E_PLUGIN_DEGRADED (breaker open)
 * or SQ_E_PLUGIN_FAILED; the client-safe detail never holds plugin text. The callback may run before this
 * returns. */
void sq_plugin_call(const char *plugin, const char *fn, const json_t *input, bool background, sq_plugin_cb cb, void *data);

typedef struct sq_ctx sq_ctx_t;

/** sq_plugin_call with a context for the plugin's I/O (souq.http.request goes through cx->http; cx and its arena
 * must stay alive until cb runs, which the loop's contexts do). The call may then suspend while it waits: cb runs
 * later, on this thread. Without a context (sq_plugin_call) souq.http.request raises {code = "unavailable"}. */
void sq_plugin_call_cx(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *input, bool background, sq_plugin_cb cb,
                       void *data);

/** A field of a call's input given as JSON text (decoded straight into Lua, never into jansson: the cart path's
 * lines): input[key] = the decoded text, or with pick its field pick (nothing when absent). keep/keep_depth: only
 * those keys of the objects at that nesting level (sq_lua_push_json_text). */
typedef struct {
    const char *key, *text, *pick;
    const char *const *keep;
    int keep_depth;
} sq_plugin_text_t;

/** sq_plugin_call_cx whose input (an object) gets ntexts more fields decoded from JSON texts (copied: the caller's
 * may go away at once). */
void sq_plugin_call_texts(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *input, const sq_plugin_text_t *texts,
                          int ntexts, bool background, sq_plugin_cb cb, void *data);

/** sq_plugin_call_cx with several arguments: handler.<fn>(config, args[0], args[1], ...) (args a JSON array). */
void sq_plugin_call_args(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *args, bool background, sq_plugin_cb cb,
                         void *data);

/** True when a plugin of that name is loaded and enabled. */
bool sq_plugin_enabled(const char *plugin);

/** Reports that a plugin's answer broke its hook's contract (wrong status, missing fields): logged and counted as
 * a failure of reason "error", and e is filled with SQ_E_PLUGIN_FAILED. */
void sq_plugin_reject(const char *plugin, const char *fn, const char *why, sq_err_t *e);

/** The plugin providing kind:id ("payment", "manual") in the current registry (enabled, highest priority), or
 * NULL. The name is copied into buf. */
const char *sq_plugin_provider_of(const char *kind, const char *id, char *buf, size_t len);

/** Prometheus text of the plugin counters (calls, failures by reason, degraded), in the arena. */
char *sq_plugins_metrics(sq_arena_t *a);

/** Replaces the stored settings ({"<name>": {"enabled": bool, "config": {...}}}, from plugin_settings) that the
 * next load or reload applies. Call before sq_plugins_init and before each reload. */
void sq_plugins_set_settings(const json_t *settings);

/** Applies one plugin's new stored setting ({"enabled", "config"}) at once: a new registry generation in which
 * only that plugin's definition changed (threads rebuild its state at their next call). No file I/O. */
void sq_plugins_apply(const char *name, const json_t *setting);
/** The same for every stored setting at once ({"<name>": setting}, as sq_plugins_set_settings): the settings another
 * node changed (NOTIFY souq 'plugin_settings'). A setting older than the one held is left (updated_at). */
void sq_plugins_apply_all(const json_t *settings);

/** The admin view of one plugin (name) or of all ({"object":"list","data":[...]}; name NULL): manifest, status,
 * config values (secret fields never: their names are in secrets_set), schema, limits, counters. A new
 * reference; NULL when no plugin has that name. */
json_t *sq_plugins_describe(const char *name);

/** Checks a PATCH of a plugin's settings: enabled (JSON boolean or NULL) and config (an object of values, null
 * resetting a key to its default, or NULL). On success *set gets the values to store and *unset the keys to
 * remove (new references); the merged config was validated against the schema (required settings may be missing
 * only while the plugin stays disabled). -1 with err: SQ_E_NOT_FOUND, SQ_E_UNKNOWN_FIELD or SQ_E_VALIDATION with
 * pointers /config/<field>. Never copies a value into err. */
int sq_plugins_check_patch(const char *name, const json_t *enabled, const json_t *config, json_t **set, json_t **unset,
                           sq_err_t *err);

/** `souq plugin test DIR`: runs the plugin's spec files (spec/NAME.lua) in the sandbox with the spec harness (plugins/host/spec.c,
 * sdk/lua/guide.md), printing each test and a "N passed, N failed" line to out. -1 when the plugin does not load or
 * has no spec file (printed); else 0, with the counts. */
int sq_plugin_spec_run(const char *dir, FILE *out, int *passed, int *failed);

/** A named automation action's answer: out is the action's return value as JSON (null for nil; borrowed, alive until the
 * callback returns), or err. */
typedef void (*sq_plugin_action_cb)(json_t *out, const sq_err_t *err, void *data);

/** Runs the action of a plugin (its manifest's "actions", the handler's action_<name>(conf, input)) on this thread,
 * under the plugin's background budgets, with cx for its I/O (souq.http, souq.kv, souq.events; cx and its arena must stay
 * alive until cb runs). input (an object or NULL) is validated against the action's input schema first and copied.
 * Errors: SQ_E_NOT_FOUND (no enabled plugin of that name, or no such action), SQ_E_UNKNOWN_FIELD and SQ_E_VALIDATION
 * (pointers /input/<field>), and the call's SQ_E_PLUGIN_FAILED / SQ_E_PLUGIN_TIMEOUT / SQ_E_PLUGIN_DEGRADED. The
 * callback may run before this returns. */
void sq_plugin_run_action(sq_ctx_t *cx, const char *plugin, const char *action, const json_t *input, sq_plugin_action_cb cb,
                          void *data);

/** Checks input (an object or NULL) against the action's input schema without running it (the automation-rules engine
 * validates a rule's action when the rule is saved): 0, or -1 with err as sq_plugin_run_action sets it. */
int sq_plugin_action_check(const char *plugin, const char *action, const json_t *input, sq_err_t *err);

/** Every enabled plugin's actions: [{plugin, name, description, input_schema}] (a new reference), for choosing one. */
json_t *sq_plugin_actions_list(void);

/** True when the named plugin is enabled and serves the sales channel (its sales_channels setting is unset, or lists
 * the channel). */
bool sq_plugin_serves_channel(const char *plugin, const char *channel_id);

/** The ids the named plugin provides for kind ("payment" -> ["stripe"]) as a new JSON array (empty when it is not
 * loaded). */
json_t *sq_plugin_provides(const char *plugin, const char *kind);

/** Sets the keys of secret settings at rest (secrets.c): current_hex seals new values and opens, previous_hex only
 * opens (a rotation); each 64 hex characters (32 bytes, AES-256-GCM) or empty/NULL for none. -1 when one is malformed.
 * Call before sq_plugins_init and before each reload. */
int sq_plugins_set_secret_keys(const char *current_hex, const char *previous_hex);
/** True when hex is empty/NULL or a valid key (64 hex characters). */
bool sq_plugin_secrets_key_valid(const char *hex);
/** True when a stored value is sealed ("sq1:..."). */
bool sq_plugin_secret_sealed(const char *value);
/** Seals, in place, the values of set (a checked PATCH's config values) that are secret settings of the plugin, with
 * the current key (none: left as they are). A secret value starting with "sq1:" is refused (SQ_E_VALIDATION at
 * /config/<field>): it would read back as ciphertext. */
int sq_plugins_seal_secrets(const char *plugin, json_t *set, sq_err_t *err);
/** The plugin's stored secret values not sealed with the current key (plaintext stored before a key was set, or sealed
 * with the previous key), sealed again with the current key: a new object of field -> new value; *expect gets field ->
 * the stored value it replaces (for a compare-and-set). Empty without a current key. */
json_t *sq_plugins_secrets_to_reseal(const char *plugin, json_t **expect);

/** Closes this thread's plugin states (a loop thread on exit; tests). */
void sq_plugins_thread_exit(void);

#endif
