/* events.c: webhooks, events and deliveries in the admin API (core/events.h). Creating or re-pointing a webhook
 * resolves its URL and applies the egress policy first (422 at /url), so a URL that can never be delivered to is
 * refused at once; the policy is applied again at every delivery (the name may resolve elsewhere by then). */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/events.h"

#define ROTATE_OVERLAP_S 86400 /* the previous secret keeps signing (a second v1) for 24 hours */

static const char *path_id(sq_req_t *req, const char *prefix, const char *what)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid(prefix, id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The %s does not exist.", what);
        return NULL;
    }
    return id;
}

/* Routes that take no body accept an empty one or {}; anything else is refused (400 invalid JSON, 422 unknown field),
 * so a client that thinks it is passing options learns it is not. -1 after answering. */
static int no_body(sq_req_t *req)
{
    static const sq_field_t none[] = {{NULL}};
    if (req->h2o->entity.base == NULL || req->h2o->entity.len == 0)
        return 0;
    json_t *b = sq_req_body(req);
    if (b == NULL || sq_json_decode(req->arena, b, none, NULL, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return -1;
    }
    return 0;
}

/* ---- create and update: the URL's destination first ----------------------------------------------------------- */

typedef struct {
    sq_req_t *req;
    const char *id;   /* update: the webhook; NULL: create */
    const char *body; /* validated body (JSON text) */
    const char *etag;
} save_t;

static void save(save_t *s)
{
    sq_req_t *req = s->req;
    if (s->id == NULL)
        sq_resource_create(&req->cx, &sq_res_webhook, s->body, req->principal.id, sq_req_on_json_201, req);
    else
        sq_resource_update(&req->cx, &sq_res_webhook, s->id, s->body, s->etag, sq_req_on_json_200, req);
}

static void on_url_checked(const sq_http_response_t *res, void *data)
{
    save_t *s = data;
    sq_req_t *req = s->req;
    if (res->error == SQ_HTTP_OK) {
        save(s);
        return;
    }
    const char *code = "invalid_value", *why = "The URL cannot be delivered to.";
    switch (res->error) {
    case SQ_HTTP_E_SSRF_BLOCKED:
        code = "not_allowed";
        why = "The URL points to a private, loopback, link-local or reserved address.";
        break;
    case SQ_HTTP_E_DNS:
        code = "not_found";
        why = "The URL's host name does not resolve.";
        break;
    case SQ_HTTP_E_SCHEME:
        code = "not_allowed";
        why = "Only http and https URLs are allowed.";
        break;
    case SQ_HTTP_E_TIMEOUT:
        why = "The URL's host name did not resolve in time.";
        break;
    default:
        break;
    }
    sq_err_field(&req->err, "/url", code, "%s", why);
    sq_err_set(&req->err, SQ_E_VALIDATION, "%s", why);
    sq_req_fail(req);
}

/* Validates the body; when it names a URL, checks the destination before saving. */
static void save_checked(sq_req_t *req, const char *id)
{
    json_t *b = sq_req_body(req);
    if (b == NULL || sq_resource_validate(req->arena, &sq_res_webhook, b, id == NULL, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    save_t *s = SQ_NEW(req->arena, save_t);
    s->req = req;
    s->id = id;
    if (id == NULL) /* the signing secret is the server's, shown once in this answer */
        json_object_set_new(b, "secret", json_string(sq_webhook_secret_new(req->arena)));
    size_t len;
    s->body = sq_json_dump(req->arena, b, &len);
    const char *url = json_string_value(json_object_get(b, "url"));
    if (url == NULL) {
        save(s);
        return;
    }
    sq_http_request_t rq = {.url = url, .check_only = true, .total_timeout_ms = 5000};
    sq_ctx_http(&req->cx, &rq, on_url_checked, s);
}

void sq_h_webhook_create(sq_req_t *req)
{
    save_checked(req, NULL); /* the route is SQ_RT_NO_STORE: the answer holds the secret */
}

void sq_h_webhook_update(sq_req_t *req)
{
    const char *id = path_id(req, "whk", "webhook endpoint");
    if (id == NULL)
        return;
    save_t probe = {0};
    if (sq_req_if_match(req, &probe.etag) != 0) {
        sq_req_fail(req);
        return;
    }
    json_t *b = sq_req_body(req);
    if (b == NULL || sq_resource_validate(req->arena, &sq_res_webhook, b, false, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    save_t *s = SQ_NEW(req->arena, save_t);
    s->req = req;
    s->id = id;
    s->etag = probe.etag;
    size_t len;
    s->body = sq_json_dump(req->arena, b, &len);
    const char *url = json_string_value(json_object_get(b, "url"));
    if (url == NULL) {
        save(s);
        return;
    }
    sq_http_request_t rq = {.url = url, .check_only = true, .total_timeout_ms = 5000};
    sq_ctx_http(&req->cx, &rq, on_url_checked, s);
}

void sq_h_webhook_rotate(sq_req_t *req)
{
    const char *id = path_id(req, "whk", "webhook endpoint");
    if (id == NULL || no_body(req) != 0)
        return;
    sq_webhook_rotate(&req->cx, id, sq_webhook_secret_new(req->arena), ROTATE_OVERLAP_S, sq_req_on_json_200, req);
}

/* ---- deliveries and events -------------------------------------------------------------------------------------- */

static const char *const delivery_states[] = {"available", "running", "retryable", "completed", "discarded", "canceled", NULL};
static const char *const state_filter[] = {"state", NULL};
static const sq_filter_rule_t state_rules[] = {{"state", 16, delivery_states, NULL}, {NULL}};
static const sq_resource_t deliveries_q = {.filters = state_filter, .filter_rules = state_rules};

static bool event_type_valid(const char *v)
{
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'))
            return false;
    return true;
}
static const char *const type_filter[] = {"type", NULL};
static const sq_filter_rule_t type_rules[] = {{"type", 100, NULL, event_type_valid}, {NULL}};
static const sq_resource_t events_q = {.filters = type_filter, .filter_rules = type_rules};

/* page and one filter; -1 after answering 400 */
static int list_params(sq_req_t *req, const sq_resource_t *q, sq_page_t *page, const char **filter)
{
    if (sq_req_page(req, page) != 0) {
        sq_req_fail(req);
        return -1;
    }
    *filter = sq_req_query(req, q->filters[0]);
    const char *values[1] = {*filter};
    if (sq_resource_check_filters(q, values, &req->err) != 0) {
        sq_req_fail(req);
        return -1;
    }
    return 0;
}

void sq_h_webhook_deliveries(sq_req_t *req)
{
    const char *id = path_id(req, "whk", "webhook endpoint");
    sq_page_t page;
    const char *state;
    if (id != NULL && list_params(req, &deliveries_q, &page, &state) == 0)
        sq_webhook_deliveries(&req->cx, id, &page, state, sq_req_on_list, req);
}

static void on_delivery_202(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_copy(&e, err);
        sq_err_set(&e, SQ_E_NOT_FOUND,
                   strstr(req->route->path, "/events/") ? "The event does not exist." : "The webhook endpoint does not exist.");
        sq_req_fail_with(req, &e);
        return;
    }
    if (err != NULL) {
        sq_req_fail_with(req, sq_resource_refine(req->arena, &sq_res_webhook, err));
        return;
    }
    sq_req_send_json(req, 202, json, strlen(json));
}

void sq_h_webhook_test(sq_req_t *req)
{
    const char *id = path_id(req, "whk", "webhook endpoint");
    if (id != NULL && no_body(req) == 0)
        sq_delivery_create(&req->cx, NULL, id, "test", req->rt->cfg->webhook_max_attempts, on_delivery_202, req);
}

void sq_h_event_list(sq_req_t *req)
{
    sq_page_t page;
    const char *type;
    if (list_params(req, &events_q, &page, &type) == 0)
        sq_events_list(&req->cx, &page, type, sq_req_on_list, req);
}

static void on_event(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The event does not exist.");
        return;
    }
    sq_req_on_json_200(json, err, data);
}

void sq_h_event_get(sq_req_t *req)
{
    const char *id = path_id(req, "evt", "event");
    if (id != NULL)
        sq_event_get(&req->cx, id, on_event, req);
}

void sq_h_event_replay(sq_req_t *req)
{
    const char *id = path_id(req, "evt", "event");
    if (id == NULL)
        return;
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 64);
    if (b == NULL || sq_json_decode(req->arena, b, sq_replay_fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *webhook_id = json_string_value(json_object_get(b, "webhook_id"));
    if (!sq_id_valid("whk", webhook_id)) {
        sq_err_field(&req->err, "/webhook_id", "not_found", "The webhook endpoint does not exist.");
        sq_req_fail_code(req, SQ_E_VALIDATION, "The webhook endpoint does not exist.");
        return;
    }
    sq_delivery_create(&req->cx, id, webhook_id, "replay", req->rt->cfg->webhook_max_attempts, on_delivery_202, req);
}
