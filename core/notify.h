/* notify.h: order notifications (confirmation, shipped, delivered, refund issued). Each kind is a target of the event
 * dispatcher (migration 0029): a delivery of order.placed to "order_confirmation" renders the kind's template (the
 * store's override or the built-in default) with the order's data and sends it through the notification provider
 * (core/hooks.h) to the order's email, once per (event, kind). The rules (kinds, defaults, placeholders, rendering)
 * are here and unit-tested; the SQL is in notify_db.c and migrations/0029_notifications.sql. */
#ifndef SQ_NOTIFY_H
#define SQ_NOTIFY_H

#include "core/base/json.h"
#include "core/ctx.h"
#include "core/events.h"
#include "core/hooks.h"

/* ---- rules --------------------------------------------------------------------------------------------------- */

/** A notification kind: the event that triggers it, its built-in templates and the placeholders they may use. */
typedef struct {
    const char *kind;       /* "order_confirmation" */
    const char *event_type; /* "order.placed" */
    const char *description;
    const char *subject, *text, *html; /* the built-in defaults */
    const char *const *placeholders;   /* NULL-terminated: the names {{name}} may use in this kind's templates */
} sq_notify_kind_t;

/** The kinds, terminated by {NULL}. */
extern const sq_notify_kind_t sq_notify_kinds[];
/** The kind of that name, or NULL. */
const sq_notify_kind_t *sq_notify_kind(const char *kind);

/** Renders tmpl: each {{name}} (spaces inside the braces allowed) becomes the string value of vars[name], HTML-escaped
 * when html (& < > " '), with line breaks turned into spaces when oneline (subjects); a name vars lacks becomes "".
 * Everything else is copied as is. In the arena. */
char *sq_notify_render(sq_arena_t *a, const char *tmpl, const json_t *vars, bool html, bool oneline);

/** Checks a template against a kind's placeholders: 0, or -1 with *bad set to a static reason and *name (arena) to
 * the offending placeholder ("" for an unclosed {{). */
int sq_notify_check(sq_arena_t *a, const sq_notify_kind_t *k, const char *tmpl, const char **bad, const char **name);

/** The template variables of a prepared notification's data (migration 0029, souq_notification_prepare: order,
 * totals in minor units with the currency's minor_units, shipment and refund fields): an object of strings, money
 * formatted as "12.50 EUR", the lines as "2 x Title (Variant)" one per line, shipment.* of the first parcel and
 * shipment.all with every parcel ("DHL JD014 https://...", one per line); links other than http(s) are left out.
 * A new reference tied to the arena. */
json_t *sq_notify_vars(sq_arena_t *a, const json_t *data);

/** The password-reset link: url_template (password_reset_url) with each {token} replaced by the percent-encoded
 * token. In the arena. */
char *sq_notify_reset_url(sq_arena_t *a, const char *url_template, const char *token);

/* ---- the dispatcher's target --------------------------------------------------------------------------------- */

/** Settings a delivery reads (the dispatcher fills them from the node's configuration). */
typedef struct {
    int max_per_hour;               /* the hourly spending cap (0: none) */
    const char *password_reset_url; /* the storefront's reset page with {token}, or "" */
} sq_notify_settings_t;

/** How a notification delivery ended: outcome for souq_delivery_finish, error (arena or static) for its log. */
typedef void (*sq_notify_done_cb)(sq_delivery_outcome_t outcome, const char *error, void *data);

/** Performs one delivery of event_id to the notification kind: prepares the log row (nothing to do when it was
 * already sent, failed or skipped), renders, sends through the provider and records the result. No provider for the
 * channel: the row is skipped ("no notification provider"). A permanent refusal fails the row and the delivery; other
 * errors leave the row pending and ask for a retry (the dispatcher's schedule); on the last attempt the row fails.
 * max_per_hour > 0 is a spending cap: once that many notifications were sent in the last hour, the row waits
 * (pending, "hourly cap reached") and the delivery is retried like a temporary failure. */
void sq_notification_deliver(sq_ctx_t *cx, const char *event_id, const char *kind, bool last_attempt,
                             const sq_notify_settings_t *settings, sq_notify_done_cb cb, void *data);

/* ---- admin ----------------------------------------------------------------------------------------------------- */

/** The notification log, newest first; order_id, kind and state filter (NULL: all). */
void sq_notifications_list(sq_ctx_t *cx, const sq_page_t *page, const char *order_id, const char *kind, const char *state,
                           sq_list_cb cb, void *data);
/** The states of the log, NULL-terminated. */
extern const char *const sq_notification_states[];
/** The kinds' names, NULL-terminated. */
extern const char *const sq_notify_kind_names[];

/** Every kind's settings ({object: list, data: [...]}, has_more false): enabled, the effective templates, which of
 * them the store customized, the placeholders. */
void sq_notification_templates(sq_ctx_t *cx, sq_json_cb cb, void *data);
/** One kind's settings; SQ_E_NOT_FOUND for an unknown kind. */
void sq_notification_template_get(sq_ctx_t *cx, const char *kind, sq_json_cb cb, void *data);
/** Body rules of PATCH /v1/admin/notification-templates/{kind}. */
extern const sq_field_t sq_notification_template_fields[];
/** Changes a kind's settings: body is the validated request (enabled, subject, text, html; null resets a template to
 * the default). Placeholders are checked against the kind (422 unknown_placeholder at the field). */
void sq_notification_template_update(sq_ctx_t *cx, const char *kind, const json_t *body, sq_json_cb cb, void *data);

/* ---- plugin subscribers ------------------------------------------------------------------------------------------ */

/** Publishes a node's plugin subscriptions and notification providers (JSON array of {plugin, version, enabled,
 * event_types?, notification_channels?}) as the set the dispatcher fans events out to: notification kinds are
 * fanned out only while an enabled provider of email is published, and only for events that occurred since it was
 * enabled (migration 0041). */
void sq_plugin_subscriptions_sync(sq_ctx_t *cx, const char *subs_json, const char *node, sq_done_cb cb, void *data);
/** A plugin's deliveries, newest first; state filters (NULL: all). Each is an EventDelivery with "plugin". */
void sq_plugin_deliveries(sq_ctx_t *cx, const char *plugin, const sq_page_t *page, const char *state, sq_list_cb cb, void *data);
/** Body rules of POST /v1/admin/plugins/{name}/deliveries ({event_id}). */
extern const sq_field_t sq_plugin_replay_fields[];
/** A new delivery (trigger replay) of an existing event to a plugin subscriber: JSON of the delivery; 422 at
 * /event_id when the event does not exist. */
void sq_plugin_delivery_create(sq_ctx_t *cx, const char *plugin, const char *event_id, int max_attempts, sq_json_cb cb, void *data);

#endif
