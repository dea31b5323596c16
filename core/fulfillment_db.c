/* fulfillment_db.c: SQL of fulfilments, shipments, returns and the orders export
 * (migrations/0022_fulfilment_returns.sql), and the two flows that go through the payment provider: capture
 * before fulfilling (sq_order_capture) and the refund of a received return (sq_order_refund). */
#include <string.h>

#include <jansson.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/cart.h"
#include "core/fulfillment.h"
#include "core/order.h"

SQ_STMT(ful_prepare, "SELECT souq_fulfillment_prepare($1, $2::jsonb)");
SQ_STMT(ful_create, "SELECT souq_fulfillment_create($1, $2::jsonb, $3)::text");
SQ_STMT(ful_ship, "SELECT souq_fulfillment_ship($1, $2, $3::jsonb, $4)::text");
SQ_STMT(ful_deliver, "SELECT souq_fulfillment_deliver($1, $2, $3)::text");
SQ_STMT(ret_create, "SELECT souq_return_create($1, $2, $3::jsonb, $4)::text");
SQ_STMT(ret_decide, "SELECT souq_return_decide($1, $2, $3::boolean, $4::jsonb, $5)::text");
SQ_STMT(ret_receive, "SELECT souq_return_receive($1, $2, $3::jsonb, $4)");
SQ_STMT(ret_refunded, "SELECT souq_return_refunded($1, $2, $3::boolean)::text");
SQ_STMT_RO(ret_list, "SELECT json, id FROM souq_order_returns($3, $1, $2::int)");
SQ_STMT_RO(export_orders, "SELECT coalesce(string_agg(l, E'\\r\\n'), '') || E'\\r\\n' "
                          "FROM souq_export_orders_csv($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) l");

typedef struct {
    sq_ctx_t *cx;
    sq_arena_t *arena;
    const char *order_id, *id, *body, *actor;
    json_t *prep;
    sq_json_cb cb;
    void *data;
} op_t;

static op_t *op(sq_ctx_t *cx, const char *order_id, const char *id, const char *body, const char *actor, sq_json_cb cb, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    *o = (op_t){.cx = cx, .arena = cx->arena, .order_id = order_id, .id = id, .body = body, .actor = actor, .cb = cb, .data = data};
    return o;
}

/* Answers of the SQL functions carry "pointer|code|detail" messages: per-field errors. */
static void on_json(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    o->cb(json, sq_cart_refine(o->arena, err), o->data);
}

/* ---- fulfilments ----------------------------------------------------------------------------------------- */

static void create_now(op_t *o)
{
    sq_arena_t *a = o->arena;
    sq_db_json(o->cx->db, a, &ful_create, 3, sq_db_params(a, 3, o->order_id, o->body, o->actor), on_json, o);
}

static void on_captured(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    (void)json;
    if (err != NULL) { /* not paid: nothing is fulfilled */
        o->cb(NULL, err, o->data);
        return;
    }
    create_now(o);
}

static void on_prepared(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        on_json(NULL, err, o);
        return;
    }
    json_t *p = sq_json_own(o->arena, json_loads(json, 0, NULL));
    if (json_is_true(json_object_get(p, "capture")))
        sq_order_capture(o->cx, o->order_id, o->actor, on_captured, o);
    else
        create_now(o);
}

void sq_fulfillment_create(sq_ctx_t *cx, const char *order_id, const char *body, bool capture, const char *actor, sq_json_cb cb,
                           void *data)
{
    op_t *o = op(cx, order_id, NULL, body, actor, cb, data);
    if (!capture) { /* nothing to do before: one statement */
        create_now(o);
        return;
    }
    sq_db_json(cx->db, cx->arena, &ful_prepare, 2, sq_db_params(cx->arena, 2, order_id, body), on_prepared, o);
}

void sq_fulfillment_ship(sq_ctx_t *cx, const char *order_id, const char *fulfillment_id, const char *body, const char *actor,
                         sq_json_cb cb, void *data)
{
    op_t *o = op(cx, order_id, fulfillment_id, body, actor, cb, data);
    sq_db_json(cx->db, cx->arena, &ful_ship, 4, sq_db_params(cx->arena, 4, order_id, fulfillment_id, body, actor), on_json, o);
}

