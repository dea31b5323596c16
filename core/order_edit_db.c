/* order_edit_db.c: SQL of order edits and draft orders (migrations/0022_fulfilment_returns.sql), and the refund
 * that settles an edit that lowered a captured order's total. */
#include <string.h>

#include <jansson.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/cart.h"
#include "core/order.h"
#include "core/order_edit.h"

SQ_STMT(order_edit_apply, "SELECT souq_order_edit($1, $2::jsonb, $3)");
SQ_STMT(edit_refund_failed, "SELECT souq_order_event($1, 'refund.failed', jsonb_build_object('amount', $2::bigint, 'reason', "
                            "'order_edit', 'error', $3::text), $4, false)");
SQ_STMT_RO(edited_order_get, "SELECT souq_order_json(o, true)::text FROM orders o WHERE o.id = $1");

SQ_STMT_RO(draft_get, "SELECT souq_draft_order_json(d) FROM draft_orders d WHERE d.id = $1");
SQ_STMT_RO(draft_list, "SELECT souq_draft_order_json(d), d.id FROM draft_orders d "
                       "WHERE ($1::text IS NULL OR d.id < $1) AND ($3::text IS NULL OR d.status = $3) "
                       "AND ($4::text IS NULL OR d.customer_id = $4) ORDER BY d.id DESC LIMIT $2");
SQ_STMT(draft_create, "SELECT souq_draft_order_save(NULL, $1::jsonb, NULL, $2)");
SQ_STMT(draft_update, "SELECT souq_draft_order_save($1, $2::jsonb, $3, NULL)");
SQ_STMT(draft_complete, "SELECT souq_draft_order_complete($1, $2::jsonb, $3)::text");

static const char *const draft_filters[] = {"status", "customer_id", NULL};
static const char *const draft_statuses[] = {"open", "completed", NULL};
static const sq_filter_rule_t draft_rules[] = {
    {"status", 16, draft_statuses, NULL},
    {"customer_id", 40, NULL, NULL},
    {NULL},
};

const sq_resource_t sq_res_draft_order = {
    .name = "draft order",
    .prefix = "draft",
    .create_fields = sq_draft_create_fields,
    .update_fields = sq_draft_update_fields,
    .get = &draft_get,
    .list = &draft_list,
    .create = &draft_create,
    .update = &draft_update,
    .filters = draft_filters,
    .filter_rules = draft_rules,
    .create_takes_actor = true,
};

typedef struct {
    sq_ctx_t *cx;
    sq_arena_t *arena;
    const char *order_id, *actor;
    json_int_t refund;
    sq_json_cb cb;
    void *data;
} edit_t;

static void on_json(const char *json, const sq_err_t *err, void *data)
{
    edit_t *e = data;
    e->cb(json, sq_cart_refine(e->arena, err), e->data);
}

static void answer(edit_t *e)
{
    sq_db_json(e->cx->db, e->arena, &edited_order_get, 1, sq_db_params(e->arena, 1, e->order_id), e->cb, e->data);
}

static void on_recorded(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    edit_t *e = data;
    (void)rows;
    if (err != NULL)
        sq_log(SQ_LOG_ERROR, "core/order_edit", "order=%s: recording a failed refund failed: %s", e->order_id, err->internal);
    answer(e);
}

static void on_refund(const char *json, const sq_err_t *err, void *data)
{
    edit_t *e = data;
    (void)json;
    if (err == NULL) {
        answer(e);
        return;
    }
    sq_log(SQ_LOG_WARN, "core/order_edit", "order=%s: the refund of an edit failed (%s); staff refund by hand", e->order_id,
           sq_err_slug(err->code));
    sq_arena_t *a = e->arena;
    sq_db_query(e->cx->db, a, &edit_refund_failed, 4,
                sq_db_params(a, 4, e->order_id, sq_db_int(a, e->refund), sq_err_slug(err->code), e->actor), on_recorded, e);
}

static void on_edited(const char *json, const sq_err_t *err, void *data)
{
    edit_t *e = data;
    if (err != NULL) {
        on_json(NULL, err, e);
        return;
    }
    sq_arena_t *a = e->arena;
    json_t *r = sq_json_own(a, json_loads(json, 0, NULL));
    e->refund = json_integer_value(json_object_get(r, "refund_amount"));
    if (e->refund <= 0) {
        size_t len;
        e->cb(sq_json_dump(a, json_object_get(r, "order"), &len), NULL, e->data);
        return;
    }
    sq_refund_in_t in = {.amount = e->refund, .reason = "other", .note = "Order edit"};
    sq_order_refund(e->cx, e->order_id, &in, e->actor, on_refund, e);
}

void sq_order_edit(sq_ctx_t *cx, const char *order_id, const char *body, const char *actor, sq_json_cb cb, void *data)
{
    edit_t *e = SQ_NEW(cx->arena, edit_t);
    *e = (edit_t){.cx = cx, .arena = cx->arena, .order_id = order_id, .actor = actor, .cb = cb, .data = data};
    sq_db_json(cx->db, cx->arena, &order_edit_apply, 3, sq_db_params(cx->arena, 3, order_id, body, actor), on_edited, e);
}

void sq_draft_order_complete(sq_ctx_t *cx, const char *draft_id, const char *body, const char *actor, sq_json_cb cb, void *data)
{
    edit_t *e = SQ_NEW(cx->arena, edit_t);
    *e = (edit_t){.cx = cx, .arena = cx->arena, .actor = actor, .cb = cb, .data = data};
    sq_db_json(cx->db, cx->arena, &draft_complete, 3, sq_db_params(cx->arena, 3, draft_id, body, actor), on_json, e);
}
