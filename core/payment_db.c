/* payment_db.c: the built-in payment providers (core/hooks.h) and their registry. `manual` answers at once;
 * `test` keeps its books in test_gateway_* tables (migrations/0019) like a remote card gateway would, one
 * charge per idempotency key. Both answer through the callback, as a plugin provider will. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/base/util.h"
#include "core/hooks.h"

/* ---- manual: bank transfer, cash on delivery --------------------------------------------------------------- */

static void manual_answer(const sq_pay_req_t *req, sq_pay_status_t status, sq_pay_cb cb, void *data)
{
    sq_pay_res_t res = {status, req->payment_id, NULL, NULL};
    cb(&res, NULL, data);
}

static void manual_authorize(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    (void)cx;
    manual_answer(req, SQ_PAY_PENDING, cb, data);
}

static void manual_capture(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    (void)cx;
    manual_answer(req, SQ_PAY_CAPTURED, cb, data);
}

static void manual_cancel(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    (void)cx;
    manual_answer(req, SQ_PAY_VOIDED, cb, data);
}

static void manual_refund(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    (void)cx;
    manual_answer(req, SQ_PAY_REFUNDED, cb, data);
}

const sq_payment_provider_t sq_payment_manual = {"manual", NULL, manual_authorize, manual_capture, manual_cancel, manual_refund};

/* ---- test: a card-style gateway --------------------------------------------------------------------------- */

static const sq_field_t test_fields[] = {
    {"token", SQ_FT_STR, SQ_F_REQUIRED, 0, 1, 64, NULL, NULL, NULL},
    {NULL},
};

SQ_STMT(testpay_authorize, "SELECT souq_testpay_authorize($1, $2, $3, $4::bigint)");
SQ_STMT(testpay_operate, "SELECT souq_testpay_operate($1, $2, $3::bigint, $4)");

typedef struct {
    sq_arena_t *arena;
    sq_pay_status_t done; /* the status a successful operation answers */
    sq_pay_cb cb;
    void *data;
    sq_ctx_t *cx; /* authorize: the request, for asking again alone */
    sq_pay_req_t req;
    const char *token;
} call_t;

static sq_pay_status_t status_of(const char *s)
{
    if (strcmp(s, "authorized") == 0)
        return SQ_PAY_AUTHORIZED;
    if (strcmp(s, "captured") == 0)
        return SQ_PAY_CAPTURED;
    if (strcmp(s, "requires_action") == 0)
        return SQ_PAY_REQUIRES_ACTION;
    if (strcmp(s, "voided") == 0)
        return SQ_PAY_VOIDED;
    return SQ_PAY_DECLINED;
}

static void on_gateway(const char *json, const sq_err_t *err, void *data)
{
    call_t *c = data;
    if (err != NULL) { /* the gateway refused the operation (or could not be reached): the provider failed */
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_copy(&e, err);
        if (e.code != SQ_E_UNAVAILABLE && e.code != SQ_E_BUSY)
            e.code = SQ_E_PAYMENT_PROVIDER;
        c->cb(NULL, &e, c->data);
        return;
    }
    json_t *j = sq_json_own(c->arena, json_loads(json, 0, NULL));
    const char *id = json_string_value(json_object_get(j, "id")), *st = json_string_value(json_object_get(j, "status"));
    const char *decline = json_string_value(json_object_get(j, "decline_code"));
    sq_pay_res_t res = {c->done, sq_arena_strdup(c->arena, id ? id : ""), NULL, decline ? sq_arena_strdup(c->arena, decline) : NULL};
    if (c->done == SQ_PAY_AUTHORIZED) {
        res.status = status_of(st ? st : "");
        if (res.status == SQ_PAY_REQUIRES_ACTION)
            res.next_action = sq_arena_printf(c->arena,
                                              "{\"type\":\"redirect_to_url\",\"url\":\"/v1/hooks/test/charges/%s/authenticate\","
                                              "\"method\":\"POST\"}",
                                              res.provider_ref);
    }
    c->cb(&res, NULL, c->data);
}

static call_t *call(sq_ctx_t *cx, sq_pay_status_t done, sq_pay_cb cb, void *data)
{
    call_t *c = SQ_NEW(cx->arena, call_t);
    *c = (call_t){.arena = cx->arena, .done = done, .cb = cb, .data = data};
    return c;
}

/* Authorizations of many checkouts at once (migrations/0045, core/db/db.h coalesced calls); a call the group does not
 * answer (its key's charge being made by another transaction) asks again alone. */
SQ_STMT(testpay_authorize_many, "SELECT ord, answer FROM souq_testpay_authorize_many($1::jsonb)");
static sq_stmt_t *const authorize_stmts[] = {&testpay_authorize_many};
static const sq_coalesce_t authorize_group = {"testpay_authorize", authorize_stmts, 1, 32};

static void authorize_alone(call_t *c)
{
    sq_arena_t *a = c->arena;
    sq_db_json(c->cx->db, a, &testpay_authorize, 4,
               sq_db_params(a, 4, c->req.idempotency_key, c->token, c->req.currency, sq_db_int(a, c->req.amount)), on_gateway, c);
}

