/* plugins.c: the plugin admin API: list and read plugins, change their settings (enabled, config validated against
 * the manifest schema; secret values are write-only), and reload the plugin folders. */
#include <stddef.h>
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/plugin.h"
#include "plugins/host/host.h"

static const char *plugin_name(sq_req_t *req)
{
    return sq_req_param(req, "name");
}

void sq_h_admin_plugin_list(sq_req_t *req)
{
    sq_req_send_jansson(req, 200, sq_plugins_describe(NULL));
}

void sq_h_admin_plugin_get(sq_req_t *req)
{
    json_t *p = sq_plugins_describe(plugin_name(req));
    if (p == NULL) {
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The plugin does not exist.");
        return;
    }
    sq_req_send_jansson(req, 200, p);
}

/* ---- PATCH: settings ------------------------------------------------------------------------------------------- */

typedef struct {
    bool enabled;
    json_t *config;
} patch_t;

static const char *check_object(const json_t *v, const char **code)
{
    if (json_is_object(v))
        return NULL;
    *code = "invalid_type";
    return "Must be an object.";
}

static const sq_field_t patch_fields[] = {
    {"enabled", SQ_FT_BOOL, 0, offsetof(patch_t, enabled), 0, 0, NULL, NULL, NULL},
    {"config", SQ_FT_JSON, 0, offsetof(patch_t, config), 0, 0, NULL, check_object, NULL},
    {NULL},
};

static void on_stored(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    json_t *setting = sq_json_own(req->arena, json_loads(json, 0, NULL));
    const char *name = plugin_name(req);
    sq_plugins_apply(name, setting); /* this node at once; other nodes at their next reload */
    json_t *p = sq_plugins_describe(name);
    if (p == NULL) { /* removed by a reload meanwhile */
        sq_req_fail_code(req, SQ_E_NOT_FOUND, "The plugin does not exist.");
        return;
    }
    sq_req_send_jansson(req, 200, p);
}

void sq_h_admin_plugin_update(sq_req_t *req)
{
    patch_t in = {0};
    uint64_t present = 0;
    if (sq_req_json(req, patch_fields, &in, &present) != 0) {
        sq_req_fail(req);
        return;
    }
    json_t *set = NULL, *unset = NULL;
    json_t *enabled = (present & 1) ? sq_json_own(req->arena, json_boolean(in.enabled)) : NULL;
    if (sq_plugins_check_patch(plugin_name(req), enabled, (present & 2) ? in.config : NULL, &set, &unset, &req->err) != 0) {
        sq_req_fail(req);
        return;
    }
    size_t len;
    const char *set_json = sq_json_dump(req->arena, set, &len), *unset_json = sq_json_dump(req->arena, unset, &len);
    json_decref(set);
    json_decref(unset);
    sq_plugin_settings_put(&req->cx, plugin_name(req), enabled ? (in.enabled ? "true" : "false") : NULL, set_json, unset_json,
                           on_stored, req);
}

/* ---- POST reload ----------------------------------------------------------------------------------------------- */

typedef struct {
    sq_req_t *req;
    const char *dirs;
    json_t *report;
} reload_t;

static void reload_work(void *data)
{
    reload_t *r = data;
    r->report = sq_plugins_reload(r->dirs); /* on the pool: reads files and compiles */
}

static void reload_done(void *data)
{
    reload_t *r = data;
    json_object_set_new(r->report, "object", json_string("plugin_reload"));
    sq_req_send_jansson(r->req, 200, r->report);
}

static void on_settings(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_plugins_set_settings(sq_json_own(req->arena, json_loads(json, 0, NULL)));
    reload_t *r = SQ_NEW(req->arena, reload_t);
    r->req = req;
    r->dirs = sq_arena_strdup(req->arena, req->rt->cfg->plugin_dirs);
    req->cx.offload(&req->cx, reload_work, reload_done, r);
}

void sq_h_admin_plugin_reload(sq_req_t *req)
{
    static const sq_field_t none[] = {{NULL}};
    char scratch[16];
    if (req->h2o != NULL && req->h2o->entity.base != NULL && req->h2o->entity.len > 0 &&
        sq_req_json(req, none, scratch, NULL) != 0) {
        sq_req_fail(req);
        return;
    }
    sq_plugin_settings_list(&req->cx, on_settings, req);
}
