/* loyalty_db.c: SQL of loyalty points and segments. The logic is in SQL functions of
 * migrations/0034_loyalty_segments.sql (balances change under a row lock there); these statements call them. */
#include <string.h>

#include "core/base/log.h"
#include "core/jobs.h"
#include "core/loyalty.h"

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)

/* ---- the program, accounts, adjustments ------------------------------------------------------------------------- */

SQ_STMT_RO(program_get, "SELECT souq_loyalty_program_json()");
SQ_STMT(program_update, "SELECT souq_loyalty_program_save($1::jsonb)");
SQ_STMT_RO(account_get, "SELECT souq_loyalty_account_json(c.id, 50) FROM customers c WHERE c.id = $1");
SQ_STMT(account_adjust, "SELECT souq_loyalty_adjust($1, $2::bigint, $3, $4)");

typedef struct {
    sq_arena_t *arena;
    sq_json_cb cb;
    void *data;
} json_op_t;

/* SQ422 "pointer|code|detail" of the SQL functions as a field error */
static void on_json(const char *json, const sq_err_t *err, void *data)
{
    json_op_t *o = data;
    o->cb(json, sq_cart_refine(o->arena, err), o->data);
}

static void json_call(sq_ctx_t *cx, sq_stmt_t *st, int n, const char *const *params, sq_json_cb cb, void *data)
{
    json_op_t *o = SQ_NEW(cx->arena, json_op_t);
    *o = (json_op_t){cx->arena, cb, data};
    sq_db_json(cx->db, cx->arena, st, n, params, on_json, o);
}

void sq_loyalty_program_get(sq_ctx_t *cx, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &program_get, 0, NULL, cb, data);
}

void sq_loyalty_program_update(sq_ctx_t *cx, const char *body, sq_json_cb cb, void *data)
{
    json_call(cx, &program_update, 1, sq_db_params(cx->arena, 1, body), cb, data);
}

void sq_loyalty_account_get(sq_ctx_t *cx, const char *customer_id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &account_get, 1, sq_db_params(cx->arena, 1, customer_id), cb, data);
}

void sq_loyalty_adjust(sq_ctx_t *cx, const char *customer_id, const sq_loyalty_adjust_in_t *in, const char *actor, sq_json_cb cb,
                       void *data)
{
    sq_arena_t *a = cx->arena;
    json_call(cx, &account_adjust, 4, sq_db_params(a, 4, customer_id, sq_db_int(a, in->points), in->reason, actor), cb, data);
}

/* ---- the ledger, queried by staff (GET /v1/admin/loyalty-transactions) ----------------------------------------- */

SQ_STMT_RO(ledger_list, "SELECT json_build_object('id', x.id, 'object', 'loyalty_transaction', 'customer_id', x.customer_id, "
                        "'kind', x.kind, 'points', x.points, 'balance_after', x.balance_after, 'order_id', x.order_id, "
                        "'reason', x.reason, 'actor', x.actor, 'created_at', x.created_at), x.id "
                        "FROM loyalty_transactions x WHERE ($1::text IS NULL OR x.id < $1) AND ($3::text IS NULL OR x.customer_id = $3) "
                        "AND ($4::text IS NULL OR x.kind = $4) AND ($5::text IS NULL OR x.order_id = $5) ORDER BY x.id DESC LIMIT $2");
static const char *const ledger_kinds[] = {"earn", "redeem", "release", "expire", "adjust", "clawback", NULL};
static const char *const ledger_filters[] = {"customer_id", "kind", "order_id", NULL};
static const sq_filter_rule_t ledger_filter_rules[] = {{"customer_id", 40, NULL}, {"kind", 16, ledger_kinds}, {"order_id", 40, NULL}, {NULL}};

const sq_resource_t sq_res_loyalty_ledger = {
    .name = "loyalty transaction",
    .prefix = "ltx",
    .list = &ledger_list,
    .filters = ledger_filters,
    .filter_rules = ledger_filter_rules,
};

/* ---- carts: the points to redeem (the change, then the cart answered by core/cart.h) --------------------------- */

SQ_STMT(cart_loyalty_set, "SELECT souq_cart_loyalty_set($1, $2, $3, $4::int, $5::bigint)");
SQ_STMT(cart_loyalty_remove, "SELECT souq_cart_loyalty_remove($1, $2, $3, $4::int)");

typedef struct {
    sq_ctx_t *cx;
    sq_cart_caller_t who;
    const char *id;
    sq_cart_cb cb;
    void *data;
} cart_op_t;

static void on_cart_changed(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    cart_op_t *o = data;
    (void)rows;
    if (err != NULL) {
        o->cb(NULL, sq_cart_refine(o->cx->arena, err), o->data);
        return;
    }
    sq_cart_get(o->cx, &o->who, o->id, o->cb, o->data);
}

