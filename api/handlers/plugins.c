/* plugins.c: the plugin admin API: list and read plugins, change their settings (enabled, config validated against
 * the manifest schema; secret values are write-only), and reload the plugin folders. */
#include <stddef.h>
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/log.h"
#include "core/label.h"
#include "core/plugin.h"
#include "core/plugin_sdk.h"
#include "plugins/host/host.h"

static const char *plugin_name(sq_req_t *req)
{
    return sq_req_param(req, "name");
}

void sq_h_admin_plugin_list(sq_req_t *req)
{
    sq_req_send_jansson(req, 200, sq_plugins_describe(NULL));
}

void sq_h_admin_plugin_get(sq_req_t *req)
{
    json_t *p = sq_plugins_describe(plugin_name(req));
    if (p == NULL) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The plugin does not exist.");
        return;
    }
    sq_req_send_jansson(req, 200, p);
}

/* ---- PATCH: settings ------------------------------------------------------------------------------------------- */

typedef struct {
    bool enabled;
    json_t *config;
    json_t *sales_channels;
} patch_t;

static const char *check_object(const json_t *v, const char **code)
{
    if (json_is_object(v))
        return NULL;
    *code = "invalid_type";
    return "Must be an object.";
}

/* 1-100 distinct sales channel ids (sc_...); null serves every channel */
static const char *check_channels(const json_t *v, const char **code)
{
    *code = "invalid_value";
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 100)
        return "Must be null or an array of 1-100 sales channel ids.";
    size_t i, j;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        const char *s = json_string_value(x);
        if (s == NULL || strlen(s) != 29 || strncmp(s, "sc_", 3) != 0 || strspn(s + 3, "0123456789abcdefghjkmnpqrstvwxyz") != 26)
            return "Must be sales channel ids (sc_...).";
        for (j = 0; j < i; j++)
            if (json_equal(x, json_array_get(v, j)))
                return "Lists a sales channel twice.";
    }
    return NULL;
}

static const sq_field_t patch_fields[] = {
    {"enabled", SQ_FT_BOOL, 0, offsetof(patch_t, enabled), 0, 0, NULL, NULL, NULL},
    {"config", SQ_FT_JSON, 0, offsetof(patch_t, config), 0, 0, NULL, check_object, NULL},
    {"sales_channels", SQ_FT_JSON, SQ_F_NULLABLE, offsetof(patch_t, sales_channels), 0, 0, NULL, check_channels, NULL}, /* 0031 */
    {NULL},
};

static void on_stored(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    json_t *setting = sq_json_own(req->arena, json_loads(json, 0, NULL));
    const char *name = plugin_name(req);
    sq_plugins_apply(name, setting); /* this node at once; the others on NOTIFY souq 'plugin_settings' (0049) */
    json_t *p = sq_plugins_describe(name);
    if (p == NULL) { /* removed by a reload meanwhile */
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The plugin does not exist.");
        return;
    }
    sq_req_send_jansson(req, 200, p);
}

