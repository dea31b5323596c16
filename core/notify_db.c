/* notify_db.c: SQL of order notifications (the dispatcher's notification target, the log, the template settings)
 * and of plugin subscriptions; the logic is in SQL functions of migrations/0029_notifications.sql and the rules
 * in notify.c. */
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/notify.h"

SQ_STMT(notification_prepare, "SELECT souq_notification_prepare($1, $2, $3::int)::text");
SQ_STMT(notification_finish, "SELECT souq_notification_finish($1, $2, $3, $4, $5, $6)");
SQ_STMT_RO(notifications_list, "SELECT souq_notification_json(n), n.id FROM notifications n WHERE ($1::text IS NULL OR n.id < $1) "
                               "AND ($3::text IS NULL OR n.order_id = $3) AND ($4::text IS NULL OR n.kind = $4) "
                               "AND ($5::text IS NULL OR n.state = $5) ORDER BY n.id DESC LIMIT $2");
SQ_STMT_RO(settings_all, "SELECT kind, enabled, subject, text_body, html_body, updated_at FROM notification_settings");
SQ_STMT(settings_save, "SELECT kind, enabled, subject, text_body, html_body, updated_at "
                       "FROM souq_notification_settings_save($1, $2::jsonb)");
SQ_STMT(plugin_delivery_create, "SELECT souq_plugin_delivery_create($1, $2, $3::int)");
SQ_STMT(subscriptions_sync, "SELECT souq_plugin_subscriptions_sync($1::jsonb, $2)");
SQ_STMT_RO(plugin_deliveries, "SELECT (souq_delivery_json(d)::jsonb || jsonb_build_object('plugin', d.target_id))::text, d.id "
                              "FROM event_deliveries d WHERE d.target_kind = 'plugin' AND d.target_id = $3 "
                              "AND ($1::text IS NULL OR d.id < $1) AND ($4::text IS NULL OR d.state = $4) "
                              "ORDER BY d.id DESC LIMIT $2");

const char *const sq_notification_states[] = {"pending", "sent", "failed", "skipped", NULL};

const sq_notification_plugins_t *sq_notification_plugins;

const sq_notification_provider_t *sq_notification_provider(sq_notify_channel_t channel, const char *sales_channel_id)
{
    const sq_notification_plugins_t *pl = __atomic_load_n(&sq_notification_plugins, __ATOMIC_ACQUIRE);
    return pl != NULL ? pl->lookup(channel, sales_channel_id) : NULL;
}

/* ---- one delivery -------------------------------------------------------------------------------------------- */

typedef struct {
    sq_ctx_t *cx;
    const char *kind, *nid, *subject, *reset_url;
    bool last;
    sq_delivery_outcome_t outcome;
    const char *error;
    sq_notify_done_cb cb;
    void *data;
} dl_t;

static void on_recorded(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    dl_t *d = data;
    (void)rows;
    if (err != NULL) {
        /* the send happened (or not) but the log could not say so: retry; a sent row is not sent again only when
         * recorded, so this is the one window where a message may go out twice (same idempotency key) */
        sq_log(SQ_LOG_WARN, "notify", "recording notification %s failed: %s (%s)", d->nid, err->detail, err->internal);
        d->cb(SQ_DELIVERY_RETRY, "recording the notification failed", d->data);
        return;
    }
    d->cb(d->outcome, d->error, d->data);
}

static void record(dl_t *d, const char *state, const char *provider, const char *message_id, const char *error)
{
    sq_arena_t *a = d->cx->arena;
    sq_db_query(d->cx->db, a, &notification_finish, 6, sq_db_params(a, 6, d->nid, state, provider, message_id, error, d->subject),
                on_recorded, d);
}

