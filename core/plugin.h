/* plugin.h: the stored settings of plugins (migrations/0024): enabled or not, and the config values staff set.
 * The plugin host (plugins/host/) validates them against each manifest; core only keeps them. */
#ifndef SQ_PLUGIN_H
#define SQ_PLUGIN_H

#include "core/base/json.h"
#include "core/ctx.h"

/** Every plugin's stored settings as a JSON object {"<name>": {"enabled": bool, "config": {...}, "updated_at":
 * microseconds}, ...} (cb's json lives in the arena). updated_at grows with every change of a row. */
void sq_plugin_settings_list(sq_ctx_t *cx, sq_json_cb cb, void *data);

/** Changes one plugin's settings in one statement (a row is created on first change): enabled "true"/"false" or
 * NULL to keep it; set_json a JSON object of config values to set (merged over the stored ones), unset_json a JSON
 * array of config keys to remove (back to their defaults). Answers the stored {"enabled", "config", "updated_at"}. The caller
 * validated the merged config against the plugin's schema. */
void sq_plugin_settings_put(sq_ctx_t *cx, const char *name, const char *enabled, const char *set_json, const char *unset_json,
                            sq_json_cb cb, void *data);

#endif
