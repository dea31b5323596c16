/* automation_actions.c: the action registry of automation rules. One entry and one set of functions per action;
 * database actions call their own SQL function (migrations/0032), which applies the effect and records the run's
 * step in one transaction; external actions send an idempotency key and are recorded by the engine after they answer. */
/* pointers into rule bodies are cut to what a field error holds (96 bytes) anyway */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/automation.h"
#include "core/base/crypto.h"
#include "core/base/util.h"
#include "core/events.h"
#include "core/hooks.h"
#include "core/notify.h"

/* ---- shared checks ------------------------------------------------------------------------------------------- */

static void ferr(sq_err_t *err, const char *at, const char *field, const char *code, const char *detail)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", at, field);
    sq_err_field(err, p, code, "%s", detail);
}

/* params must be an object holding only these keys */
static int only_keys(const json_t *params, const char *at, const char *const *keys, sq_err_t *err)
{
    if (params == NULL) {
        sq_err_field(err, at, "required", "this action needs params");
        return -1;
    }
    const char *k;
    const json_t *v;
    int bad = 0;
    json_object_foreach((json_t *)params, k, v)
    {
        bool known = false;
        for (int i = 0; keys[i] != NULL; i++)
            known = known || strcmp(keys[i], k) == 0;
        if (!known) {
            ferr(err, at, k, "unknown_field", "not a parameter of this action");
            bad = -1;
        }
    }
    return bad;
}

static bool pointer_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && (s[0] == '/' || s[0] == '\0') && strlen(s) <= 256;
}

static bool id_ok(const json_t *v, const char *prefix)
{
    const char *s = json_string_value(v);
    size_t n = strlen(prefix);
    if (s == NULL || strncmp(s, prefix, n) != 0 || s[n] != '_' || strlen(s + n + 1) != 26)
        return false;
    for (const char *p = s + n + 1; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')))
            return false;
    return true;
}

/* a tag: 1 to 64 characters, lower-case letters, digits and - _ : . (starting with a letter or digit) */
static bool tag_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr("-_:.", s[i]) != NULL))
            return false;
    return true;
}

static void check_tags(const json_t *tags, const char *at, sq_err_t *err)
{
    if (tags == NULL) {
        ferr(err, at, "tags", "required", "the tags to add");
        return;
    }
    if (!json_is_array(tags) || json_array_size(tags) < 1 || json_array_size(tags) > 10) {
        ferr(err, at, "tags", "invalid_type", "an array of 1 to 10 tags");
        return;
    }
    size_t i;
    const json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (!tag_ok(json_string_value(t))) {
            char p[128];
            snprintf(p, sizeof(p), "%s/tags/%zu", at, i);
            sq_err_field(err, p, "invalid_format", "a tag is 1 to 64 lower-case letters, digits and - _ : . (vip, wholesale:gold)");
        }
    }
}

/* {"$field": "/pointer"} anywhere in a template becomes the payload's value there (null when absent) */
static json_t *fill(const json_t *tpl, const json_t *payload)
{
    if (json_is_object(tpl)) {
        const json_t *ref = json_object_get(tpl, "$field");
        if (ref != NULL && json_object_size(tpl) == 1) {
            json_t *v = sq_json_pointer_get(payload, json_string_value(ref));
            return v != NULL ? json_deep_copy(v) : json_null();
        }
        json_t *o = json_object();
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)tpl, k, v) json_object_set_new(o, k, fill(v, payload));
        return o;
    }
    if (json_is_array(tpl)) {
        json_t *a = json_array();
        size_t i;
        const json_t *v;
        json_array_foreach(tpl, i, v) json_array_append_new(a, fill(v, payload));
        return a;
    }
    return json_deep_copy(tpl);
}

static int check_template(const json_t *tpl, const char *at, sq_err_t *err)
{
    if (json_is_object(tpl)) {
        const json_t *ref = json_object_get(tpl, "$field");
        if (ref != NULL && (json_object_size(tpl) != 1 || !pointer_ok(ref))) {
            char p[160];
            snprintf(p, sizeof(p), "%s/$field", at);
            sq_err_field(err, p, "invalid_format", "{\"$field\": \"<JSON pointer into the event's data>\"} stands alone");
            return -1;
        }
    }
    return 0;
}