static void on_sent(const sq_notify_res_t *res, const sq_err_t *err, void *data)
{
    dl_t *d = data;
    if (err == NULL) {
        d->outcome = SQ_DELIVERY_OK;
        record(d, "sent", res->provider, res->message_id, NULL);
        return;
    }
    const char *why = sq_arena_strdup(d->cx->arena, err->detail);
    d->error = sq_err_slug(err->code);  /* the delivery's attempt log: the kind of failure; the notification log: why */
    if (err->code == SQ_E_VALIDATION) { /* refused for good */
        d->error = "rejected";
        d->outcome = SQ_DELIVERY_FAIL;
        record(d, "failed", NULL, NULL, why);
        return;
    }
    d->outcome = SQ_DELIVERY_RETRY;
    record(d, d->last ? "failed" : "pending", NULL, NULL, why);
}

static const char *pick(const json_t *p, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(p, key));
    return v != NULL ? v : def;
}

static void on_prepared(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    dl_t *d = data;
    sq_arena_t *a = d->cx->arena;
    if (err != NULL) {
        d->cb(SQ_DELIVERY_RETRY, sq_arena_printf(a, "preparing the notification failed: %s", err->detail), d->data);
        return;
    }
    const char *text = sq_rows_count(rows) > 0 ? sq_rows_text(rows, 0, 0) : NULL;
    sq_err_t perr;
    sq_err_clear(&perr);
    json_t *p = text != NULL ? sq_json_parse(a, text, strlen(text), &perr) : NULL;
    const char *state = pick(p, "state", "skipped");
    if (strcmp(state, "capped") == 0) { /* the hourly cap: wait like a temporary failure */
        d->nid = pick(p, "notification_id", NULL);
        d->outcome = SQ_DELIVERY_RETRY;
        d->error = "notification_cap";
        record(d, d->last ? "failed" : "pending", NULL, NULL, pick(p, "error", "hourly cap reached"));
        return;
    }
    if (strcmp(state, "busy") == 0) { /* a concurrent delivery of the same event is sending it: its result counts */
        d->cb(SQ_DELIVERY_RETRY, "notification_busy", d->data);
        return;
    }
    if (strcmp(state, "pending") != 0) { /* sent, failed or skipped before (or now): nothing to send */
        d->cb(SQ_DELIVERY_OK, NULL, d->data);
        return;
    }
    d->nid = pick(p, "notification_id", NULL);
    const sq_notify_kind_t *k = sq_notify_kind(d->kind);
    if (k == NULL || d->nid == NULL) {
        d->cb(SQ_DELIVERY_FAIL, "unknown notification kind", d->data);
        return;
    }
    json_t *pdata = json_object_get(p, "data"), *vars = sq_notify_vars(a, pdata);
    if (strcmp(k->kind, "password_reset") == 0) {
        const char *token = json_string_value(json_object_get(pdata, "token"));
        if (d->reset_url == NULL || d->reset_url[0] == '\0' || token == NULL) {
            d->outcome = SQ_DELIVERY_OK;
            record(d, "skipped", NULL, NULL, "password_reset_url is not configured: no link to send");
            return;
        }
        json_object_set_new(vars, "reset.url", json_string(sq_notify_reset_url(a, d->reset_url, token)));
    }
    d->subject = sq_notify_render(a, pick(p, "subject", k->subject), vars, false, true);
    sq_notify_req_t req = {.channel = SQ_NOTIFY_EMAIL,
                           .to = pick(p, "recipient", NULL),
                           .subject = d->subject,
                           .text = sq_notify_render(a, pick(p, "text", k->text), vars, false, false),
                           .html = sq_notify_render(a, pick(p, "html", k->html), vars, true, false),
                           .idempotency_key = pick(p, "idempotency_key", NULL),
                           .tag = k->kind,
                           .sales_channel_id = pick(p, "sales_channel_id", NULL)};
    const sq_notification_provider_t *prov = sq_notification_provider(SQ_NOTIFY_EMAIL, req.sales_channel_id);
    if (prov == NULL) {
        d->outcome = SQ_DELIVERY_OK;
        d->error = NULL;
        record(d, "skipped", NULL, NULL,
               "no notification provider for email in the order's sales channel (enable a plugin providing notification:email)");
        return;
    }
    prov->send(d->cx, &req, on_sent, d);
}

