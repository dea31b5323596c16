/* actions.c: named automation actions. A manifest lists them ("actions": name -> {description, input}); the handler
 * implements each as action_<name>(conf, input). sq_plugin_run_action validates the input against the action's schema
 * and runs it under the background budgets (the automation-rules engine calls it; POST
 * /v1/admin/plugins/{name}/actions/{action} runs one by hand). The channel rules of plugins (plugin_settings.
 * sales_channels) are here too. */
#include <stdio.h>
#include <string.h>

#include "core/base/util.h"
#include "core/hooks.h"
#include "plugins/host/internal.h"

/* Checks input (an object, NULL = {}) against an action's input schema (the manifest's field shape, as settings): a new
 * reference to the input with defaults filled in, or NULL with err set (pointers /input/<field>). */
static json_t *check_input(const char *plugin, const char *action, const json_t *schema, const json_t *input, sq_err_t *err)
{
    char owner[160];
    snprintf(owner, sizeof(owner), "The %s action of %s takes no input", action, plugin);
    return sq_pschema_check(schema, input, "/input", "input", owner, err);
}

typedef struct {
    sq_plugin_action_cb cb;
    void *data;
} run_t;

static void on_ran(json_t *out, const sq_err_t *err, void *data)
{
    run_t r = *(run_t *)data;
    free(data);
    r.cb(out, err, r.data);
}

/* The enabled definition of plugin with the action, its input checked: the input to pass (a new reference), or NULL
 * with err set. r must be held by the caller. */
static json_t *checked(sq_preg_t *r, const char *plugin, const char *action, const json_t *input, sq_err_t *err)
{
    const sq_pdef_t *d = NULL;
    for (int i = 0; r != NULL && i < r->n && d == NULL; i++)
        if (strcmp(r->defs[i]->name, plugin) == 0)
            d = r->defs[i];
    if (d == NULL || !d->enabled) {
        sq_err_set(err, SQ_E_NOT_FOUND, "No enabled plugin has this name.");
        return NULL;
    }
    json_t *a = d->actions != NULL ? json_object_get(d->actions, action) : NULL;
    if (a == NULL) {
        sq_err_set(err, SQ_E_NOT_FOUND, "The %s plugin has no action of this name.", d->name);
        return NULL;
    }
    json_t *schema = json_object_get(a, "input"), *empty = json_object();
    json_t *in = check_input(d->name, action, schema ? schema : empty, input, err);
    json_decref(empty);
    return in;
}

int sq_plugin_action_check(const char *plugin, const char *action, const json_t *input, sq_err_t *err)
{
    sq_preg_t *r = sq_preg_acquire();
    json_t *in = checked(r, plugin, action, input, err);
    sq_preg_unref(r);
    json_decref(in);
    return in != NULL ? 0 : -1;
}

void sq_plugin_run_action(sq_ctx_t *cx, const char *plugin, const char *action, const json_t *input, sq_plugin_action_cb cb,
                          void *data)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_preg_t *r = sq_preg_acquire();
    json_t *in = checked(r, plugin, action, input, &e);
    sq_preg_unref(r);
    if (in == NULL) {
        cb(NULL, &e, data);
        return;
    }
    char fn[64];
    snprintf(fn, sizeof(fn), "action_%s", action);
    run_t *run = sq_xmalloc(sizeof(*run));
    *run = (run_t){cb, data};
    sq_plugin_call_cx(cx, plugin, fn, in, true, on_ran, run);
    json_decref(in);
}

json_t *sq_plugin_actions_describe(const sq_pdef_t *d)
{
    json_t *list = json_array();
    const char *k;
    json_t *a;
    json_object_foreach(d->actions, k, a)
    {
        json_t *schema = json_object(), *f;
        const char *fk;
        json_object_foreach(json_object_get(a, "input"), fk, f)
        {
            json_t *fs = json_deep_copy(f); /* the shape of config_schema's fields: required and secret always there */
            json_object_set_new(fs, "required", json_boolean(json_is_true(json_object_get(f, "required"))));
            json_object_set_new(fs, "secret", json_false());
            json_object_set_new(schema, fk, fs);
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "name", k, "description",
                                              json_string_value(json_object_get(a, "description")), "input_schema", schema));
    }
    return list;
}

json_t *sq_plugin_actions_list(void)
{
    json_t *out = json_array();
    sq_preg_t *r = sq_preg_acquire();
    for (int i = 0; r != NULL && i < r->n; i++) {
        if (!r->defs[i]->enabled)
            continue;
        json_t *list = sq_plugin_actions_describe(r->defs[i]), *a;
        size_t k;
        json_array_foreach(list, k, a)
        {
            json_object_set_new(a, "plugin", json_string(r->defs[i]->name));
            json_array_append(out, a);
        }
        json_decref(list);
    }
    sq_preg_unref(r);
    return out;
}

/* ---- sales channels --------------------------------------------------------------------------------------------- */

bool sq_pdef_serves(const sq_pdef_t *d, const char *channel_id)
{
    if (d->channels == NULL || channel_id == NULL)
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(d->channels, i, v) if (json_is_string(v) && strcmp(json_string_value(v), channel_id) == 0) return true;
    return false;
}

bool sq_plugin_serves_channel(const char *plugin, const char *channel_id)
{
    sq_preg_t *r = sq_preg_acquire();
    bool on = false;
    for (int i = 0; r != NULL && i < r->n; i++)
        if (strcmp(r->defs[i]->name, plugin) == 0)
            on = r->defs[i]->enabled && sq_pdef_serves(r->defs[i], channel_id);
    sq_preg_unref(r);
    return on;
}

json_t *sq_plugin_provides(const char *plugin, const char *kind)
{
    json_t *out = json_array();
    size_t kl = strlen(kind);
    sq_preg_t *r = sq_preg_acquire();
    for (int i = 0; r != NULL && i < r->n; i++)
        if (strcmp(r->defs[i]->name, plugin) == 0)
            for (int j = 0; j < r->defs[i]->nprovides; j++)
                if (strncmp(r->defs[i]->provides[j], kind, kl) == 0 && r->defs[i]->provides[j][kl] == ':')
                    json_array_append_new(out, json_string(r->defs[i]->provides[j] + kl + 1));
    sq_preg_unref(r);
    return out;
}

/* ---- the hooks core sees (core/hooks.h) ------------------------------------------------------------------------ */

static bool action_exists(const char *plugin, const char *action)
{
    json_t *list = sq_plugin_actions_list(), *a;
    size_t i;
    bool found = false;
    json_array_foreach(list, i, a) found = found || (strcmp(json_string_value(json_object_get(a, "plugin")), plugin) == 0 &&
                                                      strcmp(json_string_value(json_object_get(a, "name")), action) == 0);
    json_decref(list);
    return found;
}

static const sq_plugin_action_hooks_t action_hooks = {action_exists, sq_plugin_action_check, sq_plugin_run_action};

void sq_plugin_actions_install(void)
{
    __atomic_store_n(&sq_plugin_action_hooks, &action_hooks, __ATOMIC_RELEASE);
}