static int check_data(const json_t *params, const char *at, sq_err_t *err)
{
    const json_t *data = json_object_get(params, "data");
    if (data == NULL || json_is_null(data))
        return 0;
    char p[128];
    snprintf(p, sizeof(p), "%s/data", at);
    if (!json_is_object(data)) {
        sq_err_field(err, p, "invalid_type", "data is an object (a template: {\"$field\": \"/pointer\"} copies from the event)");
        return -1;
    }
    size_t len;
    char *s = json_dumps(data, JSON_COMPACT);
    len = s ? strlen(s) : 0;
    free(s);
    if (len > 16384) {
        sq_err_field(err, p, "too_long", "data is at most 16 KiB");
        return -1;
    }
    const char *k;
    const json_t *v;
    int r = 0;
    json_object_foreach((json_t *)data, k, v)
    {
        char q[200];
        snprintf(q, sizeof(q), "%s/%s", p, k);
        r |= check_template(v, q, err);
    }
    return r;
}

/* what a failed statement means for the run: the referenced object is gone or a rule is broken (permanent), or the
 * database was unreachable (retried) */
static bool permanent_error(const sq_err_t *err)
{
    return err->code == SQ_E_NOT_FOUND || err->code == SQ_E_VALIDATION || err->code == SQ_E_CONFLICT;
}

static void on_db_action(const char *json, const sq_err_t *err, void *data)
{
    sq_action_run_t *r = data;
    if (err != NULL) {
        r->done(r, NULL, err, permanent_error(err));
        return;
    }
    json_error_t e;
    json_t *res = sq_json_own(r->cx->arena, json_loads(json, 0, &e));
    r->done(r, res, NULL, false);
}

static const char *dump(sq_arena_t *a, const json_t *j)
{
    size_t len;
    return j != NULL ? sq_json_dump(a, j, &len) : NULL;
}

static json_t *plan_err(sq_err_t *err, const char *msg)
{
    sq_err_set(err, SQ_E_VALIDATION, "%s", msg);
    return NULL;
}

/* ---- tag_customer -------------------------------------------------------------------------------------------- */

static int tag_customer_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"tags", "customer_id", NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    check_tags(json_object_get(params, "tags"), at, err);
    const json_t *c = json_object_get(params, "customer_id");
    if (c != NULL && !pointer_ok(c))
        ferr(err, at, "customer_id", "invalid_format", "a JSON pointer to the customer id in the event's data (/customer_id)");
    return 0;
}

/* the customer: params.customer_id (a pointer), else /customer_id, else /id of customer.* events, else the order's */
static json_t *tag_customer_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    const char *ptr = json_string_value(json_object_get(params, "customer_id"));
    const char *cus = json_string_value(sq_json_pointer_get(payload, ptr != NULL ? ptr : "/customer_id"));
    const char *order = NULL;
    if (cus == NULL && ptr == NULL && event_type != NULL && strncmp(event_type, "customer.", 9) == 0)
        cus = json_string_value(json_object_get(payload, "id"));
    if (cus == NULL && ptr == NULL)
        order = json_string_value(json_object_get(payload, "order_id"));
    if (cus == NULL && order == NULL)
        return plan_err(err, "The event names no customer (set params.customer_id to the pointer of its id).");
    json_t *p = json_object();
    json_object_set_new(p, cus != NULL ? "customer_id" : "order_id", json_string(cus != NULL ? cus : order));
    json_object_set(p, "tags", json_object_get(params, "tags"));
    return p;
}

static void tag_customer_run(sq_action_run_t *r)
{
    json_t *target = json_deep_copy(r->plan);
    json_object_del(target, "tags");
    sq_json_own(r->cx->arena, target);
    sq_automation_db_action(r->cx, "tag_customer", r->run_id, r->index, dump(r->cx->arena, target),
                            dump(r->cx->arena, json_object_get(r->plan, "tags")), on_db_action, r);
}

/* ---- tag_order ----------------------------------------------------------------------------------------------- */

static int tag_order_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"tags", "order_id", NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    check_tags(json_object_get(params, "tags"), at, err);
    const json_t *o = json_object_get(params, "order_id");
    if (o != NULL && !pointer_ok(o))
        ferr(err, at, "order_id", "invalid_format", "a JSON pointer to the order id in the event's data (/order_id)");
    return 0;
}

static json_t *tag_order_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    (void)event_type;
    const char *ptr = json_string_value(json_object_get(params, "order_id"));
    const char *order = json_string_value(sq_json_pointer_get(payload, ptr != NULL ? ptr : "/order_id"));
    if (order == NULL)
        return plan_err(err, "The event names no order (set params.order_id to the pointer of its id).");
    json_t *p = json_object();
    json_object_set_new(p, "order_id", json_string(order));
    json_object_set(p, "tags", json_object_get(params, "tags"));
    return p;
}

