/* order_db.c: SQL of orders (migrations/0019_orders_checkout.sql) and the provider calls of capture, cancel
 * and refund: prepare (checks, one statement) -> provider (no lock held) -> done (one transaction). */
#include <stddef.h>
#include <string.h>

#include <jansson.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/cart.h"
#include "core/hooks.h"
#include "core/order.h"

/* ---- reads ----------------------------------------------------------------------------------------------- */

/* staff see the order's tags (migration 0032) and its tax provider (0040) after its other fields */
#define STAFF_FIELDS(j)                                                                                                            \
    "left(" j "::text, -1) || ',\"tags\":' || to_json(o.tags)::text "                                                              \
    "|| ',\"tax_provider\":' || to_json(o.tax_provider)::text || '}'"
SQ_STMT_RO(order_get, "SELECT " STAFF_FIELDS("souq_order_json(o, true)") " FROM orders o WHERE o.id = $1");
SQ_STMT_RO(order_list,
           "SELECT " STAFF_FIELDS("souq_order_json(o, false)") ", o.id FROM orders o "
           "WHERE ($1::text IS NULL OR o.id < $1) AND ($3::text IS NULL OR o.status = $3) "
           "AND ($4::text IS NULL OR o.payment_status = $4) AND ($5::text IS NULL OR o.fulfillment_status = $5) "
           "AND ($6::text IS NULL OR o.customer_id = $6) AND ($7::text IS NULL OR o.sales_channel_id = $7) "
           "AND ($8::text IS NULL OR o.currency_code = lower($8)) "
           "AND ($9::timestamptz IS NULL OR o.placed_at >= $9::timestamptz) "
           "AND ($10::timestamptz IS NULL OR o.placed_at < $10::timestamptz) "
           "AND ($11::bigint IS NULL OR o.total >= $11::bigint) AND ($12::bigint IS NULL OR o.total <= $12::bigint) "
           "AND ($13::text IS NULL OR lower(o.email) = lower($13) OR o.number::text = ltrim($13, '#')) "
           /* (the tag index holds tagged orders only: 0046) */
           "AND ($14::text IS NULL OR (o.tags @> ARRAY[$14::text] AND o.tags <> '{}')) "
           "ORDER BY o.id DESC LIMIT $2");
SQ_STMT_RO(mine_list, "SELECT souq_order_json(o, false)::text, o.id FROM orders o "
                      "WHERE o.customer_id = $3 AND ($1::text IS NULL OR o.id < $1) ORDER BY o.id DESC LIMIT $2");
SQ_STMT_RO(mine_get, "SELECT souq_order_json(o, false)::text FROM orders o WHERE o.id = $1 AND o.customer_id = $2");

static const char *const order_filters[] = {"status",        "payment_status", "fulfillment_status", "customer_id", "sales_channel_id",
                                            "currency_code", "placed_after",   "placed_before",      "total_min",   "total_max",
                                            "q",             "tag",            NULL};
static const char *const statuses[] = {"open", "completed", "canceled", NULL};
static const char *const pay_statuses[] = {"pending", "authorized", "paid", "partially_refunded", "refunded", "voided", NULL};
static const char *const ful_statuses[] = {"unfulfilled", "partially_fulfilled", "fulfilled", "shipped", "delivered", NULL};
static const sq_filter_rule_t order_rules[] = {
    {"status", 16, statuses, NULL},
    {"payment_status", 24, pay_statuses, NULL},
    {"fulfillment_status", 24, ful_statuses, NULL},
    {"customer_id", 40, NULL, NULL},
    {"sales_channel_id", 40, NULL, NULL},
    {"currency_code", 3, NULL, NULL},
    {"placed_after", 35, NULL, sq_filter_time},
    {"placed_before", 35, NULL, sq_filter_time},
    {"total_min", 19, NULL, sq_filter_int},
    {"total_max", 19, NULL, sq_filter_int},
    {"q", 254, NULL, NULL},
    {"tag", 64, NULL, NULL},
    {NULL},
};

const sq_resource_t sq_res_order = {
    .name = "order",
    .prefix = "order",
    .get = &order_get,
    .list = &order_list,
    .filters = order_filters,
    .filter_rules = order_rules,
};

void sq_order_list_mine(sq_ctx_t *cx, const char *customer_id, const sq_page_t *page, sq_list_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_list(cx->db, a, &mine_list, 3, sq_db_params(a, 3, page->after, sq_db_int(a, page->limit + 1), customer_id), page->limit, cb,
               data);
}

