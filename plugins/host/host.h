/* host.h: the Lua plugin host as api/ and the tests see it: loading and reloading plugin folders, calling a
 * plugin's function under its budgets, and the stats /metrics shows. The provider bridges (payment.c) register
 * plugins with core through the function-pointer hooks of core/hooks.h, so core never includes Lua. */
#ifndef SQ_PLUGIN_HOST_H
#define SQ_PLUGIN_HOST_H

#include <jansson.h>
#include <stdbool.h>

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

/** Reports that a plugin's answer broke its hook's contract (wrong status, missing fields): logged and counted as
 * a failure of reason "error", and e is filled with SQ_E_PLUGIN_FAILED. */
void sq_plugin_reject(const char *plugin, const char *fn, const char *why, sq_err_t *e);

/** The plugin providing kind:id ("payment", "manual") in the current registry (enabled, highest priority), or
 * NULL. The name is copied into buf. */
const char *sq_plugin_provider_of(const char *kind, const char *id, char *buf, size_t len);

/** Prometheus text of the plugin counters (calls, failures by reason, degraded), in the arena. */
char *sq_plugins_metrics(sq_arena_t *a);

/** Closes this thread's plugin states (a loop thread on exit; tests). */
void sq_plugins_thread_exit(void);

#endif