static void tag_order_run(sq_action_run_t *r)
{
    sq_automation_db_action(r->cx, "tag_order", r->run_id, r->index, json_string_value(json_object_get(r->plan, "order_id")),
                            dump(r->cx->arena, json_object_get(r->plan, "tags")), on_db_action, r);
}

/* ---- emit_event ---------------------------------------------------------------------------------------------- */

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64 || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static int emit_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"name", "data", NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    const json_t *n = json_object_get(params, "name");
    if (n == NULL)
        ferr(err, at, "name", "required", "the custom event's name");
    else if (!name_ok(json_string_value(n)))
        ferr(err, at, "name", "invalid_format", "1 to 64 lower-case letters, digits, _ and . starting with a letter (vip_order)");
    return check_data(params, at, err);
}

static json_t *emit_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    (void)event_type;
    (void)err;
    json_t *p = json_object();
    json_object_set_new(p, "event_type", json_string("automation.custom_event"));
    json_object_set(p, "name", json_object_get(params, "name"));
    const json_t *d = json_object_get(params, "data");
    json_object_set_new(p, "data", d != NULL && !json_is_null(d) ? fill(d, payload) : json_object());
    return p;
}

static void emit_run(sq_action_run_t *r)
{
    sq_automation_db_action(r->cx, "emit_event", r->run_id, r->index, json_string_value(json_object_get(r->plan, "name")),
                            dump(r->cx->arena, json_object_get(r->plan, "data")), on_db_action, r);
}

/* ---- call_webhook -------------------------------------------------------------------------------------------- */

static int webhook_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"webhook_id", "data", NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    const json_t *w = json_object_get(params, "webhook_id");
    if (w == NULL)
        ferr(err, at, "webhook_id", "required", "the webhook endpoint to call (its URL and signing secret)");
    else if (!id_ok(w, "whk"))
        ferr(err, at, "webhook_id", "invalid_format", "a webhook endpoint id (whk_...)");
    return check_data(params, at, err);
}

static json_t *webhook_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    (void)event_type;
    (void)err;
    json_t *p = json_object();
    json_object_set(p, "webhook_id", json_object_get(params, "webhook_id"));
    const json_t *d = json_object_get(params, "data");
    json_object_set_new(p, "data", d != NULL && !json_is_null(d) ? fill(d, payload) : json_null());
    return p;
}

typedef struct {
    sq_action_run_t *r;
    const char *webhook_id;
} call_t;

static void on_called(const sq_http_response_t *res, void *data)
{
    call_t *c = data;
    sq_action_run_t *r = c->r;
    sq_delivery_outcome_t o = sq_webhook_outcome(res);
    if (o == SQ_DELIVERY_OK) {
        json_t *out = sq_json_own(r->cx->arena, json_object());
        json_object_set_new(out, "webhook_id", json_string(c->webhook_id));
        json_object_set_new(out, "status", json_integer(res->status));
        json_object_set_new(out, "idempotency_key", json_string(r->idempotency_key));
        json_object_set_new(out, "duration_ms", json_integer(res->duration_us / 1000));
        r->done(r, out, NULL, false);
        return;
    }
    sq_err_t e;
    sq_err_clear(&e);
    if (res->error != SQ_HTTP_OK)
        sq_err_set(&e, SQ_E_UNAVAILABLE, "The webhook call failed: %s.", sq_http_error_name(res->error));
    else
        sq_err_set(&e, SQ_E_UNAVAILABLE, "The webhook answered http_%d.", res->status);
    sq_err_internal(&e, "%s", res->error_detail ? res->error_detail : "");
    r->done(r, NULL, &e, o != SQ_DELIVERY_RETRY);
}

