/* checkout_db.c: the checkout flow of core/checkout.h over the SQL functions of migrations/0019. Prepare and complete
 * are coalesced (core/db/db.h): the common case of many checkouts goes to migrations/0045's set-based functions, one
 * statement per group; a call a group does not take runs alone through 0019's functions (prepare_alone, place_alone),
 * which answer every case and every error. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/base/crypto.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/checkout.h"

#define F SQ_VFIELD
static const sq_field_t payment_fields[] = {
    F("provider", SQ_FT_STR, SQ_F_REQUIRED, 1, 32, NULL, NULL, NULL),
    F("data", SQ_FT_JSON, 0, 0, 0, NULL, NULL, NULL),
    {NULL},
};
const sq_field_t sq_checkout_fields[] = {
    F("payment", SQ_FT_OBJECT, 0, 0, 0, NULL, NULL, payment_fields),
    F("expected_total", SQ_FT_INT, 0, 0, 1000000000000LL, NULL, NULL, NULL),
    {NULL},
};

SQ_STMT_RO(cart_order, "SELECT souq_order_json(o, false)::text FROM souq_cart_order($1, $2, $3) o WHERE o.id IS NOT NULL");
SQ_STMT(prepare, "SELECT souq_checkout_prepare($1, $2, $3, $4::int, $5::int, $6::jsonb, $7, $8::jsonb, $9, $10::int)");
SQ_STMT(fail, "SELECT souq_checkout_fail($1, $2, $3, $4, $5, $6::jsonb)");
SQ_STMT(complete, "SELECT souq_checkout_complete($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11)::text");

typedef struct co {
    sq_ctx_t *cx;
    sq_arena_t *arena;
    sq_checkout_in_t in;
    const sq_payment_provider_t *provider;
    const char *cart;  /* the priced cart JSON */
    const char *email, *currency;
    int64_t amount_due;
    const char *payment_id, *gateway_key, *provider_ref;
    sq_pay_status_t pay_status;
    sq_err_t err;       /* the error being answered after undoing */
    int retries;        /* of the current step (serialization failures) */
    void (*again)(struct co *);
    const char *version;
    const char *action; /* the 202 body of requires_action */
    sq_checkout_cb cb;
    void *data;
} co_t;

static void answer(co_t *c, int status, const char *json, const sq_err_t *err)
{
    c->cb(status, json, err, c->data);
}

/* Serialization failures and deadlocks (SERIALIZABLE databases, reliability C10) run the step again, at most
 * SQ_CHECKOUT_RETRIES times: the client never sees them. */
#define SQ_CHECKOUT_RETRIES 10

static void place_alone(co_t *c);

static void run_again(void *data)
{
    co_t *c = data;
    c->again(c);
}

/* Runs the step again after a random pause that grows with each attempt (2 to 2^n x 2 ms), so the transactions
 * that collided do not collide again at once. */
static bool retried(co_t *c, const sq_err_t *err, void (*again)(co_t *))
{
    if (err == NULL || !err->retryable || c->retries >= SQ_CHECKOUT_RETRIES)
        return false;
    c->retries++;
    c->again = again;
    if (c->cx->after == NULL) {
        again(c);
        return true;
    }
    unsigned char r;
    sq_random_bytes(&r, 1);
    int span = 2 << (c->retries < 6 ? c->retries : 6);
    c->cx->after(c->cx, 2 + r % span, run_again, c);
    return true;
}

/* The provider call of this attempt's payment (data: the buyer's payment data, for authorize only). */
static sq_pay_req_t pay_req(const co_t *c, const char *data)
{
    return (sq_pay_req_t){c->payment_id, c->gateway_key, c->currency, c->amount_due, data, c->provider_ref, c->email};
}

static const char *pay_status_name(sq_pay_status_t s)
{
    switch (s) {
    case SQ_PAY_AUTHORIZED:
        return "authorized";
    case SQ_PAY_CAPTURED:
        return "captured";
    case SQ_PAY_PENDING:
        return "pending";
    case SQ_PAY_REQUIRES_ACTION:
        return "requires_action";
    case SQ_PAY_VOIDED:
        return "voided";
    case SQ_PAY_REFUNDED:
    case SQ_PAY_DECLINED:
        break;
    }
    return "declined";
}

/* Coalesced steps (core/db/db.h) go to one fixed connection of the thread's commit connections per step, so that
 * the calls arriving together share a group (and its one commit) rather than spreading over the connections, and
 * prepare's groups never queue behind the WAL flush of complete's. */
