/* adjust.c: the bridge from core's cart pricing adjustments interface (core/hooks.h) to plugins providing pricing:<id>.
 * Core asks active() on every cart computation, so it answers from a thread-local count kept per registry generation
 * (one atomic load when nothing changed: no lock, no allocation). adjust runs the plugin's pricing_adjust(conf, cart) in a
 * coroutine with the cart's context (so it may wait on souq.http.request) and checks the answer's contract. An optional
 * hook: a failure or a bad answer is logged and counted by the call machinery (sq_plugin_reject for the contract), and
 * core goes on without that plugin's adjustments. Exact inputs and outputs: sdk/lua/reference.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/util.h"
#include "core/hooks.h"
#include "plugins/host/internal.h"

#define ADJUSTMENTS_MAX 1024
#define CODE_MAX 64
#define DESCRIPTION_MAX 256

static bool provides_pricing(const sq_pdef_t *d)
{
    for (int j = 0; j < d->nprovides; j++)
        if (strncmp(d->provides[j], "pricing:", 8) == 0)
            return true;
    return false;
}

static __thread uint64_t seen_gen = UINT64_MAX;
static __thread int seen_count;

static bool active(void)
{
    uint64_t g = sq_preg_generation();
    if (g == seen_gen)
        return seen_count > 0;
    sq_preg_t *r = sq_preg_acquire(); /* a new generation (a reload, a PATCH): count again, once per thread */
    int n = 0;
    for (int i = 0; r != NULL && i < r->n; i++)
        n += r->defs[i]->enabled && provides_pricing(r->defs[i]);
    sq_preg_unref(r);
    seen_count = n;
    seen_gen = g; /* the registry read may be newer than g: the next call then counts once more */
    return n > 0;
}

typedef struct {
    const char *name;
    int priority;
} cand_t;

static int by_priority(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return strcmp(x->name, y->name);
}

static const char **providers(sq_arena_t *a, const char *channel_id)
{
    sq_preg_t *r = sq_preg_acquire();
    int n = 0, cap = r != NULL ? r->n : 0;
    cand_t *c = sq_arena_alloc(a, sizeof(*c) * (size_t)(cap > 0 ? cap : 1));
    for (int i = 0; i < cap; i++) {
        const sq_pdef_t *d = r->defs[i];
        if (d->enabled && provides_pricing(d) && sq_pdef_serves(d, channel_id)) /* the plugin's sales_channels setting */
            c[n++] = (cand_t){sq_arena_strdup(a, d->name), d->priority};
    }
    sq_preg_unref(r);
    qsort(c, (size_t)n, sizeof(*c), by_priority);
    const char **out = sq_arena_alloc(a, sizeof(*out) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        out[i] = c[i].name;
    out[n] = NULL;
    return out;
}

typedef struct {
    sq_ctx_t *cx;
    const char *plugin;
    const sq_adjust_req_t *req;
    sq_adjust_cb cb;
    void *data;
} call_t;

/* Why the answer breaks the contract (in buf), or NULL. */
static const char *check(const call_t *c, json_t *out, json_t *list, char *buf, size_t len)
{
    if (!json_is_object(out) || !sq_plugin_is_list(list))
        return "the answer must be nil or a table with adjustments (a list, possibly empty)";
    if (json_array_size(list) > ADJUSTMENTS_MAX)
        return "more than 1024 adjustments";
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        json_t *item = json_object_get(x, "item"), *amount = json_object_get(x, "amount"),
               *desc = json_object_get(x, "description");
        const char *why = NULL;
        if (!json_is_object(x))
            why = "must be a table";
        else if (!json_is_integer(item) || json_integer_value(item) < 1 || json_integer_value(item) > c->req->nlines)
            why = "item must be the 1-based index of an item of the cart given";
        else if (!json_is_integer(amount) || json_integer_value(amount) < 1 ||
                 json_integer_value(amount) > c->req->lines[json_integer_value(item) - 1].subtotal)
            why = "amount must be an integer of minor units from 1 to the item's subtotal";
        else if (!sq_plugin_short_string(json_object_get(x, "code"), CODE_MAX))
            why = "code must be a string of 1-64 bytes";
        else if (desc != NULL && !sq_plugin_short_string(desc, DESCRIPTION_MAX))
            why = "description must be a string of 1-256 bytes";
        if (why != NULL) {
            snprintf(buf, len, "adjustments[%zu]: %s", i + 1, why);
            return buf;
        }
    }
    return NULL;
}