void sq_order_get_mine(sq_ctx_t *cx, const char *customer_id, const char *order_id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &mine_get, 2, sq_db_params(cx->arena, 2, order_id, customer_id), cb, data);
}

/* ---- moves through the provider --------------------------------------------------------------------------- */

static const char *const cancel_reasons[] = {"customer", "fraud", "inventory", "declined", "other", NULL};
const sq_field_t sq_order_cancel_fields[] = {
    {"reason", SQ_FT_STR, 0, 0, 1, 32, cancel_reasons, NULL, NULL},
    {NULL},
};
static const char *const refund_reasons[] = {"requested_by_customer", "duplicate", "fraudulent", "return", "other", NULL};
const sq_field_t sq_refund_fields[] = {
    {"amount", SQ_FT_INT, SQ_F_REQUIRED, offsetof(sq_refund_in_t, amount), 1, 999999999999999, NULL, NULL, NULL},
    {"reason", SQ_FT_STR, 0, offsetof(sq_refund_in_t, reason), 1, 32, refund_reasons, NULL, NULL},
    {"note", SQ_FT_STR, SQ_F_MULTILINE, offsetof(sq_refund_in_t, note), 0, 1000, NULL, NULL, NULL},
    {NULL},
};

SQ_STMT(capture_prepare, "SELECT souq_order_capture_prepare($1)");
SQ_STMT(capture_done, "SELECT souq_order_capture_done($1, $2, $3)::text");
SQ_STMT(cancel_prepare, "SELECT souq_order_cancel_prepare($1)");
SQ_STMT(cancel_done, "SELECT souq_order_cancel_done($1, $2, $3)::text");
SQ_STMT(refund_prepare, "SELECT souq_refund_prepare($1, $2::bigint, $3, $4, $5)");
SQ_STMT(refund_done, "SELECT souq_refund_done($1, $2::boolean, $3)::text");

typedef struct {
    sq_ctx_t *cx;
    sq_arena_t *arena;
    const char *order_id, *actor, *reason;
    json_t *prep;      /* what prepare answered */
    json_t *payments;  /* cancel: the payments to void */
    size_t next;       /* cancel: the next payment to void */
    const char *refund_id;
    sq_err_t err;
    sq_json_cb cb;
    void *data;
} mv_t;

