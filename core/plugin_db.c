/* plugin_db.c: SQL of the plugin settings (core/plugin.h). */
#include "core/plugin.h"

/* updated_at in microseconds: the host keeps the newest setting of each plugin when reads and writes cross */
#define SETTING                                                                                                                    \
    "jsonb_build_object('enabled', s.enabled, 'config', s.config, 'sales_channels', to_jsonb(s.sales_channels), "                    \
    "'updated_at', (extract(epoch FROM s.updated_at) * 1000000)::bigint)"

SQ_STMT_RO(plugin_settings_list, "SELECT coalesce(jsonb_object_agg(s.name, " SETTING "), '{}'::jsonb)::text FROM plugin_settings s");

SQ_STMT(plugin_settings_put,
        "INSERT INTO plugin_settings AS s (name, enabled, config) "
        "VALUES ($1, coalesce($2::boolean, true), $3::jsonb - ARRAY(SELECT jsonb_array_elements_text($4::jsonb))) "
        "ON CONFLICT (name) DO UPDATE SET enabled = coalesce($2::boolean, s.enabled), "
        "config = (s.config || $3::jsonb) - ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), "
        "updated_at = greatest(now(), s.updated_at + interval '1 microsecond') "
        "RETURNING " SETTING "::text");

void sq_plugin_settings_list(sq_ctx_t *cx, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &plugin_settings_list, 0, NULL, cb, data);
}

void sq_plugin_settings_put(sq_ctx_t *cx, const char *name, const char *enabled, const char *set_json, const char *unset_json,
                            sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &plugin_settings_put, 4, sq_db_params(cx->arena, 4, name, enabled, set_json, unset_json), cb,
               data);
}

SQ_STMT(plugin_webhook_record,
        "WITH ins AS (INSERT INTO plugin_webhook_events (plugin, event_id, event_type) VALUES ($1, $2, $3) "
        "ON CONFLICT (plugin, event_id) DO NOTHING RETURNING received_at), "
        "ev AS (INSERT INTO outbox_events (type, payload) SELECT 'plugin.webhook_received', jsonb_build_object('plugin', $1::text, "
        "'event_id', $2::text, 'event_type', $3::text, 'data', coalesce($4::jsonb, '{}'::jsonb)) FROM ins RETURNING id) "
        "SELECT jsonb_build_object('duplicate', NOT EXISTS (SELECT 1 FROM ins), 'events', (SELECT count(*) FROM ev))::text");

void sq_plugin_webhook_record(sq_ctx_t *cx, const char *plugin, const char *event_id, const char *event_type,
                              const char *data_json, sq_json_cb cb, void *data)
{
    sq_db_json(sq_ctx_commit_db(cx), cx->arena, &plugin_webhook_record, 4,
               sq_db_params(cx->arena, 4, plugin, event_id, event_type, data_json), cb, data);
}