/* A group call's input: the members packed by jansson (fields, a JSON object), with members that are JSON text
 * already (the priced cart, the payment data: both parsed before) spliced in front. */
static const char *group_input(sq_arena_t *a, const char *members, json_t *fields)
{
    size_t len;
    const char *packed = sq_json_dump(a, sq_json_own(a, fields), &len);
    return sq_arena_printf(a, "{%s,%s", members, packed + 1);
}

static sq_db_t *group_db(const sq_ctx_t *cx, int step)
{
    if (cx->ncommit > step && sq_db_state(cx->commit_dbs[step]) == SQ_DB_READY)
        return cx->commit_dbs[step];
    return sq_ctx_commit_db(cx);
}

/* ---- undoing: the payment is closed and the stock released, then the error answered ----------------------- */

static void on_failed(const char *json, const sq_err_t *err, void *data)
{
    co_t *c = data;
    (void)json;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "checkout", "cart=%.12s undo failed: %s", c->in.cart_id, err->internal[0] ? err->internal : err->detail);
    answer(c, 0, NULL, &c->err);
}

static void close_attempt(co_t *c, const char *status, const char *decline, const char *next_action)
{
    sq_arena_t *a = c->arena;
    sq_db_json(c->cx->db, a, &fail, 6, sq_db_params(a, 6, c->in.cart_id, c->payment_id, status, c->provider_ref, decline, next_action),
               on_failed, c);
}

static void on_voided(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    co_t *c = data;
    (void)res;
    if (err != NULL) /* the authorization lapses at the gateway by itself; the order was not placed */
        sq_log(SQ_LOG_WARN, "checkout", "payment=%s void failed: %s", c->payment_id, err->detail);
    close_attempt(c, err == NULL ? "voided" : "error", NULL, NULL);
}

static void on_void_logged(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    co_t *c = data;
    (void)res;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "checkout", "payment=%s void of a superseded attempt failed: %s", c->payment_id, err->detail);
}

static void on_stale_voided(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    co_t *c = data;
    (void)res;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "checkout", "cart=%.12s void of an earlier attempt failed: %s", c->in.cart_id, err->detail);
}

/* The order could not be placed after the provider said yes: void the authorization, then close. */
static void undo_authorized(co_t *c, const sq_err_t *err)
{
    sq_err_copy(&c->err, err);
    if (c->payment_id == NULL) {
        close_attempt(c, "canceled", NULL, NULL);
        return;
    }
    sq_pay_req_t req = pay_req(c, NULL);
    c->provider->cancel(c->cx, &req, on_voided, c);
}

/* ---- step 3: the order ------------------------------------------------------------------------------------- */

static void on_complete(const char *json, const sq_err_t *err, void *data)
{
    co_t *c = data;
    if (retried(c, err, place_alone))
        return;
    if (err != NULL) {
        undo_authorized(c, sq_cart_refine(c->arena, err));
        return;
    }
    json_t *o = sq_json_own(c->arena, json_loads(json, 0, NULL));
    if (json_is_true(json_object_get(o, "superseded"))) { /* another request placed the order: ours is not needed */
        bool used = json_is_true(json_object_get(o, "payment_used"));
        json_object_del(o, "superseded");
        json_object_del(o, "payment_used");
        size_t len;
        const char *order = sq_json_dump(c->arena, o, &len);
        if (!used && c->payment_id != NULL && c->provider != NULL) { /* void ours; the answer does not wait for it */
            sq_pay_req_t req = pay_req(c, NULL);
            c->provider->cancel(c->cx, &req, on_void_logged, c);
        }
        answer(c, 200, order, NULL);
        return;
    }
    answer(c, 201, json, NULL);
}

/* The order alone (souq_checkout_complete): every case, every error. */
static void place_alone(co_t *c)
{
    sq_arena_t *a = c->arena;
    const char *const *idem = c->in.idem_scope;
    sq_db_json(sq_ctx_commit_db(c->cx), a, &complete, 11,
               sq_db_params(a, 11, c->in.cart_id, c->in.who.channel_id, c->in.who.customer_id, c->payment_id, pay_status_name(c->pay_status),
                            c->provider_ref, c->cart, idem[0], idem[1], idem[2], idem[3]),
               on_complete, c);
}

/* ---- step 3, coalesced: the common case of many checkouts in one statement (migrations/0045) ---------------- */

SQ_STMT(complete_many, "SELECT ord, answer FROM souq_checkouts_complete($1::jsonb)");
static sq_stmt_t *const complete_stmts[] = {&complete_many};
static const sq_coalesce_t complete_group = {"checkout_complete", complete_stmts, 1, 32};

