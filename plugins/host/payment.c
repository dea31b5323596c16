/* payment.c: the bridge from core's payment interface (core/hooks.h) to plugins providing payment:<id>. Each
 * id gets a provider struct that lives as long as the process (checkout holds the pointer across its steps), whose
 * functions run the current plugin's payment_authorize/capture/cancel/refund. The interface passes no provider
 * pointer, so each of the SLOTS structs has its own small trampolines. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/hooks.h"
#include "plugins/host/internal.h"

#define SLOTS 32

typedef enum { OP_AUTHORIZE, OP_CAPTURE, OP_CANCEL, OP_REFUND } op_t;
static const char *const fn_names[] = {"payment_authorize", "payment_capture", "payment_cancel", "payment_refund"};

typedef struct {
    char id[64];
    sq_payment_provider_t prov;
    uint64_t fields_gen; /* the registry generation data_fields were built for */
} pslot_t;

static pslot_t pslots[SLOTS];
static int npslots;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void pay(int slot, op_t op, sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data);

#define TRAMP(n)                                                                                                                   \
    static void pay_authorize_##n(sq_ctx_t *cx, const sq_pay_req_t *r, sq_pay_cb cb, void *d)                                      \
    {                                                                                                                              \
        pay(n, OP_AUTHORIZE, cx, r, cb, d);                                                                                        \
    }                                                                                                                              \
    static void pay_capture_##n(sq_ctx_t *cx, const sq_pay_req_t *r, sq_pay_cb cb, void *d)                                        \
    {                                                                                                                              \
        pay(n, OP_CAPTURE, cx, r, cb, d);                                                                                          \
    }                                                                                                                              \
    static void pay_cancel_##n(sq_ctx_t *cx, const sq_pay_req_t *r, sq_pay_cb cb, void *d)                                         \
    {                                                                                                                              \
        pay(n, OP_CANCEL, cx, r, cb, d);                                                                                           \
    }                                                                                                                              \
    static void pay_refund_##n(sq_ctx_t *cx, const sq_pay_req_t *r, sq_pay_cb cb, void *d)                                         \
    {                                                                                                                              \
        pay(n, OP_REFUND, cx, r, cb, d);                                                                                           \
    }
TRAMP(0)
TRAMP(1)
TRAMP(2)
TRAMP(3)
TRAMP(4)
TRAMP(5)
TRAMP(6)
TRAMP(7)
TRAMP(8)
TRAMP(9)
TRAMP(10)
TRAMP(11)
TRAMP(12)
TRAMP(13)
TRAMP(14)
TRAMP(15)
TRAMP(16)
TRAMP(17)
TRAMP(18)
TRAMP(19)
TRAMP(20)
TRAMP(21)
TRAMP(22)
TRAMP(23)
TRAMP(24)
TRAMP(25)
TRAMP(26)
TRAMP(27)
TRAMP(28)
TRAMP(29)
TRAMP(30)
TRAMP(31)