static cart_op_t *cart_op(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data)
{
    cart_op_t *o = SQ_NEW(cx->arena, cart_op_t);
    *o = (cart_op_t){cx, *who, id, cb, data};
    o->who.if_match = NULL;
    return o;
}

void sq_cart_loyalty_set(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, int64_t points, sq_cart_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    cart_op_t *o = cart_op(cx, who, id, cb, data);
    sq_db_query(cx->db, a, &cart_loyalty_set, 5,
                sq_db_params(a, 5, id, who->channel_id, who->customer_id, sq_db_int(a, who->ttl_s), sq_db_int(a, points)),
                on_cart_changed, o);
}

void sq_cart_loyalty_remove(sq_ctx_t *cx, const sq_cart_caller_t *who, const char *id, sq_cart_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    cart_op_t *o = cart_op(cx, who, id, cb, data);
    sq_db_query(cx->db, a, &cart_loyalty_remove, 4,
                sq_db_params(a, 4, id, who->channel_id, who->customer_id, sq_db_int(a, who->ttl_s)), on_cart_changed, o);
}

/* ---- tiers (resource) ----------------------------------------------------------------------------------------- */

#define TIER F("multiplier_bp", SQ_FT_INT, 0, 10000, 100000, NULL, NULL, NULL), META
static const sq_field_t tier_create_fields[] = {
    F("name", SQ_FT_STR, SQ_F_REQUIRED, 1, 256, NULL, NULL, NULL),
    F("min_points", SQ_FT_INT, SQ_F_REQUIRED, 0, 1000000000000LL, NULL, NULL, NULL),
    TIER,
    {NULL},
};
static const sq_field_t tier_update_fields[] = {
    F("name", SQ_FT_STR, 0, 1, 256, NULL, NULL, NULL),
    F("min_points", SQ_FT_INT, 0, 0, 1000000000000LL, NULL, NULL, NULL),
    TIER,
    {NULL},
};

SQ_STMT_RO(tier_get, "SELECT souq_loyalty_tier_json(t) FROM loyalty_tiers t WHERE t.id = $1");
SQ_STMT_RO(tier_list, "SELECT souq_loyalty_tier_json(t), t.id FROM loyalty_tiers t WHERE ($1::text IS NULL OR t.id < $1) "
                      "ORDER BY t.id DESC LIMIT $2");
SQ_STMT(tier_create, "SELECT souq_loyalty_tier_save(NULL, $1::jsonb, NULL)");
SQ_STMT(tier_update, "SELECT souq_loyalty_tier_save($1, $2::jsonb, $3)");
SQ_STMT(tier_remove, "DELETE FROM loyalty_tiers WHERE id = $1");

static const sq_constraint_t tier_constraints[] = {
    {"loyalty_tiers_name_key", "/name", SQ_E_ALREADY_EXISTS, "A tier with this name exists."},
    {"loyalty_tiers_min_points_key", "/min_points", SQ_E_ALREADY_EXISTS, "A tier starts at these points already."},
    {NULL},
};

const sq_resource_t sq_res_loyalty_tier = {
    .name = "loyalty tier",
    .prefix = "ltier",
    .create_fields = tier_create_fields,
    .update_fields = tier_update_fields,
    .get = &tier_get,
    .list = &tier_list,
    .create = &tier_create,
    .update = &tier_update,
    .remove = &tier_remove,
    .constraints = tier_constraints,
};

/* ---- segments (resource) -------------------------------------------------------------------------------------- */

/* a tag as customers carry them (migrations/0032): 1 to 64 characters */
static const char *check_tag(const json_t *v, const char **code)
{
    size_t n = json_string_length(v);
    if (n < 1 || n > 64) {
        *code = "invalid_length";
        return "a tag has 1 to 64 characters";
    }
    return NULL;
}

static const sq_field_t rule_fields[] = {
    F("currency_code", SQ_FT_STR, 0, 3, 3, NULL, sq_check_currency, NULL),
    F("total_spent_min", SQ_FT_INT, 0, 0, 100000000000000LL, NULL, NULL, NULL),
    F("total_spent_max", SQ_FT_INT, 0, 0, 100000000000000LL, NULL, NULL, NULL),
    F("order_count_min", SQ_FT_INT, 0, 0, 1000000000, NULL, NULL, NULL),
    F("order_count_max", SQ_FT_INT, 0, 0, 1000000000, NULL, NULL, NULL),
    F("last_order_after", SQ_FT_STR, 0, 0, 40, NULL, sq_check_timestamp, NULL),
    F("last_order_before", SQ_FT_STR, 0, 0, 40, NULL, sq_check_timestamp, NULL),
    F("last_order_within_days", SQ_FT_INT, 0, 1, 3660, NULL, NULL, NULL),
    F("countries", SQ_FT_STR_ARRAY, 0, 1, 250, NULL, sq_check_country, NULL),
    F("customer_group_ids", SQ_FT_STR_ARRAY, 0, 1, 100, NULL, sq_check_id, NULL),
    F("has_account", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL),
    F("tags", SQ_FT_STR_ARRAY, 0, 1, 50, NULL, check_tag, NULL),
    {NULL},
};
#define SEGMENT                                                                                                                    \
    F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),                                        \
        F("rules", SQ_FT_OBJECT, 0, 0, 0, NULL, NULL, rule_fields), META