static void on_complete_many(sq_rows_t *const *rows, const sq_err_t *err, void *data)
{
    co_t *c = data;
    if (err == NULL && sq_rows_count(rows[0]) > 0) {
        answer(c, 201, sq_rows_text(rows[0], 0, 1), NULL);
        return;
    }
    place_alone(c); /* not taken (a case the group does not cover), or the group failed: alone, for its own answer */
}

static void place(co_t *c)
{
    if (c->payment_id == NULL) { /* nothing due: alone */
        place_alone(c);
        return;
    }
    const char *const *idem = c->in.idem_scope;
    json_t *in = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:[ssss]}", "id", c->in.cart_id, "channel", c->in.who.channel_id,
                           "customer", c->in.who.customer_id, "payment", c->payment_id, "status", pay_status_name(c->pay_status),
                           "provider_ref", c->provider_ref, "idem", idem[0], idem[1], idem[2], idem[3]);
    if (in == NULL) { /* an idempotency scope missing (a test double): alone */
        place_alone(c);
        return;
    }
    const char *input = group_input(c->arena, sq_arena_printf(c->arena, "\"cart\":%s", c->cart), in);
    sq_db_coalesce(group_db(c->cx, 0), c->arena, &complete_group, input, on_complete_many, c);
}

/* The payment waits for the buyer (the stock stays reserved for reserve_ttl_s): 202 and what to do. */
static void on_action(const char *json, const sq_err_t *err, void *data)
{
    co_t *c = data;
    (void)json;
    if (err != NULL)
        answer(c, 0, NULL, err);
    else
        answer(c, 202, c->action, NULL);
}

/* ---- step 2: the provider ---------------------------------------------------------------------------------- */

static void on_authorized(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    co_t *c = data;
    if (err != NULL) {
        sq_err_copy(&c->err, err);
        close_attempt(c, "error", NULL, NULL);
        return;
    }
    c->pay_status = res->status;
    if (res->provider_ref != NULL && *res->provider_ref)
        c->provider_ref = sq_arena_strdup(c->arena, res->provider_ref);
    switch (res->status) {
    case SQ_PAY_AUTHORIZED:
    case SQ_PAY_CAPTURED:
    case SQ_PAY_PENDING:
        place(c);
        return;
    case SQ_PAY_REQUIRES_ACTION: {
        const char *next = sq_arena_strdup(c->arena, res->next_action ? res->next_action : "{}");
        sq_arena_t *a = c->arena;
        c->action = sq_arena_printf(a,
                                           "{\"object\":\"checkout_action\",\"status\":\"requires_action\",\"cart_id\":\"%s\","
                                           "\"payment\":{\"id\":\"%s\",\"provider\":\"%s\",\"status\":\"requires_action\","
                                           "\"amount\":%lld,\"currency_code\":\"%s\",\"next_action\":%s}}",
                                           c->in.cart_id, c->payment_id, c->provider->id, (long long)c->amount_due, c->currency, next);
        sq_db_json(c->cx->db, a, &fail, 6,
                   sq_db_params(a, 6, c->in.cart_id, c->payment_id, "requires_action", c->provider_ref, NULL, next), on_action, c);
        return;
    }
    case SQ_PAY_DECLINED:
    case SQ_PAY_VOIDED:
    case SQ_PAY_REFUNDED:
        break;
    }
    const char *code = res->decline_code ? sq_arena_strdup(c->arena, res->decline_code) : "declined";
    sq_err_set(&c->err, SQ_E_PAYMENT_DECLINED, "The payment was declined (%s); try another payment method.", code);
    sq_err_field(&c->err, "/payment", code, "The payment was declined (%s).", code);
    close_attempt(c, "declined", code, NULL);
}

/* ---- step 1: prepare --------------------------------------------------------------------------------------- */

static void on_prepared(const char *json, const sq_err_t *err, void *data);

/* Prepare alone (souq_checkout_prepare): every case, every error. */
static void prepare_alone(co_t *c)
{
    sq_arena_t *a = c->arena;
    const char *provider = c->amount_due > 0 ? c->provider->id : NULL;
    sq_db_json(sq_ctx_commit_db(c->cx), a, &prepare, 10,
               sq_db_params(a, 10, c->in.cart_id, c->in.who.channel_id, c->in.who.customer_id, sq_db_int(a, c->in.who.ttl_s), c->version,
                            c->cart, provider, c->in.payment_data, c->gateway_key, sq_db_int(a, c->in.reserve_ttl_s)),
               on_prepared, c);
}