typedef void (*pay_fn)(sq_ctx_t *, const sq_pay_req_t *, sq_pay_cb, void *);
static const struct {
    pay_fn authorize, capture, cancel, refund;
} tramps[SLOTS] = {{pay_authorize_0, pay_capture_0, pay_cancel_0, pay_refund_0},
                   {pay_authorize_1, pay_capture_1, pay_cancel_1, pay_refund_1},
                   {pay_authorize_2, pay_capture_2, pay_cancel_2, pay_refund_2},
                   {pay_authorize_3, pay_capture_3, pay_cancel_3, pay_refund_3},
                   {pay_authorize_4, pay_capture_4, pay_cancel_4, pay_refund_4},
                   {pay_authorize_5, pay_capture_5, pay_cancel_5, pay_refund_5},
                   {pay_authorize_6, pay_capture_6, pay_cancel_6, pay_refund_6},
                   {pay_authorize_7, pay_capture_7, pay_cancel_7, pay_refund_7},
                   {pay_authorize_8, pay_capture_8, pay_cancel_8, pay_refund_8},
                   {pay_authorize_9, pay_capture_9, pay_cancel_9, pay_refund_9},
                   {pay_authorize_10, pay_capture_10, pay_cancel_10, pay_refund_10},
                   {pay_authorize_11, pay_capture_11, pay_cancel_11, pay_refund_11},
                   {pay_authorize_12, pay_capture_12, pay_cancel_12, pay_refund_12},
                   {pay_authorize_13, pay_capture_13, pay_cancel_13, pay_refund_13},
                   {pay_authorize_14, pay_capture_14, pay_cancel_14, pay_refund_14},
                   {pay_authorize_15, pay_capture_15, pay_cancel_15, pay_refund_15},
                   {pay_authorize_16, pay_capture_16, pay_cancel_16, pay_refund_16},
                   {pay_authorize_17, pay_capture_17, pay_cancel_17, pay_refund_17},
                   {pay_authorize_18, pay_capture_18, pay_cancel_18, pay_refund_18},
                   {pay_authorize_19, pay_capture_19, pay_cancel_19, pay_refund_19},
                   {pay_authorize_20, pay_capture_20, pay_cancel_20, pay_refund_20},
                   {pay_authorize_21, pay_capture_21, pay_cancel_21, pay_refund_21},
                   {pay_authorize_22, pay_capture_22, pay_cancel_22, pay_refund_22},
                   {pay_authorize_23, pay_capture_23, pay_cancel_23, pay_refund_23},
                   {pay_authorize_24, pay_capture_24, pay_cancel_24, pay_refund_24},
                   {pay_authorize_25, pay_capture_25, pay_cancel_25, pay_refund_25},
                   {pay_authorize_26, pay_capture_26, pay_cancel_26, pay_refund_26},
                   {pay_authorize_27, pay_capture_27, pay_cancel_27, pay_refund_27},
                   {pay_authorize_28, pay_capture_28, pay_cancel_28, pay_refund_28},
                   {pay_authorize_29, pay_capture_29, pay_cancel_29, pay_refund_29},
                   {pay_authorize_30, pay_capture_30, pay_cancel_30, pay_refund_30},
                   {pay_authorize_31, pay_capture_31, pay_cancel_31, pay_refund_31}};

static const char *check_object(const json_t *v, const char **code)
{
    if (json_is_object(v))
        return NULL;
    *code = "invalid_type";
    return "Must be an object.";
}

/* The checkout's rules for the buyer's payment data, from the manifest's payment_data (each field validated, the
 * value handed on as JSON: offsets are all 0 because nothing is decoded into a struct). Never freed: checkouts in
 * flight may hold the previous array. */
static const sq_field_t *data_fields(const sq_pdef_t *d)
{
    if (d->payment_data == NULL)
        return NULL;
    size_t n = json_object_size(d->payment_data), i = 0;
    sq_field_t *f = sq_xcalloc(n + 1, sizeof(*f));
    const char *k;
    json_t *v;
    json_object_foreach(d->payment_data, k, v)
    {
        const char *type = json_string_value(json_object_get(v, "type"));
        f[i].name = sq_xstrdup(k);
        f[i].flags = json_is_true(json_object_get(v, "required")) ? SQ_F_REQUIRED : 0;
        if (strcmp(type, "string") == 0) {
            f[i].type = SQ_FT_STR;
            json_t *ml = json_object_get(v, "max_length");
            f[i].max = ml ? json_integer_value(ml) : 256;
        } else if (strcmp(type, "integer") == 0) {
            f[i].type = SQ_FT_INT;
            json_t *mn = json_object_get(v, "min"), *mx = json_object_get(v, "max");
            f[i].min = mn ? json_integer_value(mn) : INT64_MIN;
            f[i].max = mx ? json_integer_value(mx) : INT64_MAX;
        } else if (strcmp(type, "boolean") == 0) {
            f[i].type = SQ_FT_BOOL;
        } else if (strcmp(type, "string[]") == 0) {
            f[i].type = SQ_FT_STR_ARRAY;
            f[i].max = 64;
        } else {
            f[i].type = SQ_FT_JSON;
            f[i].check = check_object;
        }
        i++;
    }
    return f;
}