void sq_notification_deliver(sq_ctx_t *cx, const char *event_id, const char *kind, bool last_attempt,
                             const sq_notify_settings_t *settings, sq_notify_done_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    dl_t *d = SQ_NEW(a, dl_t);
    *d = (dl_t){.cx = cx, .kind = kind, .last = last_attempt, .cb = cb, .data = data};
    d->reset_url = settings->password_reset_url ? sq_arena_strdup(a, settings->password_reset_url) : NULL;
    sq_db_query(cx->db, a, &notification_prepare, 3, sq_db_params(a, 3, event_id, kind, sq_db_int(a, settings->max_per_hour)),
                on_prepared, d);
}

/* ---- admin ------------------------------------------------------------------------------------------------------ */

void sq_notifications_list(sq_ctx_t *cx, const sq_page_t *page, const char *order_id, const char *kind, const char *state,
                           sq_list_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_list(cx->db, a, &notifications_list, 5,
               sq_db_params(a, 5, page->after, sq_db_int(a, page->limit + 1), order_id, kind, state), page->limit, cb, data);
}

/* A kind's settings as the API shows them (columns: kind, enabled, subject, text_body, html_body, updated_at). */
static json_t *template_json(const sq_notify_kind_t *k, sq_rows_t *rows, int r)
{
    const char *subject = sq_rows_text(rows, r, 2), *text = sq_rows_text(rows, r, 3), *html = sq_rows_text(rows, r, 4);
    json_t *ph = json_array();
    for (int i = 0; k->placeholders[i] != NULL; i++)
        json_array_append_new(ph, json_string(k->placeholders[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:{s:b, s:b, s:b}, s:o, s:s}", "object", "notification_template",
                     "kind", k->kind, "event_type", k->event_type, "description", k->description, "enabled",
                     sq_rows_bool(rows, r, 1), "subject", subject ? subject : k->subject, "text", text ? text : k->text, "html",
                     html ? html : k->html, "customized", "subject", subject != NULL, "text", text != NULL, "html", html != NULL,
                     "placeholders", ph, "updated_at", sq_rows_text(rows, r, 5));
}

typedef struct {
    sq_arena_t *a;
    const char *kind; /* NULL: all */
    sq_json_cb cb;
    void *data;
} tq_t;

static void on_settings(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    tq_t *q = data;
    if (err != NULL) {
        q->cb(NULL, err, q->data);
        return;
    }
    json_t *list = json_array();
    json_t *one = NULL;
    for (const sq_notify_kind_t *k = sq_notify_kinds; k->kind != NULL; k++)
        for (int r = 0; r < sq_rows_count(rows); r++)
            if (sq_rows_text(rows, r, 0) != NULL && strcmp(sq_rows_text(rows, r, 0), k->kind) == 0) {
                if (q->kind == NULL)
                    json_array_append_new(list, template_json(k, rows, r));
                else if (strcmp(q->kind, k->kind) == 0)
                    one = template_json(k, rows, r);
            }
    json_t *out =
        q->kind == NULL ? json_pack("{s:s, s:o, s:b, s:n}", "object", "list", "data", list, "has_more", 0, "next_cursor") : one;
    if (q->kind != NULL)
        json_decref(list);
    if (out == NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The notification kind does not exist.");
        q->cb(NULL, &e, q->data);
        return;
    }
    size_t len;
    const char *text = sq_json_dump(q->a, sq_json_own(q->a, out), &len);
    q->cb(text, NULL, q->data);
}

void sq_notification_templates(sq_ctx_t *cx, sq_json_cb cb, void *data)
{
    tq_t *q = SQ_NEW(cx->arena, tq_t);
    *q = (tq_t){cx->arena, NULL, cb, data};
    sq_db_query(cx->db, cx->arena, &settings_all, 0, NULL, on_settings, q);
}

void sq_notification_template_get(sq_ctx_t *cx, const char *kind, sq_json_cb cb, void *data)
{
    tq_t *q = SQ_NEW(cx->arena, tq_t);
    *q = (tq_t){cx->arena, kind, cb, data};
    if (sq_notify_kind(kind) == NULL) {
        on_settings(NULL, NULL, q);
        return;
    }
    sq_db_query(cx->db, cx->arena, &settings_all, 0, NULL, on_settings, q);
}

#define TF(name, flags, max) SQ_VFIELD(name, SQ_FT_STR, SQ_F_NULLABLE | (flags), 1, max, NULL, NULL, NULL)
const sq_field_t sq_notification_template_fields[] = {
    SQ_VFIELD("enabled", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    TF("subject", 0, 500),
    TF("text", SQ_F_MULTILINE, 20000),
    TF("html", SQ_F_MULTILINE, 100000),
    {NULL},
};

void sq_notification_template_update(sq_ctx_t *cx, const char *kind, const json_t *body, sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_err_t e;
    sq_err_clear(&e);
    const sq_notify_kind_t *k = sq_notify_kind(kind);
    if (k == NULL) {
        sq_err_set(&e, SQ_E_NOT_FOUND, "The notification kind does not exist.");
        cb(NULL, &e, data);
        return;
    }
    static const char *const fields[] = {"subject", "text", "html", NULL};
    for (int i = 0; fields[i] != NULL; i++) {
        const char *v = json_string_value(json_object_get(body, fields[i])), *bad, *name;
        if (v != NULL && sq_notify_check(a, k, v, &bad, &name) != 0) {
            sq_err_set(&e, SQ_E_VALIDATION, "Some fields are invalid.");
            if (name[0] != '\0')
                sq_err_field(&e, sq_arena_printf(a, "/%s", fields[i]), "unknown_placeholder",
                             "%s {{%s}} is not one of this kind's placeholders.", bad, name);
            else
                sq_err_field(&e, sq_arena_printf(a, "/%s", fields[i]), "invalid_format", "%s", bad);
        }
    }
    if (e.code != SQ_OK) {
        cb(NULL, &e, data);
        return;
    }
    tq_t *q = SQ_NEW(a, tq_t);
    *q = (tq_t){a, kind, cb, data};
    size_t len;
    sq_db_query(cx->db, a, &settings_save, 2, sq_db_params(a, 2, kind, sq_json_dump(a, body, &len)), on_settings, q);
}

/* ---- plugin subscribers ------------------------------------------------------------------------------------------ */

typedef struct {
    sq_done_cb cb;
    void *data;
} sync_t;

static void on_synced(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    sync_t *s = data;
    (void)rows;
    s->cb(err, s->data);
}

void sq_plugin_subscriptions_sync(sq_ctx_t *cx, const char *subs_json, const char *node, sq_done_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sync_t *s = SQ_NEW(a, sync_t);
    *s = (sync_t){cb, data};
    sq_db_query(cx->db, a, &subscriptions_sync, 2, sq_db_params(a, 2, subs_json, node), on_synced, s);
}

const sq_field_t sq_plugin_replay_fields[] = {
    SQ_VFIELD("event_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    {NULL},
};

void sq_plugin_delivery_create(sq_ctx_t *cx, const char *plugin, const char *event_id, int max_attempts, sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &plugin_delivery_create, 3, sq_db_params(a, 3, event_id, plugin, sq_db_int(a, max_attempts)), cb, data);
}

void sq_plugin_deliveries(sq_ctx_t *cx, const char *plugin, const sq_page_t *page, const char *state, sq_list_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_list(cx->db, a, &plugin_deliveries, 4, sq_db_params(a, 4, page->after, sq_db_int(a, page->limit + 1), plugin, state),
               page->limit, cb, data);
}