static void on_endpoint(const char *json, const sq_err_t *err, void *data)
{
    call_t *c = data;
    sq_action_run_t *r = c->r;
    if (err != NULL) {
        sq_err_t e;
        sq_err_copy(&e, err);
        if (err->code == SQ_E_NOT_FOUND)
            sq_err_set(&e, SQ_E_NOT_FOUND, "The webhook endpoint %s does not exist.", c->webhook_id);
        r->done(r, NULL, &e, err->code == SQ_E_NOT_FOUND);
        return;
    }
    json_error_t je;
    json_t *w = sq_json_own(r->cx->arena, json_loads(json, 0, &je));
    if (!json_is_true(json_object_get(w, "enabled"))) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_INVALID_STATE, "The webhook endpoint %s is disabled.", c->webhook_id);
        r->done(r, NULL, &e, true);
        return;
    }
    sq_arena_t *a = r->cx->arena;
    /* the body: the same on every attempt (its id is the idempotency key) */
    json_t *body = sq_json_own(a, json_object());
    json_object_set_new(body, "id", json_string(r->idempotency_key));
    json_object_set_new(body, "object", json_string("automation_call"));
    json_object_set_new(body, "rule_id", json_string(r->rule_id));
    json_object_set_new(body, "run_id", json_string(r->run_id));
    json_t *ev = json_object();
    json_object_set_new(ev, "id", strncmp(r->trigger_key, "evt_", 4) == 0 ? json_string(r->trigger_key) : json_null());
    json_object_set_new(ev, "type", json_string(r->event_type));
    json_object_set(ev, "data", (json_t *)r->payload);
    json_object_set_new(body, "event", ev);
    json_object_set(body, "data", json_object_get(r->plan, "data"));
    size_t len;
    const char *text = sq_json_dump(a, body, &len);
    const char *prev = json_string_value(json_object_get(w, "previous_secret"));
    sq_http_header_t *h = sq_arena_alloc(a, sizeof(sq_http_header_t) * 6);
    h[0] = (sq_http_header_t){"Content-Type", "application/json"};
    h[1] = (sq_http_header_t){"Idempotency-Key", r->idempotency_key};
    h[2] = (sq_http_header_t){"Souq-Event-Type", r->event_type};
    h[3] = (sq_http_header_t){"Souq-Automation-Rule", r->rule_id};
    h[4] = (sq_http_header_t){"Souq-Automation-Run", r->run_id};
    h[5] = (sq_http_header_t){"Souq-Signature", sq_webhook_signature(a, sq_now_us() / 1000000, text, len,
                                                                     json_string_value(json_object_get(w, "secret")), prev)};
    sq_http_request_t rq = {.method = "POST",
                            .url = json_string_value(json_object_get(w, "url")),
                            .headers = h,
                            .nheaders = 6,
                            .body = text,
                            .body_len = len,
                            .connect_timeout_ms = r->http_connect_timeout_ms,
                            .total_timeout_ms = r->http_timeout_ms,
                            .max_response_bytes = 64 * 1024};
    sq_ctx_http(r->cx, &rq, on_called, c);
}

static void webhook_run(sq_action_run_t *r)
{
    call_t *c = SQ_NEW(r->cx->arena, call_t);
    c->r = r;
    c->webhook_id = json_string_value(json_object_get(r->plan, "webhook_id"));
    sq_automation_db_webhook(r->cx, c->webhook_id, on_endpoint, c);
}

/* ---- adjust_price -------------------------------------------------------------------------------------------- */

