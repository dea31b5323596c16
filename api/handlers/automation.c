/* automation.c: automation rules in the admin API (core/automation.h): create and update (the generic resource
 * handlers do list, get and delete), a rule's run history, and dry runs of unsaved and saved rules. */
/* pointers into rule bodies are cut to what a field error holds (96 bytes) anyway */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "api/handlers/automation.h"

#include <string.h>

#include "api/handlers/handlers.h"
#include "core/automation.h"
#include "core/base/id.h"

static const char *rule_id(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("arule", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The automation rule does not exist.");
        return NULL;
    }
    return id;
}

/* the validated body with what SQL needs added, as JSON text; NULL after answering */
static const char *rule_body(sq_req_t *req, bool create)
{
    json_t *b = sq_req_body(req);
    if (b == NULL || sq_resource_validate(req->arena, &sq_res_automation_rule, b, create, &req->err) != 0) {
        sq_req_fail(req);
        return NULL;
    }
    sq_automation_rule_body(b);
    size_t len;
    return sq_json_dump(req->arena, b, &len);
}

/* POST /v1/admin/automation/rules */
void sq_h_rule_create(sq_req_t *req)
{
    const char *body = rule_body(req, true);
    if (body != NULL)
        sq_resource_create(&req->cx, &sq_res_automation_rule, body, req->principal.id, sq_req_on_json_201, req);
}

/* PATCH /v1/admin/automation/rules/{id} */
void sq_h_rule_update(sq_req_t *req)
{
    const char *etag;
    const char *id = rule_id(req);
    if (id == NULL)
        return;
    if (sq_req_if_match(req, &etag) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *body = rule_body(req, false);
    if (body != NULL)
        sq_resource_update(&req->cx, &sq_res_automation_rule, id, body, etag, sq_req_on_json_200, req);
}

/* GET /v1/admin/automation/rules/{id}/runs */
static const char *const run_filters[] = {"state", NULL};
static const sq_filter_rule_t run_rules[] = {{"state", 16, sq_automation_run_states, NULL}, {NULL}};
static const sq_resource_t runs_q = {.filters = run_filters, .filter_rules = run_rules};

void sq_h_rule_runs(sq_req_t *req)
{
    sq_page_t page;
    const char *id = rule_id(req);
    if (id == NULL)
        return;
    if (sq_req_page(req, &page) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *values[1] = {sq_req_query(req, "state")};
    if (sq_resource_check_filters(&runs_q, values, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_automation_runs(&req->cx, id, &page, values[0], sq_req_on_list, req);
}

/* ---- dry runs ------------------------------------------------------------------------------------------------ */

/* the sample event: {"type": <a catalogue type> (optional), "data": {...}} */
static int check_event(sq_req_t *req, const json_t *ev)
{
    sq_err_t *err = &req->err;
    if (!json_is_object(ev))
        sq_err_field(err, "/event", "invalid_type", "the sample event is {\"type\": ..., \"data\": {...}}");
    else {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)ev, k, v)
        {
            if (strcmp(k, "type") != 0 && strcmp(k, "data") != 0) {
                char p[96];
                snprintf(p, sizeof(p), "/event/%s", k);
                sq_err_field(err, p, "unknown_field", "a sample event has type and data only");
            }
        }
        const json_t *t = json_object_get(ev, "type");
        if (t != NULL && (!json_is_string(t) || !sq_automation_event_known(json_string_value(t))))
            sq_err_field(err, "/event/type", "invalid_value", "is not an event type of the catalogue rules can react to");
        const json_t *d = json_object_get(ev, "data");
        if (d == NULL)
            sq_err_field(err, "/event/data", "required", "the event's data (its payload)");
        else if (!json_is_object(d))
            sq_err_field(err, "/event/data", "invalid_type", "data is an object");
    }
    if (err->nfields == 0)
        return 0;
    return sq_err_set(err, SQ_E_VALIDATION, "The sample event is invalid; see errors.");
}

static void on_dry_run(const char *json, const sq_err_t *err, void *data)
{
    sq_req_on_json_200(json, err, data);
}

/* POST /v1/admin/automation/rules/dry-run */
void sq_h_rule_dry_run(sq_req_t *req)
{
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 64);
    if (b == NULL || sq_json_decode(req->arena, b, sq_dry_run_fields, scratch, NULL, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    json_t *rule = json_object_get(b, "rule");
    if (!json_is_object(rule)) {
        sq_err_field(&req->err, "/rule", "invalid_type", "the rule as it would be created");
        sq_err_set(&req->err, SQ_E_VALIDATION, "The rule is invalid; see errors.");
        sq_req_fail(req);
        return;
    }
    /* the rule's errors point into the body: /rule/... */
    sq_err_t e;
    sq_err_clear(&e);
    if (sq_resource_validate(req->arena, &sq_res_automation_rule, rule, true, &e) != 0) {
        sq_err_copy(&req->err, &e);
        for (int i = 0; i < req->err.nfields; i++)
            snprintf(req->err.fields[i].pointer, sizeof(req->err.fields[i].pointer), "/rule%s", e.fields[i].pointer);
        sq_req_fail(req);
        return;
    }
    if (check_event(req, json_object_get(b, "event")) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_automation_dry_run(&req->cx, rule, json_object_get(b, "event"), on_dry_run, req);
}

typedef struct {
    sq_req_t *req;
    json_t *event;
} saved_t;

static void on_saved_rule(const char *json, const sq_err_t *err, void *data)
{
    saved_t *s = data;
    if (err != NULL) {
        sq_req_fail_with(s->req, err);
        return;
    }
    json_error_t je;
    json_t *rule = sq_json_own(s->req->arena, json_loads(json, 0, &je));
    sq_automation_dry_run(&s->req->cx, rule, s->event, on_dry_run, s->req);
}

/* POST /v1/admin/automation/rules/{id}/dry-run */
void sq_h_rule_dry_run_saved(sq_req_t *req)
{
    const char *id = rule_id(req);
    if (id == NULL)
        return;
    json_t *b = sq_req_body(req);
    char *scratch = sq_arena_zalloc(req->arena, 64);
    if (b == NULL || sq_json_decode(req->arena, b, sq_dry_run_saved_fields, scratch, NULL, &req->err) != 0 ||
        check_event(req, json_object_get(b, "event")) != 0) {
        sq_req_fail(req);
        return;
    }
    saved_t *s = SQ_NEW(req->arena, saved_t);
    s->req = req;
    s->event = json_object_get(b, "event");
    sq_resource_get(&req->cx, &sq_res_automation_rule, id, on_saved_rule, s);
}
