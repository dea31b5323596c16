/* plugin_sdk_db.c: SQL of souq.kv, souq.events.emit and webhook payment moves (core/plugin_sdk.h, migrations/0031). */
#include <string.h>

#include "core/plugin_sdk.h"

SQ_STMT(kv_get, "SELECT jsonb_build_object('found', count(*) > 0, 'value', max(encode(value, 'hex')))::text FROM plugin_kv "
                "WHERE plugin = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > now())");
SQ_STMT(kv_set, "SELECT souq_kv_set($1, $2, decode($3, 'hex'), nullif($4::bigint, 0), $5::integer)::text");
SQ_STMT(
    kv_delete,
    "WITH d AS (DELETE FROM plugin_kv WHERE plugin = $1 AND key = $2 RETURNING expires_at IS NULL OR expires_at > now() AS live) "
    "SELECT jsonb_build_object('deleted', coalesce((SELECT live FROM d), false))::text");
SQ_STMT(kv_incr, "SELECT souq_kv_incr($1, $2, $3::bigint, nullif($4::bigint, 0), $5::integer)::text");
SQ_STMT(kv_purge, "SELECT souq_kv_purge($1::integer)::text");

void sq_plugin_kv_get(sq_ctx_t *cx, const char *plugin, const char *key, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &kv_get, 2, sq_db_params(cx->arena, 2, plugin, key), cb, data);
}

void sq_plugin_kv_set(sq_ctx_t *cx, const char *plugin, const char *key, const char *hex_value, int64_t ttl_ms, int max_keys,
                      sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &kv_set, 5,
               sq_db_params(a, 5, plugin, key, hex_value, sq_db_int(a, ttl_ms > 0 ? ttl_ms : 0), sq_db_int(a, max_keys)), cb, data);
}

void sq_plugin_kv_delete(sq_ctx_t *cx, const char *plugin, const char *key, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &kv_delete, 2, sq_db_params(cx->arena, 2, plugin, key), cb, data);
}

void sq_plugin_kv_incr(sq_ctx_t *cx, const char *plugin, const char *key, int64_t by, int64_t ttl_ms, int max_keys, sq_json_cb cb,
                       void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &kv_incr, 5,
               sq_db_params(a, 5, plugin, key, sq_db_int(a, by), sq_db_int(a, ttl_ms > 0 ? ttl_ms : 0), sq_db_int(a, max_keys)), cb,
               data);
}

void sq_plugin_kv_purge(sq_ctx_t *cx, int limit, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &kv_purge, 1, sq_db_params(cx->arena, 1, sq_db_int(cx->arena, limit)), cb, data);
}

/* the type is checked by the host (lower-case letters, digits, _ and .); the plugin name by the manifest loader */
SQ_STMT(event_emit, "INSERT INTO outbox_events (type, payload) VALUES ('plugin.' || $1 || '.' || $2, $3::jsonb) "
                    "RETURNING jsonb_build_object('id', id)::text");

void sq_plugin_event_emit(sq_ctx_t *cx, const char *plugin, const char *type, const char *payload_json, sq_json_cb cb, void *data)
{
    sq_db_json(sq_ctx_commit_db(cx), cx->arena, &event_emit, 3, sq_db_params(cx->arena, 3, plugin, type, payload_json), cb, data);
}

/* As plugin_webhook_record (core/plugin_db.c), plus the payment move on the first receipt (souq_plugin_webhook_payment). */
SQ_STMT(webhook_record_payment,
        "SELECT souq_plugin_webhook_payment($1, $2, $3, $4::jsonb, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6, $7, "
        "$8::bigint, $9, $10)::text");

void sq_plugin_webhook_record_payment(sq_ctx_t *cx, const char *plugin, const char *event_id, const char *event_type,
                                      const char *data_json, const char *providers_json, const sq_plugin_payment_move_t *mv,
                                      sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(sq_ctx_commit_db(cx), a, &webhook_record_payment, 10,
               sq_db_params(a, 10, plugin, event_id, event_type, data_json, providers_json, mv->action, mv->provider_ref,
                            mv->amount >= 0 ? sq_db_int(a, mv->amount) : NULL, mv->currency, mv->decline_code),
               cb, data);
}

SQ_STMT(settings_put, "SELECT souq_plugin_settings_put($1, $2::boolean, $3::jsonb, $4::jsonb, $5::jsonb)::text");

typedef struct {
    sq_arena_t *arena;
    sq_json_cb cb;
    void *data;
} put_t;

/* "<pointer>|<code>|<detail>" messages of the SQL function become a per-field error */
static void on_put(const char *json, const sq_err_t *err, void *data)
{
    put_t *p = data;
    const char *bar1 = err ? strchr(err->detail, '|') : NULL, *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
    if (err != NULL && err->code == SQ_E_VALIDATION && err->detail[0] == '/' && bar2 != NULL) {
        sq_err_t *e = SQ_NEW(p->arena, sq_err_t);
        sq_err_copy(e, err);
        const char *pointer = sq_arena_printf(p->arena, "%.*s", (int)(bar1 - err->detail), err->detail);
        const char *code = sq_arena_printf(p->arena, "%.*s", (int)(bar2 - bar1 - 1), bar1 + 1);
        sq_err_set(e, err->code, "%s", bar2 + 1);
        sq_err_field(e, pointer, code, "%s", bar2 + 1);
        p->cb(NULL, e, p->data);
        return;
    }
    p->cb(json, err, p->data);
}

void sq_plugin_settings_put_channels(sq_ctx_t *cx, const char *name, const char *enabled, const char *set_json,
                                     const char *unset_json, const char *channels_json, sq_json_cb cb, void *data)
{
    put_t *p = SQ_NEW(cx->arena, put_t);
    *p = (put_t){cx->arena, cb, data};
    sq_db_json(cx->db, cx->arena, &settings_put, 5, sq_db_params(cx->arena, 5, name, enabled, set_json, unset_json, channels_json),
               on_put, p);
}

SQ_STMT(settings_reseal,
        "WITH u AS (UPDATE plugin_settings s SET config = s.config || $2::jsonb, "
        "updated_at = greatest(now(), s.updated_at + interval '1 microsecond') WHERE s.name = $1 AND s.config @> $3::jsonb "
        "RETURNING jsonb_build_object('enabled', s.enabled, 'config', s.config, 'sales_channels', to_jsonb(s.sales_channels), "
        "'updated_at', (extract(epoch FROM s.updated_at) * 1000000)::bigint) AS setting) "
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN (SELECT setting FROM u)::text ELSE souq_raise('SQ409', "
        "'The secret settings changed meanwhile; try again.')::text END");

void sq_plugin_settings_reseal(sq_ctx_t *cx, const char *name, const char *set_json, const char *expect_json, sq_json_cb cb,
                               void *data)
{
    sq_db_json(cx->db, cx->arena, &settings_reseal, 3, sq_db_params(cx->arena, 3, name, set_json, expect_json), cb, data);
}