static int price_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"variant_id", "variant_field", "price_list_id", "currency_code", "set",
                                       "delta",      "percent",       "floor",         "ceiling",       NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    const json_t *v = json_object_get(params, "variant_id"), *vf = json_object_get(params, "variant_field");
    if ((v == NULL) == (vf == NULL))
        ferr(err, at, "variant_id", "required",
             "give exactly one of variant_id (an id) and variant_field (a pointer into the event)");
    else if (v != NULL && !id_ok(v, "var"))
        ferr(err, at, "variant_id", "invalid_format", "a variant id (var_...)");
    else if (vf != NULL && !pointer_ok(vf))
        ferr(err, at, "variant_field", "invalid_format", "a JSON pointer to a variant id in the event's data");
    const json_t *pl = json_object_get(params, "price_list_id");
    if (pl != NULL && !json_is_null(pl) && !id_ok(pl, "plist"))
        ferr(err, at, "price_list_id", "invalid_format", "a price list id (plist_...), or null for the base price");
    const json_t *cur = json_object_get(params, "currency_code");
    const char *code;
    if (cur == NULL)
        ferr(err, at, "currency_code", "required", "the price's currency");
    else if (!json_is_string(cur) || sq_check_currency(cur, &code) != NULL)
        ferr(err, at, "currency_code", "invalid_value", "an ISO 4217 currency code Souq knows");
    int how = 0;
    const char *names[] = {"set", "delta", "percent"};
    for (int i = 0; i < 3; i++) {
        const json_t *x = json_object_get(params, names[i]);
        if (x == NULL)
            continue;
        how++;
        if (!json_is_integer(x))
            ferr(err, at, names[i], "invalid_type", "an integer (minor units; percent in basis points)");
        else if (i == 0 && (json_integer_value(x) < 0 || json_integer_value(x) > 999999999999))
            ferr(err, at, "set", "out_of_range", "0 to 999999999999 minor units");
        else if (i == 1 && (json_integer_value(x) < -999999999999 || json_integer_value(x) > 999999999999))
            ferr(err, at, "delta", "out_of_range", "at most 999999999999 minor units either way");
        else if (i == 2 && (json_integer_value(x) < -10000 || json_integer_value(x) > 100000))
            ferr(err, at, "percent", "out_of_range", "-10000 to 100000 basis points (-100 % to +1000 %)");
    }
    if (how != 1)
        ferr(err, at, "set", how == 0 ? "required" : "invalid_value", "give exactly one of set, delta and percent");
    const json_t *fl = json_object_get(params, "floor"), *ce = json_object_get(params, "ceiling");
    if (fl != NULL && (!json_is_integer(fl) || json_integer_value(fl) < 0 || json_integer_value(fl) > 999999999999))
        ferr(err, at, "floor", "out_of_range", "0 to 999999999999 minor units");
    if (ce != NULL && (!json_is_integer(ce) || json_integer_value(ce) < 0 || json_integer_value(ce) > 999999999999))
        ferr(err, at, "ceiling", "out_of_range", "0 to 999999999999 minor units");
    if (json_is_integer(fl) && json_is_integer(ce) && json_integer_value(fl) > json_integer_value(ce))
        ferr(err, at, "floor", "invalid_value", "floor is at most ceiling");
    return 0;
}

static json_t *price_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    (void)event_type;
    const char *vf = json_string_value(json_object_get(params, "variant_field"));
    const json_t *var = vf != NULL ? sq_json_pointer_get(payload, vf) : json_object_get(params, "variant_id");
    if (!json_is_string(var))
        return plan_err(err, "The event holds no variant id at params.variant_field.");
    json_t *p = json_deep_copy(params);
    json_object_del(p, "variant_field");
    json_object_set(p, "variant_id", (json_t *)var);
    char lower[4] = {0};
    const char *cur = json_string_value(json_object_get(params, "currency_code"));
    for (int i = 0; i < 3 && cur[i]; i++)
        lower[i] = (char)(cur[i] | 0x20);
    json_object_set_new(p, "currency_code", json_string(lower));
    if (json_object_get(p, "price_list_id") == NULL)
        json_object_set_new(p, "price_list_id", json_null());
    return p;
}

static void price_run(sq_action_run_t *r)
{
    sq_automation_db_action(r->cx, "adjust_price", r->run_id, r->index, dump(r->cx->arena, r->plan), NULL, on_db_action, r);
}

static void price_preview(sq_ctx_t *cx, const json_t *plan, sq_json_cb cb, void *data)
{
    sq_automation_db_price_preview(cx, plan, cb, data);
}

/* ---- start_price_list ----------------------------------------------------------------------------------------- */

static int list_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"price_list_id", "duration_s", NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    const json_t *l = json_object_get(params, "price_list_id");
    if (l == NULL)
        ferr(err, at, "price_list_id", "required", "the price list to start (plist_...)");
    else if (!id_ok(l, "plist"))
        ferr(err, at, "price_list_id", "invalid_format", "a price list id (plist_...)");
    const json_t *d = json_object_get(params, "duration_s");
    if (d != NULL && (!json_is_integer(d) || json_integer_value(d) < 60 || json_integer_value(d) > 31536000))
        ferr(err, at, "duration_s", "out_of_range", "60 to 31536000 seconds (none: its end stays as it is)");
    return 0;
}

static json_t *list_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    (void)payload;
    (void)event_type;
    (void)err;
    return json_pack("{s:O, s:O}", "price_list_id", json_object_get(params, "price_list_id"), "duration_s",
                     json_object_get(params, "duration_s") ? json_object_get(params, "duration_s") : json_null());
}

static void list_run(sq_action_run_t *r)
{
    const json_t *d = json_object_get(r->plan, "duration_s");
    sq_automation_db_action(r->cx, "start_price_list", r->run_id, r->index, json_string_value(json_object_get(r->plan, "price_list_id")),
                            json_is_integer(d) ? sq_db_int(r->cx->arena, json_integer_value(d)) : NULL, on_db_action, r);
}