static const sq_field_t segment_create_fields[] = {
    F("name", SQ_FT_STR, SQ_F_REQUIRED, 1, 200, NULL, NULL, NULL),
    SEGMENT,
    {NULL},
};
static const sq_field_t segment_update_fields[] = {
    F("name", SQ_FT_STR, 0, 1, 200, NULL, NULL, NULL),
    SEGMENT,
    {NULL},
};

SQ_STMT_RO(segment_get, "SELECT souq_segment_json(s) FROM segments s WHERE s.id = $1");
SQ_STMT_RO(segment_list, "SELECT souq_segment_json(s), s.id FROM segments s WHERE ($1::text IS NULL OR s.id < $1) "
                         "ORDER BY s.id DESC LIMIT $2");
SQ_STMT(segment_create, "SELECT souq_segment_save(NULL, $1::jsonb, NULL)");
SQ_STMT(segment_update, "SELECT souq_segment_save($1, $2::jsonb, $3)");
SQ_STMT(segment_remove, "SELECT 1 FROM souq_segment_delete($1) AS d WHERE d");
SQ_STMT(segment_refresh, "SELECT souq_segment_refresh($1)");
SQ_STMT_RO(segment_export, "SELECT souq_segment_export($1)");

static const sq_constraint_t segment_constraints[] = {
    {"segments_name_key", "/name", SQ_E_ALREADY_EXISTS, "A segment with this name exists."},
    {"customer_groups_name_key", "/name", SQ_E_ALREADY_EXISTS, "A customer group named after this segment exists."},
    {NULL},
};

const sq_resource_t sq_res_segment = {
    .name = "segment",
    .prefix = "seg",
    .create_fields = segment_create_fields,
    .update_fields = segment_update_fields,
    .get = &segment_get,
    .list = &segment_list,
    .create = &segment_create,
    .update = &segment_update,
    .remove = &segment_remove,
    .constraints = segment_constraints,
};

void sq_segment_refresh(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &segment_refresh, 1, sq_db_params(cx->arena, 1, id), cb, data);
}

typedef struct {
    sq_loyalty_csv_cb cb;
    void *data;
} csv_op_t;

static void on_export(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    csv_op_t *x = data;
    const char *t = err == NULL && sq_rows_count(rows) > 0 ? sq_rows_text(rows, 0, 0) : NULL;
    x->cb(t, t ? strlen(t) : 0, err, x->data);
}

void sq_segment_export(sq_ctx_t *cx, const char *id, sq_loyalty_csv_cb cb, void *data)
{
    csv_op_t *x = SQ_NEW(cx->arena, csv_op_t);
    *x = (csv_op_t){cb, data};
    sq_db_query(cx->db, cx->arena, &segment_export, 1, sq_db_params(cx->arena, 1, id), on_export, x);
}

/* ---- jobs --------------------------------------------------------------------------------------------------------- */

SQ_STMT(loyalty_maintain, "SELECT souq_loyalty_maintain(10000)::text");
SQ_STMT(segments_refresh_all, "SELECT souq_segments_refresh_all()::text");

typedef struct {
    const char *what;
    sq_job_done_cb done;
    void *data;
} job_op_t;

static void on_job(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    job_op_t *w = data;
    if (err == NULL)
        sq_log(SQ_LOG_INFO, "jobs", "%s: %s", w->what, sq_rows_count(rows) > 0 ? sq_rows_text(rows, 0, 0) : "");
    w->done(err, false, w->data);
}

static void run_job(sq_ctx_t *cx, sq_stmt_t *st, const char *what, sq_job_done_cb done, void *data)
{
    job_op_t *w = SQ_NEW(cx->arena, job_op_t);
    *w = (job_op_t){what, done, data};
    sq_db_query(cx->db, cx->arena, st, 0, NULL, on_job, w);
}

static void maintain_job(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    (void)job;
    run_job(cx, &loyalty_maintain, "loyalty.maintain", done, data);
}

static void segments_job(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    (void)job;
    run_job(cx, &segments_refresh_all, "segments.refresh (segments)", done, data);
}

void sq_loyalty_register_jobs(void)
{
    sq_jobs_register("loyalty.maintain", maintain_job);
    sq_jobs_register("segments.refresh", segments_job);
}
