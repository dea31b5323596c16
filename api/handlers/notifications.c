/* notifications.c: order notifications in the admin API (core/notify.h): the notification log (per order through the
 * order_id filter; orders:read), the kinds' settings and templates (settings:read / settings:write), and the delivery
 * log of a plugin event subscriber (plugins:read). */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/notify.h"
#include "plugins/host/host.h"
#include "plugins/host/notify.h"

static bool order_id_valid(const char *v)
{
    return sq_id_valid("order", v);
}

static const char *const log_filters[] = {"order_id", "kind", "state", NULL};
static const sq_filter_rule_t log_rules[] = {{"order_id", 64, NULL, order_id_valid},
                                             {"kind", 32, sq_notify_kind_names, NULL},
                                             {"state", 16, sq_notification_states, NULL},
                                             {NULL}};
static const sq_resource_t log_q = {.filters = log_filters, .filter_rules = log_rules};

void sq_h_notification_list(sq_req_t *req)
{
    sq_page_t page;
    if (sq_req_page(req, &page) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *values[3] = {sq_req_query(req, "order_id"), sq_req_query(req, "kind"), sq_req_query(req, "state")};
    if (sq_resource_check_filters(&log_q, values, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_notifications_list(&req->cx, &page, values[0], values[1], values[2], sq_req_on_list, req);
}

void sq_h_notification_template_list(sq_req_t *req)
{
    sq_notification_templates(&req->cx, sq_req_on_json_200, req);
}

void sq_h_notification_template_get(sq_req_t *req)
{
    sq_notification_template_get(&req->cx, sq_req_param(req, "kind"), sq_req_on_json_200, req);
}

void sq_h_notification_template_update(sq_req_t *req)
{
    /* the body first (as every body route): a malformed one is 400 whatever the kind */
    json_t *b = sq_req_body(req);
    union {
        char bytes[64];
        void *align;
    } scratch; /* the fields only validate (SQ_VFIELD: offset 0), but the decoder writes each value somewhere */
    if (b == NULL || sq_json_decode(req->arena, b, sq_notification_template_fields, &scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_notification_template_update(&req->cx, sq_req_param(req, "kind"), b, sq_req_on_json_200, req);
}

static const char *const delivery_states[] = {"available", "running", "retryable", "completed", "discarded", "canceled", NULL};
static const char *const delivery_filters[] = {"state", NULL};
static const sq_filter_rule_t delivery_rules[] = {{"state", 16, delivery_states, NULL}, {NULL}};
static const sq_resource_t delivery_q = {.filters = delivery_filters, .filter_rules = delivery_rules};

void sq_h_plugin_deliveries(sq_req_t *req)
{
    sq_page_t page;
    if (sq_req_page(req, &page) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *values[1] = {sq_req_query(req, "state")};
    if (sq_resource_check_filters(&delivery_q, values, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *name = sq_req_param(req, "name");
    json_t *p = sq_plugins_describe(name); /* deliveries of a plugin this node knows (a removed one: 404) */
    if (p == NULL) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The plugin does not exist.");
        return;
    }
    json_decref(p);
    sq_plugin_deliveries(&req->cx, name, &page, values[0], sq_req_on_list, req);
}

static const sq_resource_t delivery_res = {.name = "event delivery", .prefix = "dlv"};

static void on_replay(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) { /* SQ422 "<pointer>|<code>|<detail>" becomes the field error */
        sq_req_fail_with(req, sq_resource_refine(req->arena, &delivery_res, err));
        return;
    }
    sq_req_send_json(req, 202, json, strlen(json));
}

/* POST /v1/admin/plugins/{name}/deliveries {event_id}: an event (a dead letter, or one from before the plugin
 * subscribed) delivered to a subscriber again */
void sq_h_plugin_replay(sq_req_t *req)
{
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 64);
    if (b == NULL || sq_json_decode(req->arena, b, sq_plugin_replay_fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *name = sq_req_param(req, "name"), *event_id = json_string_value(json_object_get(b, "event_id"));
    int st = sq_plugin_subscriber_state(name);
    if (st < 0) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The plugin does not exist.");
        return;
    }
    if (st == 0) {
        sq_req_fail_code(req, SQ_E_INVALID_STATE,
                         "The plugin is not an enabled event subscriber (disabled, unconfigured, or its "
                         "manifest lists no events).");
        return;
    }
    if (!sq_id_valid("evt", event_id)) {
        sq_err_field(&req->err, "/event_id", "not_found", "The event does not exist.");
        sq_req_fail_code(req, SQ_E_VALIDATION, "The event does not exist.");
        return;
    }
    sq_plugin_delivery_create(&req->cx, name, event_id, req->rt->cfg->webhook_max_attempts, on_replay, req);
}