/* ---- create_purchase_order -------------------------------------------------------------------------------- */

static int po_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"inventory_item_id", "location_id", "quantity", NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    static const char *const ptrs[] = {"inventory_item_id", "location_id"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(params, ptrs[i]);
        if (v != NULL && !pointer_ok(v))
            ferr(err, at, ptrs[i], "invalid_format", "a JSON pointer into the event's data");
    }
    const json_t *q = json_object_get(params, "quantity");
    if (q != NULL && (!json_is_integer(q) || json_integer_value(q) < 1 || json_integer_value(q) > 1000000))
        ferr(err, at, "quantity", "out_of_range", "1 to 1000000 units (default: the reorder rule's reorder_quantity)");
    return 0;
}

/* the item and location: params' pointers, else /inventory_item_id and /location_id (inventory.low and friends) */
static json_t *po_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    (void)event_type;
    const char *ip = json_string_value(json_object_get(params, "inventory_item_id"));
    const char *lp = json_string_value(json_object_get(params, "location_id"));
    const json_t *item = sq_json_pointer_get(payload, ip != NULL ? ip : "/inventory_item_id");
    const json_t *loc = sq_json_pointer_get(payload, lp != NULL ? lp : "/location_id");
    if (!json_is_string(item))
        return plan_err(err, "The event names no inventory item (set params.inventory_item_id to the pointer of its id).");
    if (lp != NULL && !json_is_string(loc))
        return plan_err(err, "The event holds no location id at params.location_id.");
    json_t *p = json_object();
    json_object_set(p, "inventory_item_id", (json_t *)item);
    json_object_set_new(p, "location_id", json_is_string(loc) ? json_deep_copy(loc) : json_null());
    json_t *q = json_object_get(params, "quantity");
    json_object_set_new(p, "quantity", q != NULL ? json_deep_copy(q) : json_null());
    return p;
}

static void po_run(sq_action_run_t *r)
{
    json_t *target = sq_json_own(r->cx->arena, json_deep_copy(r->plan));
    json_object_del(target, "quantity");
    const json_t *q = json_object_get(r->plan, "quantity");
    sq_automation_db_action(r->cx, "create_purchase_order", r->run_id, r->index, dump(r->cx->arena, target),
                            json_is_integer(q) ? sq_db_int(r->cx->arena, json_integer_value(q)) : NULL, on_db_action, r);
}

/* ---- run_plugin_action ----------------------------------------------------------------------------------------- */

const sq_plugin_action_hooks_t *sq_plugin_action_hooks;

static int plugin_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"plugin", "action", "input", NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    const char *plugin = json_string_value(json_object_get(params, "plugin"));
    const char *action = json_string_value(json_object_get(params, "action"));
    if (plugin == NULL)
        ferr(err, at, "plugin", "required", "the plugin's name");
    if (action == NULL)
        ferr(err, at, "action", "required", "the action's name (the plugin's manifest, GET /v1/admin/plugins/{name})");
    const sq_plugin_action_hooks_t *h = __atomic_load_n(&sq_plugin_action_hooks, __ATOMIC_ACQUIRE);
    if (plugin != NULL && action != NULL && (h == NULL || !h->exists(plugin, action)))
        ferr(err, at, "action", "not_found", "no enabled plugin of that name has that action");
    const json_t *in = json_object_get(params, "input");
    if (in != NULL && !json_is_object(in))
        ferr(err, at, "input", "invalid_type", "input is an object (a template: {\"$field\": \"/pointer\"} copies from the event)");
    else if (in != NULL) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)in, k, v)
        {
            char q[200];
            snprintf(q, sizeof(q), "%s/input/%s", at, k);
            check_template(v, q, err);
        }
    }
    return 0;
}

/* the input with the event's values filled in, checked against the action's input schema (a misfit is permanent) */
static json_t *plugin_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    (void)event_type;
    const json_t *in = json_object_get(params, "input");
    json_t *input = in != NULL ? fill(in, payload) : json_object();
    const sq_plugin_action_hooks_t *h = __atomic_load_n(&sq_plugin_action_hooks, __ATOMIC_ACQUIRE);
    sq_err_t e;
    sq_err_clear(&e);
    if (h == NULL || h->check(json_string_value(json_object_get(params, "plugin")), json_string_value(json_object_get(params, "action")),
                              input, &e) != 0) {
        json_decref(input);
        if (h == NULL)
            return plan_err(err, "Plugins are not loaded here.");
        sq_err_set(err, SQ_E_VALIDATION, "The action's input does not fit its schema: %s %s", e.nfields ? e.fields[0].pointer : "",
                   e.nfields ? e.fields[0].detail : e.detail);
        return NULL;
    }
    json_t *p = json_pack("{s:O, s:O, s:o}", "plugin", json_object_get(params, "plugin"), "action", json_object_get(params, "action"),
                          "input", input);
    return p;
}

