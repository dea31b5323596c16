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

/** Records an inbound provider event a plugin verified (migrations/0027): the first receipt of (plugin, event_id)
 * inserts its row and writes plugin.webhook_received ({plugin, event_id, event_type, data}) to the outbox in the
 * same statement; a replay changes nothing. Answers {"duplicate": bool, "events": outbox rows written (0 or 1)}. data_json is a JSON
 * object (the plugin's summary of the event) or NULL; event_type may be NULL. */
void sq_plugin_webhook_record(sq_ctx_t *cx, const char *plugin, const char *event_id, const char *event_type,
                              const char *data_json, sq_json_cb cb, void *data);

#endif