static mv_t *mv(sq_ctx_t *cx, const char *order_id, const char *actor, sq_json_cb cb, void *data)
{
    mv_t *m = SQ_NEW(cx->arena, mv_t);
    *m = (mv_t){.cx = cx, .arena = cx->arena, .order_id = order_id, .actor = actor, .cb = cb, .data = data};
    return m;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The provider call described by a prepare answer (payment_id, provider, provider_ref, amount, currency_code). */
static const sq_payment_provider_t *pay_req(mv_t *m, json_t *p, const char *key, sq_pay_req_t *req)
{
    *req = (sq_pay_req_t){str(p, "payment_id"), key, str(p, "currency_code"), json_integer_value(json_object_get(p, "amount")), NULL,
                          str(p, "provider_ref"), NULL};
    const sq_payment_provider_t *prov = sq_payment_provider(str(p, "provider"));
    if (prov == NULL)
        sq_log(SQ_LOG_ERROR, "order", "order=%s payment=%s: provider %s is not loaded", m->order_id, req->payment_id, str(p, "provider"));
    return prov;
}

static bool parsed(mv_t *m, const char *json, const sq_err_t *err)
{
    if (err != NULL) {
        m->cb(NULL, sq_cart_refine(m->arena, err), m->data);
        return false;
    }
    m->prep = sq_json_own(m->arena, json_loads(json, 0, NULL));
    return true;
}

static void provider_missing(mv_t *m)
{
    sq_err_t e;
    sq_err_clear(&e);
    sq_err_set(&e, SQ_E_PAYMENT_PROVIDER, "The payment provider of this order is not available.");
    m->cb(NULL, &e, m->data);
}

/* capture */
static void on_captured(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    mv_t *m = data;
    (void)res;
    if (err != NULL) {
        m->cb(NULL, err, m->data);
        return;
    }
    sq_arena_t *a = m->arena;
    sq_db_json(m->cx->db, a, &capture_done, 3, sq_db_params(a, 3, m->order_id, str(m->prep, "payment_id"), m->actor), m->cb, m->data);
}

static void on_capture_prepared(const char *json, const sq_err_t *err, void *data)
{
    mv_t *m = data;
    if (!parsed(m, json, err))
        return;
    sq_pay_req_t req;
    const sq_payment_provider_t *p = pay_req(m, m->prep, str(m->prep, "gateway_key"), &req);
    if (p == NULL)
        provider_missing(m);
    else
        p->capture(m->cx, &req, on_captured, m);
}

void sq_order_capture(sq_ctx_t *cx, const char *order_id, const char *actor, sq_json_cb cb, void *data)
{
    mv_t *m = mv(cx, order_id, actor, cb, data);
    sq_db_json(cx->db, cx->arena, &capture_prepare, 1, sq_db_params(cx->arena, 1, order_id), on_capture_prepared, m);
}

/* cancel: void each open payment in turn, then cancel in one transaction */
static void void_next(mv_t *m);

static void on_void(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    mv_t *m = data;
    (void)res;
    if (err != NULL) {
        m->cb(NULL, err, m->data);
        return;
    }
    void_next(m);
}

static void void_next(mv_t *m)
{
    if (m->next < json_array_size(m->payments)) {
        json_t *p = json_array_get(m->payments, m->next++);
        sq_pay_req_t req;
        const sq_payment_provider_t *prov = pay_req(m, p, NULL, &req);
        if (prov == NULL)
            provider_missing(m);
        else
            prov->cancel(m->cx, &req, on_void, m);
        return;
    }
    sq_arena_t *a = m->arena;
    sq_db_json(m->cx->db, a, &cancel_done, 3, sq_db_params(a, 3, m->order_id, m->actor, m->reason), m->cb, m->data);
}

static void on_cancel_prepared(const char *json, const sq_err_t *err, void *data)
{
    mv_t *m = data;
    if (!parsed(m, json, err))
        return;
    m->payments = json_object_get(m->prep, "payments");
    void_next(m);
}

void sq_order_cancel(sq_ctx_t *cx, const char *order_id, const char *reason, const char *actor, sq_json_cb cb, void *data)
{
    mv_t *m = mv(cx, order_id, actor, cb, data);
    m->reason = reason;
    sq_db_json(cx->db, cx->arena, &cancel_prepare, 1, sq_db_params(cx->arena, 1, order_id), on_cancel_prepared, m);
}

/* refund */
static void on_refund_recorded(const char *json, const sq_err_t *err, void *data)
{
    mv_t *m = data;
    if (err != NULL || m->err.code == SQ_OK) {
        m->cb(json, err, m->data);
        return;
    }
    m->cb(NULL, &m->err, m->data); /* the provider failed: recorded as failed, answered as the provider's error */
}

static void on_refunded(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    mv_t *m = data;
    sq_arena_t *a = m->arena;
    if (err != NULL)
        sq_err_copy(&m->err, err);
    const char *ref = err == NULL && res->provider_ref ? sq_arena_strdup(a, res->provider_ref) : NULL;
    sq_db_json(m->cx->db, a, &refund_done, 3, sq_db_params(a, 3, m->refund_id, sq_db_bool(err == NULL), ref), on_refund_recorded, m);
}

static void on_refund_prepared(const char *json, const sq_err_t *err, void *data)
{
    mv_t *m = data;
    if (!parsed(m, json, err))
        return;
    m->refund_id = sq_arena_strdup(m->arena, str(m->prep, "refund_id"));
    sq_pay_req_t req;
    const sq_payment_provider_t *p = pay_req(m, m->prep, m->refund_id, &req);
    if (p == NULL) {
        sq_err_set(&m->err, SQ_E_PAYMENT_PROVIDER, "The payment provider of this order is not available.");
        on_refunded(NULL, &m->err, m);
        return;
    }
    p->refund(m->cx, &req, on_refunded, m);
}

void sq_order_refund(sq_ctx_t *cx, const char *order_id, const sq_refund_in_t *in, const char *actor, sq_json_cb cb, void *data)
{
    mv_t *m = mv(cx, order_id, actor, cb, data);
    sq_err_clear(&m->err);
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &refund_prepare, 5, sq_db_params(a, 5, order_id, sq_db_int(a, in->amount), in->reason, in->note, actor),
               on_refund_prepared, m);
}