static void on_plugin_action(json_t *out, const sq_err_t *err, void *data)
{
    sq_action_run_t *r = data;
    if (err != NULL) { /* a plugin that is gone or refuses the input will not get better; a failed call may */
        r->done(r, NULL, err, err->code == SQ_E_NOT_FOUND || err->code == SQ_E_VALIDATION || err->code == SQ_E_UNKNOWN_FIELD);
        return;
    }
    json_t *res = sq_json_own(r->cx->arena, json_pack("{s:O, s:O, s:O}", "plugin", json_object_get(r->plan, "plugin"), "action",
                                                      json_object_get(r->plan, "action"), "output", out ? out : json_null()));
    r->done(r, res, NULL, false);
}

static void plugin_run(sq_action_run_t *r)
{
    const sq_plugin_action_hooks_t *h = __atomic_load_n(&sq_plugin_action_hooks, __ATOMIC_ACQUIRE);
    if (h == NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "Plugins are not loaded here.");
        r->done(r, NULL, &e, true);
        return;
    }
    h->run(r->cx, json_string_value(json_object_get(r->plan, "plugin")), json_string_value(json_object_get(r->plan, "action")),
           json_object_get(r->plan, "input"), on_plugin_action, r);
}

/* ---- send_notification -------------------------------------------------------------------------------------- */

static int note_validate(const json_t *params, const char *at, sq_err_t *err)
{
    static const char *const keys[] = {"channel", "to", "to_field", "subject", "text", "html", NULL};
    if (only_keys(params, at, keys, err) != 0)
        return -1;
    const char *ch = json_string_value(json_object_get(params, "channel"));
    bool sms = ch != NULL && strcmp(ch, "sms") == 0;
    if (json_object_get(params, "channel") != NULL && (ch == NULL || (!sms && strcmp(ch, "email") != 0)))
        ferr(err, at, "channel", "invalid_value", "email (default) or sms");
    const json_t *to = json_object_get(params, "to"), *tf = json_object_get(params, "to_field");
    const char *code;
    if (to != NULL && tf != NULL)
        ferr(err, at, "to", "invalid_value", "give to (an address) or to_field (a pointer into the event), not both");
    else if (to != NULL && !sms && sq_check_email(to, &code) != NULL)
        ferr(err, at, "to", "invalid_format", "an email address (staff alerts), or use to_field");
    else if (to != NULL && sms && (!json_is_string(to) || json_string_length(to) < 4 || json_string_length(to) > 16))
        ferr(err, at, "to", "invalid_format", "an E.164 phone number (+4915112345678)");
    else if (tf != NULL && !pointer_ok(tf))
        ferr(err, at, "to_field", "invalid_format", "a JSON pointer to the recipient in the event's data (default /email)");
    static const struct {
        const char *name;
        size_t max;
        bool required;
    } texts[] = {{"subject", 200, false}, {"text", 10000, true}, {"html", 50000, false}};
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = json_object_get(params, texts[i].name);
        bool need = texts[i].required || (i == 0 && !sms);
        if (v == NULL && need)
            ferr(err, at, texts[i].name, "required", "a template: {{name}} becomes the event's top-level field name");
        else if (v != NULL && (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > texts[i].max))
            ferr(err, at, texts[i].name, "invalid_value", "a non-empty string template (subject 200, text 10000, html 50000 bytes at most)");
    }
    if (sms && json_object_get(params, "html") != NULL)
        ferr(err, at, "html", "invalid_value", "an SMS is text only");
    return 0;
}

/* the event's top-level scalars as strings, for {{name}} */
static json_t *note_vars(const json_t *payload, const char *event_type)
{
    json_t *vars = json_object();
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)payload, k, v)
    {
        char buf[32];
        if (json_is_string(v))
            json_object_set(vars, k, (json_t *)v);
        else if (json_is_integer(v)) {
            snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
            json_object_set_new(vars, k, json_string(buf));
        } else if (json_is_boolean(v))
            json_object_set_new(vars, k, json_string(json_is_true(v) ? "true" : "false"));
    }
    json_object_set_new(vars, "event_type", json_string(event_type ? event_type : ""));
    return vars;
}

