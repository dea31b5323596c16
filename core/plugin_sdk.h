/* plugin_sdk.h: the storage behind the souq.* SDK functions that reach the database (migrations/0031): souq.kv (a
 * key-value store per plugin, with TTLs), souq.events.emit (custom events through the outbox), and the payment moves a
 * provider's verified webhook asks for. The plugin host (plugins/host/) checks the arguments and passes the plugin's own
 * name, so plugins never reach each other's keys; core only stores. Every function answers through its callback with a
 * JSON object (in cx->arena). */
#ifndef SQ_PLUGIN_SDK_H
#define SQ_PLUGIN_SDK_H

#include <stdint.h>

#include "core/base/json.h"
#include "core/ctx.h"

/** {"found": bool, "value": hex of the bytes} of a live key. */
void sq_plugin_kv_get(sq_ctx_t *cx, const char *plugin, const char *key, sq_json_cb cb, void *data);
/** Sets key to the bytes hex_value (hex-encoded); ttl_ms <= 0: no expiry. A new key beyond max_keys live keys of the
 * plugin is SQ_E_VALIDATION ("the plugin already has N keys (the limit)"). Answers {"ok": true}. */
void sq_plugin_kv_set(sq_ctx_t *cx, const char *plugin, const char *key, const char *hex_value, int64_t ttl_ms, int max_keys,
                      sq_json_cb cb, void *data);
/** Deletes key; {"deleted": bool} (false when it did not exist or had expired). */
void sq_plugin_kv_delete(sq_ctx_t *cx, const char *plugin, const char *key, sq_json_cb cb, void *data);
/** Adds by to the integer at key atomically; a missing or expired key starts from 0 and gets ttl_ms (<= 0: none). Answers
 * {"value": n}; SQ_E_VALIDATION when the value is not an integer or would overflow, or the key cap is reached. */
void sq_plugin_kv_incr(sq_ctx_t *cx, const char *plugin, const char *key, int64_t by, int64_t ttl_ms, int max_keys, sq_json_cb cb,
                       void *data);
/** Deletes up to limit expired keys (the plugin_kv.purge job); {"deleted": n}. */
void sq_plugin_kv_purge(sq_ctx_t *cx, int limit, sq_json_cb cb, void *data);

/** Writes the event plugin.<plugin>.<type> with payload_json (a JSON object) to the outbox; {"id": "evt_..."}. */
void sq_plugin_event_emit(sq_ctx_t *cx, const char *plugin, const char *type, const char *payload_json, sq_json_cb cb, void *data);

/** A payment move a provider's event asks for (handle_webhook's payment = {...}). */
typedef struct {
    const char *action;       /* "captured", "failed" or "refunded" */
    const char *provider_ref; /* the gateway's id of the payment (Stripe: the PaymentIntent) */
    int64_t amount;           /* captured: the amount taken; refunded: the total refunded at the provider so far; -1: none */
    const char *currency;     /* lower-case ISO 4217, or NULL */
    const char *decline_code; /* failed: the gateway's reason, or NULL */
} sq_plugin_payment_move_t;

/** Records a verified event like sq_plugin_webhook_record (core/plugin.h), and in the same statement, only on the first
 * receipt of (plugin, event_id), applies mv to the payment of one of providers_json (a JSON array of the plugin's payment
 * provider ids) whose provider_ref matches. Answers {"duplicate": bool, "events": n, "outcome": {"action", "result":
 * applied|already|ignored, "payment_id", "order_id", "detail"} or null on a duplicate}. An illegal move is not an
 * error: its outcome says ignored (the provider is answered 200 and stops retrying). */
void sq_plugin_webhook_record_payment(sq_ctx_t *cx, const char *plugin, const char *event_id, const char *event_type,
                                      const char *data_json, const char *providers_json, const sq_plugin_payment_move_t *mv,
                                      sq_json_cb cb, void *data);

/** sq_plugin_settings_put (core/plugin.h) with the plugin's sales channels: channels_json NULL keeps them, "null" serves
 * every channel, a JSON array of channel ids restricts the plugin to them (an unknown id: SQ_E_VALIDATION at
 * /sales_channels/<i>). Answers the stored {"enabled", "config", "sales_channels", "updated_at"}. */
void sq_plugin_settings_put_channels(sq_ctx_t *cx, const char *name, const char *enabled, const char *set_json,
                                     const char *unset_json, const char *channels_json, sq_json_cb cb, void *data);

/** Replaces the stored values of set_json (field -> new sealed value) only while every field still holds its value in
 * expect_json (compare-and-set: a PATCH that landed meanwhile wins; SQ_E_CONFLICT then). Answers the stored setting
 * like sq_plugin_settings_put. */
void sq_plugin_settings_reseal(sq_ctx_t *cx, const char *name, const char *set_json, const char *expect_json, sq_json_cb cb,
                               void *data);

#endif
