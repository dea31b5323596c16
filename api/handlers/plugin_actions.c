/* plugin_actions.c: POST /v1/admin/plugins/{name}/actions/{action}: runs a plugin's named automation action by hand
 * (plugins/host/actions.c), as the automation-rules engine runs it, under the plugin's background budgets. */
#include <stddef.h>

#include "api/handlers/handlers.h"
#include "core/hooks.h"
#include "core/plugin_sdk.h"
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
    if (req->h2o != NULL && req->h2o->entity.base != NULL && req->h2o->entity.len > 0 &&
        sq_req_json(req, run_fields, &in, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    run_t *r = SQ_NEW(req->arena, run_t);
    *r = (run_t){req, sq_req_param(req, "name"), sq_req_param(req, "action")};
    sq_plugin_run_action(&req->cx, r->plugin, r->action, in.input, on_ran, r);
}

/* ---- POST /v1/admin/plugins/{name}/reseal-secrets: a key rotation's second step ----------------------------------- */

typedef struct {
    sq_req_t *req;
    json_t *fields;
} reseal_t;

static void on_resealed(const char *json, const sq_err_t *err, void *data)
{
    reseal_t *r = data;
    sq_req_t *req = r->req;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_plugins_apply(sq_req_param(req, "name"), sq_json_own(req->arena, json_loads(json, 0, NULL)));
    sq_req_send_jansson(req, 200,
                        json_pack("{s:s, s:s, s:O}", "object", "plugin_secrets_reseal", "plugin", sq_req_param(req, "name"),
                                  "resealed", r->fields));
}

void sq_h_admin_plugin_reseal(sq_req_t *req)
{
    static const sq_field_t none[] = {{NULL}};
    char scratch[16];
    const char *name = sq_req_param(req, "name");
    if (req->h2o != NULL && req->h2o->entity.base != NULL && req->h2o->entity.len > 0 &&
        sq_req_json(req, none, scratch, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    json_t *p = sq_plugins_describe(name);
    if (p == NULL) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The plugin does not exist.");
        return;
    }
    json_decref(p);
    json_t *expect = NULL;
    json_t *set = sq_json_own(req->arena, sq_plugins_secrets_to_reseal(name, &expect));
    sq_json_own(req->arena, expect);
    reseal_t *r = SQ_NEW(req->arena, reseal_t);
    r->req = req;
    r->fields = sq_json_own(req->arena, json_array());
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v) json_array_append_new(r->fields, json_string(k));
    if (json_object_size(set) == 0) { /* nothing to do (or no key): answer at once */
        sq_req_send_jansson(req, 200,
                            json_pack("{s:s, s:s, s:O}", "object", "plugin_secrets_reseal", "plugin", name, "resealed", r->fields));
        return;
    }
    size_t len;
    sq_plugin_settings_reseal(&req->cx, name, sq_json_dump(req->arena, set, &len), sq_json_dump(req->arena, expect, &len),
                              on_resealed, r);
}

/* ---- GET /v1/store/payment-providers: what checkout accepts in the key's sales channel ---------------------------- */

void sq_h_store_payment_providers(sq_req_t *req)
{
    json_t *ids = sq_payment_provider_ids_for(req->principal.channel_id), *data = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) json_array_append_new(data, json_pack("{s:s, s:O}", "object", "payment_provider", "id", id));
    json_decref(ids);
    sq_req_send_jansson(req, 200, json_pack("{s:s, s:o, s:b, s:n}", "object", "list", "data", data, "has_more", 0, "next_cursor"));
}