static json_t *note_plan(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err)
{
    const char *ch = json_string_value(json_object_get(params, "channel"));
    const json_t *to = json_object_get(params, "to");
    if (to == NULL) {
        const char *tf = json_string_value(json_object_get(params, "to_field"));
        to = sq_json_pointer_get(payload, tf != NULL ? tf : "/email");
    }
    if (!json_is_string(to) || json_string_length(to) == 0)
        return plan_err(err, "The event holds no recipient (set params.to_field to the pointer of an address, or params.to).");
    sq_arena_t *a = sq_arena_new();
    json_t *vars = note_vars(payload, event_type);
    json_t *p = json_object();
    json_object_set_new(p, "channel", json_string(ch != NULL ? ch : "email"));
    json_object_set(p, "to", (json_t *)to);
    static const char *const texts[] = {"subject", "text", "html"};
    for (int i = 0; i < 3; i++) {
        const char *t = json_string_value(json_object_get(params, texts[i]));
        if (t != NULL)
            json_object_set_new(p, texts[i], json_string(sq_notify_render(a, t, vars, i == 2, i == 0)));
    }
    json_decref(vars);
    sq_arena_unref(a);
    return p;
}

static void on_sent(const sq_notify_res_t *res, const sq_err_t *err, void *data)
{
    sq_action_run_t *r = data;
    if (err != NULL) { /* the provider refused the message for good, or may take it later */
        r->done(r, NULL, err, err->code == SQ_E_VALIDATION);
        return;
    }
    json_t *out = json_pack("{s:O, s:s?, s:s?}", "to", json_object_get(r->plan, "to"), "provider", res->provider, "message_id",
                            res->message_id);
    r->done(r, sq_json_own(r->cx->arena, out), NULL, false);
}

static void note_run(sq_action_run_t *r)
{
    bool sms = strcmp(json_string_value(json_object_get(r->plan, "channel")), "sms") == 0;
    sq_notify_channel_t ch = sms ? SQ_NOTIFY_SMS : SQ_NOTIFY_EMAIL;
    const sq_notification_provider_t *pv = sq_notification_provider(ch, NULL);
    if (pv == NULL) { /* nothing would change on retry until staff enable one; they can retry the dead run then */
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "No notification provider for %s is enabled.", sms ? "sms" : "email");
        r->done(r, NULL, &e, true);
        return;
    }
    sq_notify_req_t rq = {.channel = ch,
                          .to = json_string_value(json_object_get(r->plan, "to")),
                          .subject = json_string_value(json_object_get(r->plan, "subject")),
                          .text = json_string_value(json_object_get(r->plan, "text")),
                          .html = json_string_value(json_object_get(r->plan, "html")),
                          .idempotency_key = r->idempotency_key,
                          .tag = "automation"};
    pv->send(r->cx, &rq, on_sent, r);
}

/* ---- the registry -------------------------------------------------------------------------------------------- */

const sq_action_def_t sq_automation_actions[] = {
    {"tag_customer", "Adds tags to the event's customer (or the customer of its order).", false, tag_customer_validate,
     tag_customer_plan, tag_customer_run, NULL},
    {"tag_order", "Adds tags to the event's order.", false, tag_order_validate, tag_order_plan, tag_order_run, NULL},
    {"emit_event", "Writes an automation.custom_event to the outbox (webhooks and rules receive it).", false, emit_validate,
     emit_plan, emit_run, NULL},
    {"call_webhook", "POSTs a signed call to a webhook endpoint, with an idempotency key.", true, webhook_validate, webhook_plan,
     webhook_run, NULL},
    {"adjust_price", "Sets or moves a variant's price in the base prices or a price list, within floor and ceiling.", false,
     price_validate, price_plan, price_run, price_preview},
    {"send_notification", "Sends an email (or SMS) through the notification provider, rendered from the event's fields.", true,
     note_validate, note_plan, note_run, NULL},
    {"start_price_list", "Activates a price list now, optionally for a time (a sale a rule starts).", false, list_validate,
     list_plan, list_run, NULL},
    {"create_purchase_order", "Puts the event's inventory item on its supplier's draft purchase order (its reorder rule).", false,
     po_validate, po_plan, po_run, NULL},
    {"run_plugin_action", "Runs a plugin's named action with an input filled from the event (at least once).", true,
     plugin_validate, plugin_plan, plugin_run, NULL},
    {NULL},
};