/* The definition providing payment:<id> now, with a reference to the registry (drop it), or NULL. */
static const sq_pdef_t *provider_def(const char *id, sq_preg_t **reg)
{
    char name[64];
    *reg = NULL;
    if (sq_plugin_provider_of("payment", id, name, sizeof(name)) == NULL)
        return NULL;
    sq_preg_t *r = sq_preg_acquire();
    for (int i = 0; r != NULL && i < r->n; i++)
        if (strcmp(r->defs[i]->name, name) == 0) {
            *reg = r;
            return r->defs[i];
        }
    sq_preg_unref(r);
    return NULL;
}

static const sq_payment_provider_t *lookup(const char *id)
{
    sq_preg_t *reg;
    const sq_pdef_t *d = provider_def(id, &reg);
    if (d == NULL)
        return NULL;
    const sq_payment_provider_t *out = NULL;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < npslots && strcmp(pslots[i].id, id) != 0)
        i++;
    if (i == npslots && npslots < SLOTS && strlen(id) < sizeof(pslots[i].id)) {
        pslot_t *s = &pslots[npslots++];
        snprintf(s->id, sizeof(s->id), "%s", id);
        s->prov.id = s->id;
        s->prov.authorize = tramps[i].authorize;
        s->prov.capture = tramps[i].capture;
        s->prov.cancel = tramps[i].cancel;
        s->prov.refund = tramps[i].refund;
    }
    if (i < npslots) {
        pslot_t *s = &pslots[i];
        if (s->fields_gen != reg->generation) {
            s->prov.data_fields = data_fields(d);
            s->fields_gen = reg->generation;
        }
        out = &s->prov;
    } else {
        sq_log(SQ_LOG_ERROR, "plugin", "payment provider %s from plugin %s not registered: more than %d plugin payment ids", id,
               d->name, SLOTS);
    }
    pthread_mutex_unlock(&lock);
    sq_preg_unref(reg);
    return out;
}

static void ids(char *buf, size_t len)
{
    sq_preg_t *r = sq_preg_acquire();
    for (int i = 0; r != NULL && i < r->n; i++) {
        const sq_pdef_t *d = r->defs[i];
        for (int j = 0; d->enabled && j < d->nprovides; j++) {
            const char *id = d->provides[j] + 8;
            if (strncmp(d->provides[j], "payment:", 8) != 0 || sq_payment_builtin(id) != NULL)
                continue;
            size_t n = strlen(buf);
            snprintf(buf + n, len - n, ", %s", id);
        }
    }
    sq_preg_unref(r);
}

/* A plugin restricted to some sales channels (plugin_settings.sales_channels, actions.c) takes no payments in others. */
static bool serves(const char *id, const char *channel_id)
{
    char name[64];
    if (sq_plugin_provider_of("payment", id, name, sizeof(name)) == NULL)
        return true; /* a built-in */
    return sq_plugin_serves_channel(name, channel_id);
}

static const sq_payment_plugins_t hooks = {lookup, ids, serves};

void sq_payment_plugins_install(void)
{
    __atomic_store_n(&sq_payment_plugins, &hooks, __ATOMIC_RELEASE);
}

/* ---- a call ------------------------------------------------------------------------------------------------------- */

typedef struct {
    sq_ctx_t *cx;
    op_t op;
    const char *plugin;
    sq_pay_cb cb;
    void *data;
} call_t;

static const struct {
    const char *name;
    sq_pay_status_t st;
} statuses[] = {{"authorized", SQ_PAY_AUTHORIZED}, {"captured", SQ_PAY_CAPTURED},
                {"pending", SQ_PAY_PENDING},       {"requires_action", SQ_PAY_REQUIRES_ACTION},
                {"declined", SQ_PAY_DECLINED},     {"voided", SQ_PAY_VOIDED},
                {"refunded", SQ_PAY_REFUNDED}};