void sq_h_admin_plugin_update(sq_req_t *req)
{
    patch_t in = {0};
    uint64_t present = 0;
    if (sq_req_json(req, patch_fields, &in, &present) != 0) {
        sq_req_fail(req);
        return;
    }
    json_t *set = NULL, *unset = NULL;
    json_t *enabled = (present & 1) ? sq_json_own(req->arena, json_boolean(in.enabled)) : NULL;
    if (sq_plugins_check_patch(plugin_name(req), enabled, (present & 2) ? in.config : NULL, &set, &unset, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    if (sq_plugins_seal_secrets(plugin_name(req), set, &req->err) != 0) { /* AES-256-GCM at rest (plugins/host/secrets.c) */
        json_decref(set);
        json_decref(unset);
        sq_req_fail(req);
        return;
    }
    size_t len;
    const char *set_json = sq_json_dump(req->arena, set, &len), *unset_json = sq_json_dump(req->arena, unset, &len);
    json_decref(set);
    json_decref(unset);
    const char *channels = (present & 4) ? (in.sales_channels ? sq_json_dump(req->arena, in.sales_channels, &len) : "null") : NULL;
    sq_plugin_settings_put_channels(&req->cx, plugin_name(req), enabled ? (in.enabled ? "true" : "false") : NULL, set_json,
                                    unset_json, channels, on_stored, req);
}

/* ---- POST reload ----------------------------------------------------------------------------------------------- */

typedef struct {
    sq_req_t *req;
    const char *dirs;
    json_t *report;
} reload_t;

static void reload_work(void *data)
{
    reload_t *r = data;
    r->report = sq_plugins_reload(r->dirs); /* on the pool: reads files and compiles */
}

static void reload_done(void *data)
{
    reload_t *r = data;
    json_object_set_new(r->report, "object", json_string("plugin_reload"));
    sq_req_send_jansson(r->req, 200, r->report);
}

static void on_settings(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_plugins_set_settings(sq_json_own(req->arena, json_loads(json, 0, NULL)));
    reload_t *r = SQ_NEW(req->arena, reload_t);
    r->req = req;
    r->dirs = sq_arena_strdup(req->arena, req->rt->cfg->plugin_dirs);
    req->cx.offload(&req->cx, reload_work, reload_done, r);
}

void sq_h_admin_plugin_reload(sq_req_t *req)
{
    static const sq_field_t none[] = {{NULL}};
    char scratch[16];
    if (req->h2o != NULL && req->h2o->entity.base != NULL && req->h2o->entity.len > 0 &&
        sq_req_json(req, none, scratch, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_plugin_settings_list(&req->cx, on_settings, req);
}

/* ---- inbound provider callbacks: POST /v1/hooks/{plugin}[/{topic}] ------------------------------------------------ */

typedef struct {
    sq_req_t *req;
    const char *plugin, *event_id;
} hook_t;

static void on_recorded(const char *json, const sq_err_t *err, void *data)
{
    hook_t *h = data;
    if (err != NULL) {
        sq_req_fail_with(h->req, err);
        return;
    }
    json_t *j = sq_json_own(h->req->arena, json_loads(json, 0, NULL));
    bool dup = json_is_true(json_object_get(j, "duplicate"));
    json_t *receipt = json_pack("{s:s, s:s, s:s, s:s}", "object", "webhook_receipt", "plugin", h->plugin, "event_id", h->event_id,
                                "status", dup ? "duplicate" : "applied");
    json_t *outcome = json_object_get(j, "outcome"); /* a payment move (sq_plugin_webhook_record_payment) */
    if (json_is_object(outcome)) {
        const char *result = json_string_value(json_object_get(outcome, "result"));
        if (result != NULL && strcmp(result, "ignored") == 0) /* logged, answered 200: the provider must not retry it forever */
            sq_log(SQ_LOG_WARN, "plugin", "plugin=%s event_id=%s payment move %s ignored: %s", h->plugin, h->event_id,
                   json_string_value(json_object_get(outcome, "action")), json_string_value(json_object_get(outcome, "detail")));
        json_object_set(receipt, "payment", outcome);
    }
    sq_req_send_jansson(h->req, 200, receipt);
}

/* The payment move of an accepted event (handle_webhook's payment = {action, provider_ref, amount, currency,
 * decline_code}): NULL when it is well formed (*mv filled), else why it breaks the hook's contract. */
static const char *payment_move(sq_arena_t *a, const json_t *p, sq_plugin_payment_move_t *mv)
{
    static const char *const actions[] = {"captured", "failed", "refunded", NULL};
    const char *action = json_string_value(json_object_get(p, "action"));
    json_t *ref = json_object_get(p, "provider_ref"), *amount = json_object_get(p, "amount"), *cur = json_object_get(p, "currency");
    json_t *decline = json_object_get(p, "decline_code");
    int i = 0;
    while (action != NULL && actions[i] != NULL && strcmp(actions[i], action) != 0)
        i++;
    if (!json_is_object(p) || action == NULL || actions[i] == NULL)
        return "payment.action must be captured, failed or refunded";
    if (!json_is_string(ref) || json_string_length(ref) < 1 || json_string_length(ref) > 255)
        return "payment.provider_ref must be a string of 1-255 bytes";
    if (amount != NULL && (!json_is_integer(amount) || json_integer_value(amount) < 0))
        return "payment.amount must be a non-negative integer (minor units)";
    if (amount == NULL && strcmp(action, "refunded") == 0)
        return "payment.amount (the total refunded at the provider) is required with refunded";
    if (cur != NULL && (!json_is_string(cur) || json_string_length(cur) != 3))
        return "payment.currency must be a lower-case ISO 4217 code";
    if (decline != NULL && (!json_is_string(decline) || json_string_length(decline) < 1 || json_string_length(decline) > 64))
        return "payment.decline_code must be a string of 1-64 bytes";
    *mv = (sq_plugin_payment_move_t){
        actions[i], sq_arena_strdup(a, json_string_value(ref)), amount ? json_integer_value(amount) : -1,
        cur ? sq_arena_strdup(a, json_string_value(cur)) : NULL, decline ? sq_arena_strdup(a, json_string_value(decline)) : NULL};
    for (char *c = (char *)mv->currency; c && *c; c++)
        if (*c < 'a' || *c > 'z')
            return "payment.currency must be a lower-case ISO 4217 code";
    return NULL;
}

static bool short_str(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= max;
}

/* The plugin's verdict: {status = "accepted", event_id =, event_type =, data =} | {status = "rejected"} |
 * {status = "ignored"}. */
static void on_verified(json_t *out, const sq_err_t *err, void *data)
{
    hook_t *h = data;
    sq_req_t *req = h->req;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    const char *st = json_string_value(json_object_get(out, "status"));
    json_t *id = json_object_get(out, "event_id"), *type = json_object_get(out, "event_type"), *d = json_object_get(out, "data");
    if (st != NULL && strcmp(st, "rejected") == 0) {
        sq_req_fail_code(req, SQ_E_BAD_REQUEST, "The callback could not be verified (signature, timestamp or body).");
        return;
    }
    if (st != NULL && strcmp(st, "ignored") == 0) {
        sq_req_send_jansson(req, 200, json_pack("{s:s, s:s, s:n, s:s}", "object", "webhook_receipt", "plugin", h->plugin, "event_id",
                                                "status", "ignored"));
        return;
    }
    const char *why = NULL;
    if (st == NULL || strcmp(st, "accepted") != 0)
        why = "status must be accepted, rejected or ignored";
    else if (!short_str(id, 255))
        why = "event_id must be a string of 1-255 bytes";
    else if (type != NULL && !short_str(type, 128))
        why = "event_type must be a string of 1-128 bytes";
    else if (d != NULL && !json_is_object(d))
        why = "data must be a table with string keys";
    sq_plugin_payment_move_t mv;
    json_t *pay = json_object_get(out, "payment");
    if (why == NULL && pay != NULL)
        why = payment_move(req->arena, pay, &mv);
    json_t *tr = json_object_get(out, "tracking"); /* a carrier's tracking event (core/label.h) */
    if (why == NULL && tr != NULL && pay != NULL)
        why = "an answer carries payment or tracking, not both";
    if (why == NULL && tr != NULL) {
        json_t *tp = json_object_get(tr, "provider");
        if (!json_is_object(tr) || !short_str(json_object_get(tr, "tracking_number"), 128))
            why = "tracking must be a table with tracking_number (1-128 bytes)";
        else if (!sq_tracking_status_valid(json_string_value(json_object_get(tr, "status"))))
            why = "tracking.status must be a tracking status of the shipping contract";
        else if (!short_str(tp, 32))
            why = "tracking.provider must be a string of 1-32 bytes";
        else {
            char owner[64]; /* only the plugin that provides shipping:<provider> may move its shipments */
            const char *who = sq_plugin_provider_of("shipping", json_string_value(tp), owner, sizeof(owner));
            if (who == NULL || strcmp(who, h->plugin) != 0)
                why = "tracking.provider must be a shipping provider id of this plugin";
        }
    }
    if (why != NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_plugin_reject(h->plugin, "handle_webhook", why, &e);
        sq_req_fail_with(req, &e);
        return;
    }
    h->event_id = sq_arena_strdup(req->arena, json_string_value(id));
    size_t len;
    const char *dj = d != NULL ? sq_json_dump(req->arena, d, &len) : NULL;
    if (tr != NULL) { /* core applies the tracking once, with the event id's record (core/label.h) */
        sq_tracking_apply(&req->cx, h->plugin, h->event_id, type ? sq_arena_strdup(req->arena, json_string_value(type)) : NULL, dj,
                          sq_arena_strdup(req->arena, json_string_value(json_object_get(tr, "provider"))),
                          sq_arena_strdup(req->arena, json_string_value(json_object_get(tr, "tracking_number"))),
                          sq_arena_strdup(req->arena, json_string_value(json_object_get(tr, "status"))), on_recorded, h);
        return;
    }
    if (pay != NULL) { /* core applies the move once, with the event id's record (only to the plugin's own providers) */
        json_t *ids = sq_json_own(req->arena, sq_plugin_provides(h->plugin, "payment"));
        sq_plugin_webhook_record_payment(&req->cx, h->plugin, h->event_id,
                                         type ? sq_arena_strdup(req->arena, json_string_value(type)) : NULL, dj,
                                         sq_json_dump(req->arena, ids, &len), &mv, on_recorded, h);
        return;
    }
    sq_plugin_webhook_record(&req->cx, h->plugin, h->event_id, type ? sq_arena_strdup(req->arena, json_string_value(type)) : NULL,
                             dj, on_recorded, h);
}

void sq_h_hook_plugin(sq_req_t *req)
{
    const char *plugin = sq_req_param(req, "plugin"), *topic = sq_req_param(req, "topic");
    bool with_topic = strchr(req->route->path + strlen("/v1/hooks/{plugin}"), '{') != NULL;
    if (!with_topic)
        topic = NULL;
    bool topic_ok = topic == NULL || (strlen(topic) >= 1 && strlen(topic) <= 128);
    for (const char *p = topic; topic_ok && p && *p; p++)
        topic_ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.';
    if (req->h2o == NULL)
        return;
    if (sq_req_body(req) == NULL) { /* JSON, as the route's content type says (the plugin still gets the raw bytes) */
        sq_req_fail(req);
        return;
    }
    if (plugin == NULL || !topic_ok || !sq_plugin_enabled(plugin)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "No enabled plugin takes callbacks here.");
        return;
    }
    /* the raw body and headers, as the provider sent them (signatures cover the exact bytes) */
    json_t *headers = json_object();
    for (size_t i = 0; i < req->h2o->headers.size; i++) {
        const h2o_header_t *hd = &req->h2o->headers.entries[i];
        char *name = sq_arena_strndup(req->arena, hd->name->base, hd->name->len);
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        json_t *v = json_stringn(hd->value.base, hd->value.len), *prev = json_object_get(headers, name);
        if (v == NULL)
            continue; /* not UTF-8: no provider signs such a header */
        if (prev != NULL) {
            char *joined = sq_arena_printf(req->arena, "%s, %s", json_string_value(prev), json_string_value(v));
            json_decref(v);
            v = json_string(joined);
        }
        json_object_set_new(headers, name, v);
    }
    json_t *body = json_stringn(req->h2o->entity.base ? req->h2o->entity.base : "", req->h2o->entity.base ? req->h2o->entity.len : 0);
    if (body == NULL) {
        json_decref(headers);
        sq_req_fail_code(req, SQ_E_BAD_REQUEST, "The body is not UTF-8.");
        return;
    }
    json_t *in = json_pack("{s:s, s:s?, s:o, s:o}", "method", "POST", "topic", topic, "headers", headers, "body", body);
    hook_t *h = SQ_NEW(req->arena, hook_t);
    *h = (hook_t){req, sq_arena_strdup(req->arena, plugin), NULL};
    sq_plugin_call_cx(&req->cx, h->plugin, "handle_webhook", in, false, on_verified, h);
    json_decref(in);
}