static void on_authorized_many(sq_rows_t *const *rows, const sq_err_t *err, void *data)
{
    call_t *c = data;
    if (err == NULL && sq_rows_count(rows[0]) > 0)
        on_gateway(sq_rows_text(rows[0], 0, 1), NULL, c);
    else
        authorize_alone(c);
}

static void test_authorize(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    json_t *d = req->data ? sq_json_own(a, json_loads(req->data, 0, NULL)) : NULL;
    const char *token = json_string_value(json_object_get(d, "token"));
    if (token != NULL && strcmp(token, "tok_error") == 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_PAYMENT_PROVIDER, "The payment provider failed; nothing was charged. Try again.");
        cb(NULL, &e, data);
        return;
    }
    call_t *c = call(cx, SQ_PAY_AUTHORIZED, cb, data);
    c->req = *req;
    c->token = token ? sq_arena_strdup(a, token) : "tok_visa";
    c->cx = cx;
    json_t *in = json_pack("{s:s, s:s, s:s, s:I}", "key", req->idempotency_key, "token", c->token, "currency", req->currency,
                           "amount", (json_int_t)req->amount);
    if (in == NULL) {
        authorize_alone(c);
        return;
    }
    size_t len;
    sq_db_coalesce(cx->db, a, &authorize_group, sq_json_dump(a, sq_json_own(a, in), &len), on_authorized_many, c);
}

static void operate(sq_ctx_t *cx, const sq_pay_req_t *req, const char *kind, const char *key, sq_pay_status_t done, sq_pay_cb cb,
                    void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &testpay_operate, 4, sq_db_params(a, 4, req->provider_ref, kind, sq_db_int(a, req->amount), key), on_gateway,
               call(cx, done, cb, data));
}

static void test_capture(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    operate(cx, req, "capture", NULL, SQ_PAY_CAPTURED, cb, data);
}

static void test_cancel(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    operate(cx, req, "void", NULL, SQ_PAY_VOIDED, cb, data);
}

static void test_refund(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data)
{
    operate(cx, req, "refund", req->idempotency_key, SQ_PAY_REFUNDED, cb, data);
}

const sq_payment_provider_t sq_payment_test = {"test", test_fields, test_authorize, test_capture, test_cancel, test_refund};

/* ---- registry ---------------------------------------------------------------------------------------------- */

static const sq_payment_provider_t *const providers[] = {&sq_payment_manual, &sq_payment_test};

const sq_payment_plugins_t *sq_payment_plugins;

const sq_payment_provider_t *sq_payment_builtin(const char *id)
{
    for (size_t i = 0; id != NULL && i < sizeof(providers) / sizeof(providers[0]); i++)
        if (strcmp(providers[i]->id, id) == 0)
            return providers[i];
    return NULL;
}

const sq_payment_provider_t *sq_payment_provider(const char *id)
{
    const sq_payment_plugins_t *pl = __atomic_load_n(&sq_payment_plugins, __ATOMIC_ACQUIRE);
    const sq_payment_provider_t *p = pl != NULL && id != NULL ? pl->lookup(id) : NULL;
    return p != NULL ? p : sq_payment_builtin(id);
}

bool sq_payment_provider_serves(const char *id, const char *channel_id)
{
    const sq_payment_plugins_t *pl = __atomic_load_n(&sq_payment_plugins, __ATOMIC_ACQUIRE);
    return pl == NULL || pl->serves == NULL || id == NULL || pl->serves(id, channel_id);
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

json_t *sq_payment_provider_ids_for(const char *channel_id)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "manual, test");
    const sq_payment_plugins_t *pl = __atomic_load_n(&sq_payment_plugins, __ATOMIC_ACQUIRE);
    if (pl != NULL)
        pl->ids(buf, sizeof(buf));
    json_t *ids[64];
    size_t n = 0;
    for (char *save = NULL, *id = strtok_r(buf, ", ", &save); id != NULL && n < 64; id = strtok_r(NULL, ", ", &save))
        if (sq_payment_provider(id) != NULL && sq_payment_provider_serves(id, channel_id))
            ids[n++] = json_string(id);
    qsort(ids, n, sizeof(ids[0]), cmp_json_str);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, ids[i]);
    return out;
}

const char *sq_payment_provider_ids(void)
{
    static __thread char buf[512];
    snprintf(buf, sizeof(buf), "manual, test");
    const sq_payment_plugins_t *pl = __atomic_load_n(&sq_payment_plugins, __ATOMIC_ACQUIRE);
    if (pl != NULL)
        pl->ids(buf, sizeof(buf));
    return buf;
}

SQ_STMT(testpay_authenticate, "SELECT souq_testpay_authenticate($1, $2::boolean)");

void sq_payment_test_authenticate(sq_ctx_t *cx, const char *charge_id, bool succeed, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &testpay_authenticate, 2, sq_db_params(cx->arena, 2, charge_id, sq_db_bool(succeed)), cb, data);
}