/* Which answers each operation may give (core/hooks.h). */
static bool allowed(op_t op, sq_pay_status_t st)
{
    switch (op) {
    case OP_AUTHORIZE:
        return st == SQ_PAY_AUTHORIZED || st == SQ_PAY_CAPTURED || st == SQ_PAY_PENDING || st == SQ_PAY_REQUIRES_ACTION ||
               st == SQ_PAY_DECLINED;
    case OP_CAPTURE:
        return st == SQ_PAY_CAPTURED;
    case OP_CANCEL:
        return st == SQ_PAY_VOIDED;
    case OP_REFUND:
        return st == SQ_PAY_REFUNDED;
    }
    return false;
}

static void on_result(json_t *out, const sq_err_t *err, void *data)
{
    call_t *c = data;
    if (err != NULL) {
        c->cb(NULL, err, c->data);
        return;
    }
    const char *why = NULL;
    sq_pay_res_t res = {0};
    const char *st = json_string_value(json_object_get(out, "status"));
    json_t *ref = json_object_get(out, "provider_ref"), *next = json_object_get(out, "next_action");
    json_t *decline = json_object_get(out, "decline_code");
    size_t i = 0;
    while (st != NULL && i < SQ_ARRAY_LEN(statuses) && strcmp(statuses[i].name, st) != 0)
        i++;
    if (!json_is_object(out))
        why = "the answer is not a table";
    else if (st == NULL || i == SQ_ARRAY_LEN(statuses) || !allowed(c->op, statuses[i].st))
        why = "status is missing or not allowed for this operation";
    else if (ref != NULL && !sq_plugin_short_string(ref, 255))
        why = "provider_ref must be a string of 1-255 bytes";
    else if (decline != NULL && !sq_plugin_short_string(decline, 64))
        why = "decline_code must be a string of 1-64 bytes";
    else if (statuses[i].st == SQ_PAY_REQUIRES_ACTION && !json_is_object(next))
        why = "requires_action needs next_action (a table, e.g. {type = \"redirect_to_url\", url = ...})";
    else if (next != NULL && statuses[i].st != SQ_PAY_REQUIRES_ACTION)
        why = "next_action is only for requires_action";
    if (why != NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_plugin_reject(c->plugin, fn_names[c->op], why, &e);
        c->cb(NULL, &e, c->data);
        return;
    }
    sq_arena_t *a = c->cx->arena;
    res.status = statuses[i].st;
    res.provider_ref = ref ? sq_arena_strdup(a, json_string_value(ref)) : NULL;
    res.decline_code = decline ? sq_arena_strdup(a, json_string_value(decline)) : NULL;
    if (next != NULL) {
        size_t len;
        res.next_action = sq_json_dump(a, next, &len);
    }
    c->cb(&res, NULL, c->data);
}

static void pay(int slot, op_t op, sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    const char *id = pslots[slot].id;
    char name[64];
    if (sq_plugin_provider_of("payment", id, name, sizeof(name)) == NULL) {
        /* the plugin was disabled or removed since the checkout started: the built-in of the same id, if any */
        const sq_payment_provider_t *b = sq_payment_builtin(id);
        if (b != NULL) {
            pay_fn f = op == OP_AUTHORIZE ? b->authorize : op == OP_CAPTURE ? b->capture : op == OP_CANCEL ? b->cancel : b->refund;
            f(cx, req, cb, data);
            return;
        }
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_PLUGIN_FAILED, "The %s payment provider is no longer available; nothing was done.", id);
        cb(NULL, &e, data);
        return;
    }
    json_t *in = json_pack("{s:s, s:s?, s:s?, s:s?, s:I, s:s?, s:s?}", "provider", id, "payment_id", req->payment_id,
                           "idempotency_key", req->idempotency_key, "currency", req->currency, "amount", (json_int_t)req->amount,
                           "provider_ref", req->provider_ref, "email", req->email);
    if (req->data != NULL) {
        json_t *d = json_loads(req->data, 0, NULL);
        if (d != NULL)
            json_object_set_new(in, "data", d);
    }
    call_t *c = SQ_NEW(cx->arena, call_t);
    *c = (call_t){cx, op, sq_arena_strdup(cx->arena, name), cb, data};
    sq_plugin_call_cx(cx, name, fn_names[op], in, false, on_result, c);
    json_decref(in);
}
