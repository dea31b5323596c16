/* gift_sale_db.c: SQL of gift card sales, reveals and adjustments (migrations/0036_gift_card_sales.sql): each
 * operation is one statement calling its SQL function. */
#include <stddef.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/cart.h"
#include "core/gift_sale.h"
#include "core/jobs.h"

static const char *const adjust_reasons[] = {"correction", "goodwill", "fraud", "other", NULL};

const sq_field_t sq_gift_card_adjust_fields[] = {
    {"amount", SQ_FT_INT, SQ_F_REQUIRED, offsetof(sq_gift_card_adjust_in_t, amount), -100000000000LL, 100000000000LL, NULL, NULL,
     NULL},
    {"reason", SQ_FT_STR, SQ_F_REQUIRED, offsetof(sq_gift_card_adjust_in_t, reason), 1, 16, adjust_reasons, NULL, NULL},
    {"note", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, offsetof(sq_gift_card_adjust_in_t, note), 0, 1000, NULL, NULL, NULL},
    {NULL},
};

const sq_field_t sq_gift_card_refund_fields[] = {
    {"amount", SQ_FT_INT, SQ_F_REQUIRED, offsetof(sq_gift_card_refund_in_t, amount), 1, 100000000000LL, NULL, NULL, NULL},
    {"gift_card_id", SQ_FT_STR, 0, offsetof(sq_gift_card_refund_in_t, gift_card_id), 1, 40, NULL, sq_check_id, NULL},
    {NULL},
};

SQ_STMT(gift_card_refund, "SELECT souq_order_gift_card_refund_api($1, $2::bigint, $3, $4)::text");
SQ_STMT(gift_card_reveal, "SELECT souq_gift_card_reveal($1, $2)::text");
SQ_STMT(gift_card_adjust, "SELECT souq_gift_card_adjust($1, $2::bigint, $3, $4, $5)::text");
SQ_STMT_RO(order_gift_cards, "SELECT souq_order_gift_cards($1)::text");

typedef struct {
    sq_arena_t *arena;
    sq_json_cb cb;
    void *data;
    const char *missing; /* the 404 detail */
} call_t;

static void on_answer(const char *json, const sq_err_t *err, void *data)
{
    call_t *c = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "%s", c->missing);
        c->cb(NULL, &e, c->data);
        return;
    }
    c->cb(json, sq_cart_refine(c->arena, err), c->data); /* "pointer|code|detail" of the SQL functions: a field error */
}

static call_t *call(sq_ctx_t *cx, const char *missing, sq_json_cb cb, void *data)
{
    call_t *c = SQ_NEW(cx->arena, call_t);
    *c = (call_t){cx->arena, cb, data, missing};
    return c;
}

void sq_gift_card_reveal(sq_ctx_t *cx, const char *card_id, const char *actor, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &gift_card_reveal, 2, sq_db_params(cx->arena, 2, card_id, actor), on_answer,
               call(cx, "The gift card does not exist.", cb, data));
}

void sq_order_gift_cards(sq_ctx_t *cx, const char *order_id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &order_gift_cards, 1, sq_db_params(cx->arena, 1, order_id), on_answer,
               call(cx, "The order does not exist.", cb, data));
}

void sq_gift_card_adjust(sq_ctx_t *cx, const char *card_id, const sq_gift_card_adjust_in_t *in, const char *actor, sq_json_cb cb,
                         void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &gift_card_adjust, 5, sq_db_params(a, 5, card_id, sq_db_int(a, in->amount), in->reason, in->note, actor),
               on_answer, call(cx, "The gift card does not exist.", cb, data));
}

void sq_order_gift_card_refund(sq_ctx_t *cx, const char *order_id, const sq_gift_card_refund_in_t *in, const char *actor,
                               sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &gift_card_refund, 4, sq_db_params(a, 4, order_id, sq_db_int(a, in->amount), in->gift_card_id, actor),
               on_answer, call(cx, "The order does not exist.", cb, data));
}

/* ---- the hourly purge of expired deliveries ---------------------------------------------------------------------- */

SQ_STMT(deliveries_purge, "DELETE FROM gift_card_deliveries WHERE expires_at <= now()");

typedef struct {
    sq_job_done_cb done;
    void *data;
} purge_t;

static void on_purged(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    purge_t *p = data;
    if (err == NULL && sq_rows_affected(rows) > 0)
        sq_log(SQ_LOG_INFO, "gift_cards", "deleted %lld expired gift card deliveries", (long long)sq_rows_affected(rows));
    p->done(err, false, p->data);
}

static void purge_deliveries(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    (void)job;
    purge_t *p = SQ_NEW(cx->arena, purge_t);
    *p = (purge_t){done, data};
    sq_db_query(cx->db, cx->arena, &deliveries_purge, 0, NULL, on_purged, p);
}

void sq_gift_sale_register(void)
{
    sq_jobs_register("gift_cards.purge_deliveries", purge_deliveries);
}
