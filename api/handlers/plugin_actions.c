/* plugin_actions.c: POST /v1/admin/plugins/{name}/actions/{action}: runs a plugin's named automation action by hand
 * (plugins/host/actions.c), as the automation-rules engine runs it, under the plugin's background budgets. */
#include <stddef.h>

#include "api/handlers/handlers.h"
#include "plugins/host/host.h"

typedef struct {
    json_t *input;
} run_in_t;

static const char *check_object(const json_t *v, const char **code)
{
    if (json_is_object(v))
        return NULL;
    *code = "invalid_type";
    return "Must be an object.";
}

static const sq_field_t run_fields[] = {
    {"input", SQ_FT_JSON, 0, offsetof(run_in_t, input), 0, 0, NULL, check_object, NULL},
    {NULL},
};

typedef struct {
    sq_req_t *req;
    const char *plugin, *action;
} run_t;

static void on_ran(json_t *out, const sq_err_t *err, void *data)
{
    run_t *r = data;
    if (err != NULL) {
        sq_req_fail_with(r->req, err);
        return;
    }
    sq_req_send_jansson(r->req, 200,
                        json_pack("{s:s, s:s, s:s, s:O}", "object", "plugin_action_run", "plugin", r->plugin, "action", r->action,
                                  "output", out ? out : json_null()));
}

void sq_h_admin_plugin_action_run(sq_req_t *req)
{
    run_in_t in = {0};
    if (req->h2o != NULL && req->h2o->entity.base != NULL && req->h2o->entity.len > 0 && sq_req_json(req, run_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    run_t *r = SQ_NEW(req->arena, run_t);
    *r = (run_t){req, sq_req_param(req, "name"), sq_req_param(req, "action")};
    sq_plugin_run_action(&req->cx, r->plugin, r->action, in.input, on_ran, r);
}
