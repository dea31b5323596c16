/* tax.c: the bridge from core's tax interface (core/hooks.h) to a plugin providing tax:<id>. While an enabled plugin
 * provides tax, it replaces the built-in table provider for every cart: core asks sq_tax_plugins->current() on each
 * totalling, and calculate runs the plugin's tax_calculate(conf, req) in a coroutine with the cart's context (so it
 * may wait on souq.http.request). Tax is a required hook: a failure, a timeout or an answer that breaks the contract
 * fails the cart's totals (502 plugin-failed / 504 plugin-timeout), never a total computed without tax. Exact
 * inputs and outputs: sdk/lua/reference.md. */
#include <stdio.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/hooks.h"
#include "plugins/host/internal.h"

#define AMOUNT_MAX 1000000000000LL
#define LINES_MAX 4096

const char *const sq_pfn_names[] = {"tax_commit", "tax_void", "tax_refund", "tax_adjust", NULL}; /* (the SQ_PFN_ order) */

unsigned sq_pfn_bit(const char *fn)
{
    for (int i = 0; sq_pfn_names[i] != NULL; i++)
        if (strcmp(fn, sq_pfn_names[i]) == 0)
            return 1u << i;
    return 0;
}

/* The enabled plugin providing tax with the highest priority (its name in buf), or NULL; *fns its optional functions. */
static const char *tax_plugin_fns(char *buf, size_t len, unsigned *fns)
{
    sq_preg_t *r = sq_preg_acquire();
    const sq_pdef_t *best = NULL;
    for (int i = 0; r != NULL && i < r->n; i++) {
        const sq_pdef_t *d = r->defs[i];
        if (!d->enabled || (best != NULL && d->priority <= best->priority))
            continue;
        for (int j = 0; j < d->nprovides; j++)
            if (strncmp(d->provides[j], "tax:", 4) == 0)
                best = d;
    }
    const char *out = NULL;
    if (best != NULL) {
        snprintf(buf, len, "%s", best->name);
        out = buf;
        *fns = best->optional_fns;
    }
    sq_preg_unref(r);
    return out;
}

static const char *tax_plugin(char *buf, size_t len)
{
    unsigned fns;
    return tax_plugin_fns(buf, len, &fns);
}

static void calculate(sq_ctx_t *cx, const sq_tax_req_t *req, sq_tax_cb cb, void *data);

static const sq_tax_provider_t plugin_provider = {"plugin", calculate, NULL};

static const sq_tax_provider_t *current(void)
{
    char name[64];
    return tax_plugin(name, sizeof(name)) != NULL ? &plugin_provider : NULL;
}

static int defines(const char *plugin, const char *fn)
{
    sq_preg_t *r = sq_preg_acquire();
    int out = -1;
    for (int i = 0; r != NULL && i < r->n; i++)
        if (strcmp(r->defs[i]->name, plugin) == 0)
            out = (r->defs[i]->optional_fns & sq_pfn_bit(fn)) != 0;
    sq_preg_unref(r);
    return out;
}

/* tax_commit(conf, order), tax_void(conf, order), tax_refund(conf, order, refund), tax_adjust(conf, order): background
 * calls (the jobs of core/tax_commit_db.c), so the plugin's background budgets apply and souq.http may wait on the tax
 * service. */
static void record(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *doc, sq_action_answer_cb cb, void *data)
{
    json_t *args = json_array();
    json_array_append(args, json_object_get(doc, "order"));
    if (strcmp(fn, "tax_refund") == 0)
        json_array_append(args, json_object_get(doc, "refund"));
    sq_plugin_call_args(cx, plugin, fn, args, true, cb, data);
    json_decref(args);
}

static const sq_tax_plugins_t hooks = {current, defines, record};

void sq_tax_plugins_install(void)
{
    __atomic_store_n(&sq_tax_plugins, &hooks, __ATOMIC_RELEASE);
}

typedef struct {
    sq_ctx_t *cx;
    const char *plugin;
    bool commits; /* the plugin has tax_commit */
    int nitems;
    sq_tax_cb cb;
    void *data;
} call_t;