static void on_prepared(const char *json, const sq_err_t *err, void *data)
{
    co_t *c = data;
    if (retried(c, err, prepare_alone))
        return;
    c->retries = 0;
    if (err != NULL) {
        answer(c, 0, NULL, sq_cart_refine(c->arena, err));
        return;
    }
    json_t *j = sq_json_own(c->arena, json_loads(json, 0, NULL));
    const char *pid = json_string_value(json_object_get(j, "payment_id"));
    if (pid == NULL) { /* nothing due */
        c->pay_status = SQ_PAY_CAPTURED;
        place(c);
        return;
    }
    json_t *stale = json_object_get(j, "stale");
    const sq_payment_provider_t *sp = json_is_object(stale) ? sq_payment_provider(json_string_value(json_object_get(stale, "provider"))) : NULL;
    if (sp != NULL) { /* an attempt for an earlier version of the cart: released at its provider, not waited for */
        sq_pay_req_t req = {json_string_value(json_object_get(stale, "payment_id")), NULL,
                            json_string_value(json_object_get(stale, "currency_code")), json_integer_value(json_object_get(stale, "amount")), NULL,
                            json_string_value(json_object_get(stale, "provider_ref")), NULL};
        sp->cancel(c->cx, &req, on_stale_voided, c);
    }
    c->payment_id = sq_arena_strdup(c->arena, pid);
    c->gateway_key = sq_arena_strdup(c->arena, json_string_value(json_object_get(j, "gateway_key")));
    const char *ref = json_string_value(json_object_get(j, "provider_ref"));
    c->provider_ref = ref ? sq_arena_strdup(c->arena, ref) : NULL;
    sq_pay_req_t req = pay_req(c, c->in.payment_data);
    c->provider->authorize(c->cx, &req, on_authorized, c);
}

/* ---- step 1, coalesced (migrations/0045) -------------------------------------------------------------------- */

SQ_STMT(prepare_many, "SELECT ord, answer FROM souq_checkouts_prepare($1::jsonb)");
static sq_stmt_t *const prepare_stmts[] = {&prepare_many};
static const sq_coalesce_t prepare_group = {"checkout_prepare", prepare_stmts, 1, 32};

static void on_prepared_many(sq_rows_t *const *rows, const sq_err_t *err, void *data)
{
    co_t *c = data;
    if (err == NULL && sq_rows_count(rows[0]) > 0)
        on_prepared(sq_rows_text(rows[0], 0, 1), NULL, c);
    else /* not taken (a case the group does not cover), or the group failed: alone, for its own answer */
        prepare_alone(c);
}

static void prepare_send(co_t *c)
{
    if (c->amount_due <= 0 || c->provider == NULL || c->version == NULL) { /* nothing due: alone */
        prepare_alone(c);
        return;
    }
    json_t *in =
        json_pack("{s:s, s:s, s:s?, s:i, s:I, s:s, s:s, s:i}", "id", c->in.cart_id, "channel", c->in.who.channel_id, "customer",
                  c->in.who.customer_id, "ttl", c->in.who.ttl_s, "version", (json_int_t)strtoll(c->version, NULL, 10), "provider",
                  c->provider->id, "gateway_key", c->gateway_key, "reserve_ttl", c->in.reserve_ttl_s);
    if (in == NULL) {
        prepare_alone(c);
        return;
    }
    const char *input = group_input(
        c->arena,
        sq_arena_printf(c->arena, "\"cart\":%s,\"data\":%s", c->cart, c->in.payment_data != NULL ? c->in.payment_data : "null"),
        in);
    sq_db_coalesce(group_db(c->cx, 1), c->arena, &prepare_group, input, on_prepared_many, c);
}

static void on_order(const char *json, const sq_err_t *err, void *data)
{
    co_t *c = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The cart does not exist.");
        answer(c, 0, NULL, &e);
        return;
    }
    answer(c, 200, json, err);
}

