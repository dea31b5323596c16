/* jobs.c: durable jobs in the admin API (core/jobs.h) and the abandoned-cart recovery report. Reads need events:read;
 * retry and cancel need settings:write (operating the queue is store administration; no narrower scope exists). */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/base/id.h"
#include "core/jobs.h"

static bool kind_valid(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 64 || !(v[0] >= 'a' && v[0] <= 'z'))
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'))
            return false;
    return true;
}

static const char *const job_filters[] = {"state", "kind", NULL};
static const sq_filter_rule_t job_rules[] = {{"state", 16, sq_job_states, NULL}, {"kind", 64, NULL, kind_valid}, {NULL}};
static const sq_resource_t jobs_q = {.filters = job_filters, .filter_rules = job_rules};

void sq_h_job_list(sq_req_t *req)
{
    sq_page_t page;
    if (sq_req_page(req, &page) != 0) {
        sq_req_fail(req);
        return;
    }
    const char *values[2] = {sq_req_query(req, "state"), sq_req_query(req, "kind")};
    if (sq_resource_check_filters(&jobs_q, values, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_jobs_list(&req->cx, &page, values[0], values[1], sq_req_on_list, req);
}

static void on_job(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The job does not exist.");
        return;
    }
    sq_req_on_json_200(json, err, data);
}

static const char *job_id(sq_req_t *req)
{
    const char *id = sq_req_param(req, "id");
    if (!sq_id_valid("job", id)) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The job does not exist.");
        return NULL;
    }
    return id;
}

void sq_h_job_get(sq_req_t *req)
{
    const char *id = job_id(req);
    if (id != NULL)
        sq_job_get(&req->cx, id, on_job, req);
}

/* retry and cancel take no options: an empty body or {}; anything else is refused (400 or 422) */
static void move(sq_req_t *req, const char *what)
{
    /* the body first (as every body route): a malformed one is 400 whatever the id */
    if (req->h2o->entity.base != NULL && req->h2o->entity.len > 0) {
        static const sq_field_t none[] = {{NULL}};
        json_t *b = sq_req_body(req);
        if (b == NULL || sq_json_decode(req->arena, b, none, NULL, NULL, &req->err) != 0) {
            sq_req_fail(req);
            return;
        }
    }
    const char *id = job_id(req);
    if (id != NULL)
        sq_job_move(&req->cx, id, what, on_job, req);
}

void sq_h_job_retry(sq_req_t *req)
{
    move(req, "retry");
}

void sq_h_job_cancel(sq_req_t *req)
{
    move(req, "cancel");
}

void sq_h_abandoned_carts_report(sq_req_t *req)
{
    sq_abandoned_carts_report(&req->cx, sq_req_on_json_200, req);
}