static void on_result(json_t *out, const sq_err_t *err, void *data)
{
    call_t *c = data;
    if (err != NULL) { /* logged and counted by the call machinery */
        c->cb(NULL, c->data);
        return;
    }
    sq_adjust_res_t res = {c->plugin, NULL, 0};
    if (json_is_null(out)) { /* nil: nothing for this cart */
        c->cb(&res, c->data);
        return;
    }
    json_t *list = json_object_get(out, "adjustments");
    char buf[160];
    const char *why = check(c, out, list, buf, sizeof(buf));
    if (why != NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_plugin_reject(c->plugin, "pricing_adjust", why, &e);
        c->cb(NULL, c->data);
        return;
    }
    sq_arena_t *a = c->cx->arena;
    size_t n = json_array_size(list), i;
    sq_adjustment_t *adjs = sq_arena_alloc(a, sizeof(*adjs) * (n ? n : 1));
    json_t *x;
    json_array_foreach(list, i, x)
    {
        json_t *code = json_object_get(x, "code"), *desc = json_object_get(x, "description");
        adjs[i] = (sq_adjustment_t){(int)json_integer_value(json_object_get(x, "item")) - 1,
                                    json_integer_value(json_object_get(x, "amount")), sq_plugin_quoted(a, code),
                                    sq_plugin_quoted(a, desc != NULL ? desc : code)};
    }
    res.adjs = adjs;
    res.nadjs = (int)n;
    c->cb(&res, c->data);
}

/* What the plugin sees of the cart (copies; never its addresses, email or secrets). */
static json_t *cart_input(const sq_adjust_req_t *req)
{
    json_t *cart = req->cart_json != NULL ? json_loads(req->cart_json, 0, NULL) : NULL;
    json_t *groups = json_array(), *items = json_array();
    char *g = req->groups != NULL ? sq_xstrdup(req->groups) : NULL, *save = NULL;
    for (char *tok = g ? strtok_r(g, ",", &save) : NULL; tok != NULL; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(groups, json_string(tok));
    free(g);
    for (int i = 0; i < req->nlines; i++) {
        const sq_adjust_line_t *l = &req->lines[i];
        json_t *lj = l->json != NULL ? json_loads(l->json, 0, NULL) : NULL;
        json_array_append_new(items,
                              json_pack("{s:i, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:I, s:I, s:I, s:I}", "item", i + 1, "id",
                                        json_object_get(lj, "id"), "variant_id", json_object_get(lj, "variant_id"), "product_id",
                                        json_object_get(lj, "product_id"), "sku", json_object_get(lj, "sku"), "title",
                                        json_object_get(lj, "title"), "variant_title", json_object_get(lj, "variant_title"),
                                        "quantity", (json_int_t)l->quantity, "unit_price", (json_int_t)l->unit_price, "subtotal",
                                        (json_int_t)l->subtotal, "discount_total", (json_int_t)l->discount_total));
        json_decref(lj);
    }
    json_t *in = json_pack("{s:O?, s:s?, s:s?, s:s?, s:O?, s:o, s:o, s:I, s:I}", "cart_id", json_object_get(cart, "id"), "currency",
                           req->currency, "region_id", req->region_id, "sales_channel_id", req->channel_id, "customer_id",
                           json_object_get(cart, "customer_id"), "customer_group_ids", groups, "items", items, "item_subtotal",
                           (json_int_t)req->item_subtotal, "discount_total", (json_int_t)req->discount_total);
    json_decref(cart);
    return in;
}

static void adjust(sq_ctx_t *cx, const char *plugin, const sq_adjust_req_t *req, sq_adjust_cb cb, void *data)
{
    json_t *in = cart_input(req);
    call_t *c = SQ_NEW(cx->arena, call_t);
    *c = (call_t){cx, sq_arena_strdup(cx->arena, plugin), req, cb, data};
    sq_plugin_call_cx(cx, plugin, "pricing_adjust", in, false, on_result, c);
    json_decref(in);
}

static const sq_pricing_plugins_t hooks = {active, providers, adjust};

void sq_pricing_plugins_install(void)
{
    __atomic_store_n(&sq_pricing_plugins, &hooks, __ATOMIC_RELEASE);
}