static void on_cart(const char *json, const char *version, const sq_err_t *err, void *data)
{
    co_t *c = data;
    sq_arena_t *a = c->arena;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) { /* completed already? answer its order */
        sq_db_json(c->cx->db, a, &cart_order, 3, sq_db_params(a, 3, c->in.cart_id, c->in.who.channel_id, c->in.who.customer_id),
                   on_order, c);
        return;
    }
    if (err != NULL) {
        answer(c, 0, NULL, err);
        return;
    }
    c->cart = json;
    /* four fields of the priced cart, read without a tree */
    static const char *const names[] = {"amount_due", "currency_code", "email", "total"};
    sq_json_member_t m[4];
    int64_t total;
    if (SQ_NEVER(sq_json_members(a, json, names, 4, m) != 0))
        memset(m, 0, sizeof(m));
    sq_json_member_int(&m[0], &c->amount_due);
    c->currency = m[1].kind == SQ_JW_STRING ? m[1].s : NULL;
    c->email = m[2].kind == SQ_JW_STRING ? m[2].s : NULL;
    sq_json_member_int(&m[3], &total);
    if (c->in.expected_total >= 0 && total != c->in.expected_total) { /* the buyer confirmed another total: nothing done */
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_CONFLICT, "The cart's total is now %lld (%s minor units), not the expected_total; show it and confirm it.",
                   (long long)total, c->currency);
        sq_err_field(&e, "/expected_total", "total_changed", "The cart's total is now %lld.", (long long)total);
        answer(c, 0, NULL, &e);
        return;
    }
    if (c->amount_due > 0 && c->provider == NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_VALIDATION, "The cart has an amount due: give a payment.");
        sq_err_field(&e, "/payment", "required", "The cart has an amount due: give a payment.");
        answer(c, 0, NULL, &e);
        return;
    }
    /* the gateway's idempotency key: the client's key, scoped to the cart (one key, one charge) */
    char *scoped = sq_arena_printf(a, "%s\n%s", c->in.cart_id, c->in.idem_key);
    unsigned char md[32];
    char hex[65];
    sq_sha256(scoped, strlen(scoped), md);
    sq_hex(md, 32, hex);
    c->gateway_key = sq_arena_printf(a, "co_%s", hex);
    c->version = version;
    prepare_send(c);
}

void sq_checkout_complete(sq_ctx_t *cx, const sq_checkout_in_t *in, sq_checkout_cb cb, void *data)
{
    co_t *c = SQ_NEW(cx->arena, co_t);
    c->cx = cx;
    c->arena = cx->arena;
    c->in = *in;
    c->cb = cb;
    c->data = data;
    sq_err_clear(&c->err);
    if (in->provider != NULL) {
        c->provider = sq_payment_provider(in->provider);
        sq_err_t e;
        sq_err_clear(&e);
        if (c->provider == NULL) {
            sq_err_set(&e, SQ_E_VALIDATION, "Unknown payment provider; one of: %s.", sq_payment_provider_ids());
            sq_err_field(&e, "/payment/provider", "invalid_value", "Unknown payment provider; one of: %s.", sq_payment_provider_ids());
            answer(c, 0, NULL, &e);
            return;
        }
        if (!sq_payment_provider_serves(in->provider, in->who.channel_id)) { /* the plugin's sales_channels setting */
            sq_err_set(&e, SQ_E_VALIDATION, "The %s payment provider is not available in this sales channel.", c->provider->id);
            sq_err_field(&e, "/payment/provider", "not_allowed", "The %s payment provider is not available in this sales channel.",
                         c->provider->id);
            answer(c, 0, NULL, &e);
            return;
        }
        json_t *d = in->payment_data ? sq_json_own(cx->arena, json_loads(in->payment_data, 0, NULL)) : NULL;
        if (d != NULL && !json_is_object(d)) {
            sq_err_set(&e, SQ_E_VALIDATION, "payment.data must be an object.");
            sq_err_field(&e, "/payment/data", "invalid_type", "Must be an object.");
            answer(c, 0, NULL, &e);
            return;
        }
        if (c->provider->data_fields != NULL) {
            char *scratch = sq_arena_zalloc(cx->arena, 256);
            json_t *empty = sq_json_own(cx->arena, json_object());
            if (sq_json_decode(cx->arena, d ? d : empty, c->provider->data_fields, scratch, NULL, &e) != 0) {
                for (int i = 0; i < e.nfields; i++) /* the pointers are under /payment/data */
                    snprintf(e.fields[i].pointer, sizeof(e.fields[i].pointer), "/payment/data%.*s",
                             (int)(sizeof(e.fields[i].pointer) - 14), sq_arena_strdup(cx->arena, e.fields[i].pointer));
                answer(c, 0, NULL, &e);
                return;
            }
        } else if (d != NULL && json_object_size(d) > 0) {
            sq_err_set(&e, SQ_E_VALIDATION, "The %s provider takes no payment data.", c->provider->id);
            sq_err_field(&e, "/payment/data", "unknown_field", "The %s provider takes no payment data.", c->provider->id);
            answer(c, 0, NULL, &e);
            return;
        }
    }
    sq_cart_view(cx, &in->who, in->cart_id, on_cart, c);
}