static void on_result(json_t *out, const sq_err_t *err, void *data)
{
    call_t *c = data;
    if (err != NULL) {
        c->cb(NULL, err, c->data);
        return;
    }
    json_t *lines = json_object_get(out, "lines");
    const char *why = NULL;
    char buf[160];
    if (!json_is_object(out) || !sq_plugin_is_list(lines))
        why = "the answer must be a table with lines (a list, possibly empty)";
    else if (json_array_size(lines) > LINES_MAX)
        why = "more than 4096 lines";
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        if (why != NULL)
            break;
        json_t *item = json_object_get(l, "item"), *amount = json_object_get(l, "amount"), *bp = json_object_get(l, "rate_bp");
        if (!json_is_integer(item) || json_integer_value(item) < 1 || json_integer_value(item) > c->nitems)
            why = "item must be the 1-based index of an item of the request";
        else if (!json_is_integer(amount) || json_integer_value(amount) < 0 || json_integer_value(amount) > AMOUNT_MAX)
            why = "amount must be an integer of minor units from 0 to 10^12";
        else if (!json_is_integer(bp) || json_integer_value(bp) < 0 || json_integer_value(bp) > 10000)
            why = "rate_bp must be an integer from 0 to 10000";
        else if (!sq_plugin_short_string(json_object_get(l, "code"), 64) ||
                 !sq_plugin_short_string(json_object_get(l, "name"), 256))
            why = "code (1-64 bytes) and name (1-256 bytes) must be strings";
        else if (json_object_get(l, "rate_id") != NULL && !sq_plugin_short_string(json_object_get(l, "rate_id"), 64))
            why = "rate_id must be a string of 1-64 bytes";
        if (why != NULL) {
            snprintf(buf, sizeof(buf), "lines[%zu]: %s", i + 1, why);
            why = buf;
        }
    }
    if (why != NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_plugin_reject(c->plugin, "tax_calculate", why, &e);
        c->cb(NULL, &e, c->data);
        return;
    }
    sq_arena_t *a = c->cx->arena;
    size_t n = json_array_size(lines);
    sq_tax_line_t *res_lines = sq_arena_alloc(a, sizeof(*res_lines) * (n ? n : 1));
    const char *default_id = sq_arena_printf(a, "plugin:%s", c->plugin);
    json_array_foreach(lines, i, l)
    {
        json_t *rid = json_object_get(l, "rate_id");
        res_lines[i] = (sq_tax_line_t){
            (int)json_integer_value(json_object_get(l, "item")) - 1, rid ? sq_arena_strdup(a, json_string_value(rid)) : default_id,
            sq_plugin_quoted(a, json_object_get(l, "code")),         sq_plugin_quoted(a, json_object_get(l, "name")),
            json_integer_value(json_object_get(l, "rate_bp")),       json_integer_value(json_object_get(l, "amount"))};
    }
    sq_tax_res_t res = {res_lines, (int)n, sq_arena_printf(a, "plugin:%s", c->plugin), c->commits};
    c->cb(&res, NULL, c->data);
}

static void calculate(sq_ctx_t *cx, const sq_tax_req_t *req, sq_tax_cb cb, void *data)
{
    char name[64];
    unsigned fns = 0;
    if (tax_plugin_fns(name, sizeof(name), &fns) == NULL) { /* disabled since the cart asked: the table, as if it had never been */
        sq_tax_table.calculate(cx, req, cb, data);
        return;
    }
    json_t *items = json_array(), *rates = json_array();
    for (int i = 0; i < req->nitems; i++)
        json_array_append_new(items,
                              json_pack("{s:i, s:s, s:I, s:I}", "item", i + 1, "tax_class", req->items[i].tax_class, "amount",
                                        (json_int_t)req->items[i].amount, "quantity", (json_int_t)req->items[i].quantity));
    for (int i = 0; i < req->nrates; i++) {
        const sq_tax_rate_t *r = &req->rates[i];
        json_t *code = json_loads(r->code_json, JSON_DECODE_ANY, NULL), *nm = json_loads(r->name_json, JSON_DECODE_ANY, NULL);
        json_array_append_new(rates, json_pack("{s:s, s:o?, s:o?, s:I, s:s, s:i}", "id", r->id, "code", code, "name", nm, "rate_bp",
                                               (json_int_t)r->rate_bp, "tax_class", r->tax_class, "level", r->level));
    }
    json_t *in =
        json_pack("{s:s, s:b, s:s?, s:s?, s:s?, s:o, s:o}", "currency", req->currency, "inclusive", req->inclusive, "region_id",
                  req->region_id, "country_code", req->country_code, "province", req->province, "items", items, "rates", rates);
    call_t *c = SQ_NEW(cx->arena, call_t);
    *c = (call_t){cx, sq_arena_strdup(cx->arena, name), (fns & SQ_PFN_TAX_COMMIT) != 0, req->nitems, cb, data};
    sq_plugin_call_cx(cx, name, "tax_calculate", in, false, on_result, c);
    json_decref(in);
}