void sq_fulfillment_deliver(sq_ctx_t *cx, const char *order_id, const char *fulfillment_id, const char *actor, sq_json_cb cb,
                            void *data)
{
    op_t *o = op(cx, order_id, fulfillment_id, NULL, actor, cb, data);
    sq_db_json(cx->db, cx->arena, &ful_deliver, 3, sq_db_params(cx->arena, 3, order_id, fulfillment_id, actor), on_json, o);
}

/* ---- returns --------------------------------------------------------------------------------------------- */

void sq_return_create(sq_ctx_t *cx, const char *order_id, const char *customer_id, const char *body, const char *actor,
                      sq_json_cb cb, void *data)
{
    op_t *o = op(cx, order_id, NULL, body, actor, cb, data);
    sq_db_json(cx->db, cx->arena, &ret_create, 4, sq_db_params(cx->arena, 4, order_id, customer_id, body, actor), on_json, o);
}

void sq_return_decide(sq_ctx_t *cx, const char *order_id, const char *return_id, bool approve, const char *body, const char *actor,
                      sq_json_cb cb, void *data)
{
    op_t *o = op(cx, order_id, return_id, body, actor, cb, data);
    sq_db_json(cx->db, cx->arena, &ret_decide, 5,
               sq_db_params(cx->arena, 5, order_id, return_id, sq_db_bool(approve), body ? body : "{}", actor), on_json, o);
}

static void on_refund(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    sq_arena_t *a = o->arena;
    const char *refund_id = NULL;
    if (err != NULL)
        sq_log(SQ_LOG_WARN, "core/fulfillment", "order=%s return=%s: the refund failed (%s: %s); staff refund by hand", o->order_id,
               o->id, sq_err_slug(err->code), err->detail);
    else
        refund_id = sq_arena_strdup(a, json_string_value(json_object_get(sq_json_own(a, json_loads(json, 0, NULL)), "id")));
    sq_db_json(o->cx->db, a, &ret_refunded, 3, sq_db_params(a, 3, o->id, refund_id, sq_db_bool(err == NULL)), on_json, o);
}

static void on_received(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL) {
        on_json(NULL, err, o);
        return;
    }
    sq_arena_t *a = o->arena;
    o->prep = sq_json_own(a, json_loads(json, 0, NULL));
    json_int_t amount = json_integer_value(json_object_get(o->prep, "refund_amount"));
    if (amount <= 0) {
        size_t len;
        o->cb(sq_json_dump(a, json_object_get(o->prep, "return"), &len), NULL, o->data);
        return;
    }
    sq_refund_in_t in = {.amount = amount, .reason = "return", .note = sq_arena_printf(a, "Return %s", o->id)};
    sq_order_refund(o->cx, o->order_id, &in, o->actor, on_refund, o);
}

void sq_return_receive(sq_ctx_t *cx, const char *order_id, const char *return_id, const char *body, const char *actor,
                       sq_json_cb cb, void *data)
{
    op_t *o = op(cx, order_id, return_id, body, actor, cb, data);
    sq_db_json(cx->db, cx->arena, &ret_receive, 4, sq_db_params(cx->arena, 4, order_id, return_id, body ? body : "{}", actor),
               on_received, o);
}

void sq_return_list(sq_ctx_t *cx, const char *order_id, const sq_page_t *page, sq_list_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_list(cx->db, a, &ret_list, 3, sq_db_params(a, 3, page->after, sq_db_int(a, page->limit + 1), order_id), page->limit, cb,
               data);
}

/* ---- the orders export ----------------------------------------------------------------------------------- */

typedef struct {
    sq_csv_cb cb;
    void *data;
} export_t;

static void on_export(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    export_t *x = data;
    const char *t = err == NULL && sq_rows_count(rows) > 0 ? sq_rows_text(rows, 0, 0) : NULL;
    x->cb(t, t ? strlen(t) : 0, err, x->data);
}

void sq_export_orders_csv(sq_ctx_t *cx, const char *const *filters, sq_csv_cb cb, void *data)
{
    export_t *x = SQ_NEW(cx->arena, export_t);
    x->cb = cb;
    x->data = data;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * 11);
    for (int i = 0; i < 11; i++)
        p[i] = filters[i];
    sq_db_query(cx->db, cx->arena, &export_orders, 11, p, on_export, x);
}
