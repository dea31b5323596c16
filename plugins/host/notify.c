/* notify.c: two bridges of the plugin host. Event subscribers: a plugin providing events:<id> lists the event types it
 * wants in its manifest ("events"); the dispatcher publishes them (souq_event_targets) and hands each delivery to the
 * plugin's on_event. Notification providers: core's notification interface (core/hooks.h) for a plugin providing
 * notification:email or notification:sms, whose notification_send gets the message. */
#include <stdio.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/hooks.h"
#include "plugins/host/internal.h"
#include "plugins/host/notify.h"

/* ---- the manifest's "events" ---------------------------------------------------------------------------------- */

/* an event type (order.placed), a prefix pattern (order.*) or * : the webhook rules (souq_event_matches) */
static bool valid_pattern(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 128)
        return false;
    if (strcmp(p, "*") == 0)
        return true;
    if (!(p[0] >= 'a' && p[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                  (c == '*' && i == n - 1 && i > 0 && p[i - 1] == '.');
        if (!ok || (c == '.' && (i == n - 1 || p[i + 1] == '.')))
            return false;
    }
    return true;
}

int sq_pdef_load_events(sq_pdef_t *d, json_t *events, char *err, size_t errlen)
{
    bool subscriber = false;
    for (int i = 0; i < d->nprovides; i++)
        subscriber |= strncmp(d->provides[i], "events:", 7) == 0;
    if (events == NULL) /* an events:* plugin without "events" loads but subscribes to nothing (SDK 1.0 manifests) */
        return 0;
    if (!subscriber)
        return snprintf(err, errlen, "manifest.json: \"events\" needs an events:<id> entry in provides (and an on_event function)"),
               -1;
    if (!json_is_array(events) || json_array_size(events) == 0 || json_array_size(events) > 100)
        return snprintf(err, errlen, "manifest.json: events must be an array of 1-100 event types or patterns"), -1;
    size_t i;
    json_t *v;
    json_array_foreach(events, i, v)
    {
        if (!json_is_string(v) || !valid_pattern(json_string_value(v)))
            return snprintf(err, errlen,
                            "manifest.json: events[%zu] must be an event type (order.placed), a prefix pattern (order.*) or *", i),
                   -1;
    }
    d->events = json_incref(events);
    return 0;
}

static const char *const channel_names[] = {"email", "sms"};

/* ---- subscriptions ------------------------------------------------------------------------------------------------ */

uint64_t sq_plugin_registry_generation(void)
{
    return sq_preg_generation();
}

char *sq_plugin_subscriptions_json(sq_arena_t *a, uint64_t *generation)
{
    sq_preg_t *r = sq_preg_acquire();
    json_t *out = json_array();
    *generation = r != NULL ? r->generation : 0;
    for (int i = 0; r != NULL && i < r->n; i++) {
        const sq_pdef_t *d = r->defs[i];
        json_t *channels = json_array();
        for (size_t c = 0; c < SQ_ARRAY_LEN(channel_names); c++)
            for (int j = 0; j < d->nprovides; j++)
                if (strncmp(d->provides[j], "notification:", 13) == 0 && strcmp(d->provides[j] + 13, channel_names[c]) == 0) {
                    json_array_append_new(channels, json_string(channel_names[c]));
                    break;
                }
        if (d->events == NULL && json_array_size(channels) == 0) {
            json_decref(channels);
            continue;
        }
        json_t *e = json_pack("{s:s, s:s, s:b}", "plugin", d->name, "version", d->version, "enabled", d->enabled);
        if (d->events != NULL)
            json_object_set(e, "event_types", d->events);
        if (json_array_size(channels) > 0)
            json_object_set(e, "notification_channels", channels);
        json_decref(channels);
        json_array_append_new(out, e);
    }
    sq_preg_unref(r);
    size_t len;
    return sq_json_dump(a, sq_json_own(a, out), &len);
}

int sq_plugin_subscriber_state(const char *name)
{
    sq_preg_t *r = sq_preg_acquire();
    int st = -1;
    for (int i = 0; r != NULL && i < r->n; i++)
        if (strcmp(r->defs[i]->name, name) == 0)
            st = r->defs[i]->enabled && r->defs[i]->events != NULL ? 1 : 0;
    sq_preg_unref(r);
    return st;
}

typedef struct {
    sq_plugin_event_cb cb;
    void *data;
} ev_t;

static void on_event_done(json_t *out, const sq_err_t *err, void *data)
{
    ev_t *e = data;
    (void)out; /* any answer is success */
    if (err != NULL) {
        e->cb(SQ_DELIVERY_RETRY, sq_err_slug(err->code), e->data);
        return;
    }
    e->cb(SQ_DELIVERY_OK, NULL, e->data);
}

void sq_plugin_deliver_event(sq_ctx_t *cx, const char *plugin, const char *body, sq_plugin_event_cb cb, void *data)
{
    int st = sq_plugin_subscriber_state(plugin);
    if (st <= 0) { /* removed, disabled or unconfigured: its subscription is withdrawn at the next publication */
        cb(SQ_DELIVERY_CANCEL, st < 0 ? "plugin not loaded" : "plugin disabled", data);
        return;
    }
    json_error_t je;
    json_t *event = body != NULL ? json_loads(body, 0, &je) : NULL;
    if (!json_is_object(event)) {
        json_decref(event);
        cb(SQ_DELIVERY_FAIL, "event body unreadable", data);
        return;
    }
    ev_t *e = SQ_NEW(cx->arena, ev_t);
    *e = (ev_t){cb, data};
    sq_plugin_call_cx(cx, plugin, "on_event", event, true, on_event_done, e);
    json_decref(event);
}

/* ---- notification providers ------------------------------------------------------------------------------------------ */


typedef struct {
    sq_ctx_t *cx;
    const char *plugin;
    sq_notify_cb cb;
    void *data;
} call_t;

static void on_sent(json_t *out, const sq_err_t *err, void *data)
{
    call_t *c = data;
    if (err != NULL) {
        c->cb(NULL, err, c->data);
        return;
    }
    sq_arena_t *a = c->cx->arena;
    const char *st = json_string_value(json_object_get(out, "status"));
    sq_err_t e;
    sq_err_clear(&e);
    if (st != NULL && strcmp(st, "sent") == 0 && sq_plugin_short_string(json_object_get(out, "message_id"), 255)) {
        sq_notify_res_t res = {c->plugin, sq_arena_strdup(a, json_string_value(json_object_get(out, "message_id")))};
        c->cb(&res, NULL, c->data);
        return;
    }
    if (st != NULL && strcmp(st, "rejected") == 0 && sq_plugin_short_string(json_object_get(out, "code"), 64)) {
        /* refused for good: the plugin's code and message go to the notification log (staff read it), cut short */
        const char *msg = json_string_value(json_object_get(out, "message"));
        sq_err_set(&e, SQ_E_VALIDATION, "%s: %.150s", json_string_value(json_object_get(out, "code")), msg ? msg : "rejected");
        c->cb(NULL, &e, c->data);
        return;
    }
    sq_plugin_reject(c->plugin, "notification_send",
                     "the answer must be {status = \"sent\", message_id = <1-255 bytes>} or {status = \"rejected\", code = <1-64 "
                     "bytes>, message = ...}",
                     &e);
    c->cb(NULL, &e, c->data);
}

/* The enabled plugin of highest priority providing notification:<ch> and serving the sales channel (NULL: any), its
 * name copied into buf; NULL when none. */
static const char *provider_for(sq_notify_channel_t ch, const char *sales_channel_id, char *buf, size_t len)
{
    char want[64];
    snprintf(want, sizeof(want), "notification:%s", channel_names[ch]);
    sq_preg_t *r = sq_preg_acquire();
    const sq_pdef_t *best = NULL;
    for (int i = 0; r != NULL && i < r->n; i++) {
        const sq_pdef_t *d = r->defs[i];
        if (!d->enabled || (best != NULL && d->priority <= best->priority))
            continue;
        for (int j = 0; j < d->nprovides; j++)
            if (strcmp(d->provides[j], want) == 0 &&
                (sales_channel_id == NULL || sq_plugin_serves_channel(d->name, sales_channel_id)))
                best = d;
    }
    const char *out = NULL;
    if (best != NULL) {
        snprintf(buf, len, "%s", best->name);
        out = buf;
    }
    sq_preg_unref(r);
    return out;
}

static void send_on(sq_notify_channel_t ch, sq_ctx_t *cx, const sq_notify_req_t *req, sq_notify_cb cb, void *data)
{
    char name[64];
    sq_err_t e;
    sq_err_clear(&e);
    if (provider_for(ch, req->sales_channel_id, name, sizeof(name)) == NULL) {
        sq_err_set(&e, SQ_E_UNAVAILABLE, "No plugin provides notification:%s now; nothing was sent.", channel_names[ch]);
        cb(NULL, &e, data);
        return;
    }
    json_t *in = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "channel", channel_names[ch], "to", req->to,
                           "subject", req->subject, "text", req->text, "html", req->html, "template", req->template_name,
                           "idempotency_key", req->idempotency_key, "tag", req->tag);
    if (req->template_data != NULL) {
        json_t *d = json_loads(req->template_data, 0, NULL);
        if (json_is_object(d))
            json_object_set_new(in, "template_data", d);
        else
            json_decref(d);
    }
    call_t *c = SQ_NEW(cx->arena, call_t);
    *c = (call_t){cx, sq_arena_strdup(cx->arena, name), cb, data};
    sq_plugin_call_cx(cx, name, "notification_send", in, true, on_sent, c);
    json_decref(in);
}

static void send_email(sq_ctx_t *cx, const sq_notify_req_t *req, sq_notify_cb cb, void *data)
{
    send_on(SQ_NOTIFY_EMAIL, cx, req, cb, data);
}

static void send_sms(sq_ctx_t *cx, const sq_notify_req_t *req, sq_notify_cb cb, void *data)
{
    send_on(SQ_NOTIFY_SMS, cx, req, cb, data);
}

static const sq_notification_provider_t providers[] = {{"email", send_email}, {"sms", send_sms}};

static const sq_notification_provider_t *lookup(sq_notify_channel_t ch, const char *sales_channel_id)
{
    char name[64];
    if ((int)ch < 0 || (size_t)ch >= SQ_ARRAY_LEN(providers) || provider_for(ch, sales_channel_id, name, sizeof(name)) == NULL)
        return NULL;
    return &providers[ch];
}

static const sq_notification_plugins_t hooks = {lookup};

void sq_notification_plugins_install(void)
{
    __atomic_store_n(&sq_notification_plugins, &hooks, __ATOMIC_RELEASE);
}
