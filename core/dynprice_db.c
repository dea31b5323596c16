/* dynprice_db.c: SQL of dynamic pricing: the price ledger, scheduled price changes, pricing rules and their jobs
 * (functions in migrations/0035_dynamic_pricing.sql). */
#include <string.h>

#include "core/base/log.h"
#include "core/dynprice.h"
#include "core/jobs.h"

extern const sq_field_t sq_price_schedule_create_fields[], sq_pricing_rule_create_fields[], sq_pricing_rule_update_fields[];
int sq_pricing_rule_check(const json_t *b, bool create, sq_err_t *err);

/* ---- the ledger ----------------------------------------------------------------------------------------------- */

SQ_STMT_RO(change_get, "SELECT souq_price_change_json(c) FROM price_changes c WHERE c.id = $1");
SQ_STMT_RO(change_list, "SELECT souq_price_change_json(c), c.id FROM price_changes c WHERE ($1::text IS NULL OR c.id < $1) "
                        "AND ($3::text IS NULL OR c.variant_id = $3) AND ($4::text IS NULL OR c.product_id = $4) "
                        "AND ($5::text IS NULL OR c.price_list_id = $5) AND ($6::text IS NULL OR c.currency_code = lower($6)) "
                        "AND ($7::text IS NULL OR c.source = $7) AND ($8::text IS NULL OR c.source_id = $8) "
                        "AND ($9::timestamptz IS NULL OR c.created_at >= $9::timestamptz) "
                        "AND ($10::timestamptz IS NULL OR c.created_at < $10::timestamptz) "
                        "ORDER BY c.id DESC LIMIT $2");

static const char *const change_filters[] = {
    "variant_id", "product_id", "price_list_id", "currency_code", "source", "source_id", "created_after", "created_before", NULL};
static const char *const change_sources[] = {"staff", "api_key", "import", "schedule", "rule", "system", NULL};

static bool currency_ok(const char *v)
{
    if (strlen(v) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z')))
            return false;
    return true;
}

static const sq_filter_rule_t change_rules[] = {
    {"variant_id", 40, NULL, NULL},
    {"product_id", 40, NULL, NULL},
    {"price_list_id", 40, NULL, NULL},
    {"currency_code", 3, NULL, currency_ok},
    {"source", 16, change_sources, NULL},
    {"source_id", 64, NULL, NULL},
    {"created_after", 40, NULL, sq_filter_time},
    {"created_before", 40, NULL, sq_filter_time},
    {NULL},
};

const sq_resource_t sq_res_price_change = {
    .name = "price change",
    .prefix = "pchg",
    .get = &change_get,
    .list = &change_list,
    .filters = change_filters,
    .filter_rules = change_rules,
};

/* ---- scheduled price changes ------------------------------------------------------------------------------------ */

SQ_STMT_RO(schedule_get, "SELECT souq_price_schedule_json(s) FROM price_schedules s WHERE s.id = $1");
SQ_STMT_RO(schedule_list, "SELECT souq_price_schedule_json(s), s.id FROM price_schedules s WHERE ($1::text IS NULL OR s.id < $1) "
                          "AND ($3::text IS NULL OR s.status = $3) ORDER BY s.id DESC LIMIT $2");
SQ_STMT(schedule_create, "SELECT souq_price_schedule_create($1::jsonb, $2)");
SQ_STMT(schedule_cancel, "SELECT souq_price_schedule_cancel($1)");
SQ_STMT(schedule_run, "SELECT souq_price_schedule_run($1, $2)");

static const char *const schedule_filters[] = {"status", NULL};
static const char *const schedule_status[] = {"pending", "applied", "reverted", "canceled", NULL};
static const sq_filter_rule_t schedule_rules[] = {{"status", 16, schedule_status, NULL}, {NULL}};
static const sq_constraint_t schedule_constraints[] = {
    {"price_schedules_revert_after_apply", "/revert_at", SQ_E_VALIDATION, "revert_at must be after apply_at."},
    {"price_schedules_price_list_id_fkey", "/price_list_id", SQ_E_VALIDATION, "The price list does not exist."},
    {NULL},
};

const sq_resource_t sq_res_price_schedule = {
    .name = "price schedule",
    .prefix = "psch",
    .create_fields = sq_price_schedule_create_fields,
    .get = &schedule_get,
    .list = &schedule_list,
    .create = &schedule_create,
    .filters = schedule_filters,
    .filter_rules = schedule_rules,
    .constraints = schedule_constraints,
    .create_takes_actor = true,
};

typedef struct {
    sq_json_cb cb;
    void *data;
    const char *what;
} one_t;

static void on_one(const char *json, const sq_err_t *err, void *data)
{
    one_t *o = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The %s does not exist.", o->what);
        o->cb(NULL, &e, o->data);
        return;
    }
    o->cb(json, err, o->data);
}

static one_t *one(sq_ctx_t *cx, const char *what, sq_json_cb cb, void *data)
{
    one_t *o = SQ_NEW(cx->arena, one_t);
    o->cb = cb;
    o->data = data;
    o->what = what;
    return o;
}

void sq_price_schedule_cancel(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &schedule_cancel, 1, sq_db_params(cx->arena, 1, id), on_one, one(cx, "price schedule", cb, data));
}

/* ---- pricing rules ---------------------------------------------------------------------------------------------- */

SQ_STMT_RO(rule_get, "SELECT souq_pricing_rule_json(r) FROM pricing_rules r WHERE r.id = $1");
SQ_STMT_RO(rule_list, "SELECT souq_pricing_rule_json(r), r.id FROM pricing_rules r WHERE ($1::text IS NULL OR r.id < $1) "
                      "AND ($3::text IS NULL OR r.status = $3) ORDER BY r.id DESC LIMIT $2");
SQ_STMT(rule_create, "SELECT souq_pricing_rule_save(NULL, $1::jsonb)");
/* rules are not ETag-guarded: $3 (If-Match) is accepted and not compared */
SQ_STMT(rule_update, "SELECT souq_pricing_rule_save($1, $2::jsonb) FROM (SELECT $3::text) x");
SQ_STMT(rule_remove, "SELECT 1 FROM souq_pricing_rule_delete($1) n WHERE n > 0");
SQ_STMT(rule_preview, "SELECT json_build_object('object', 'pricing_rule_preview', 'rule_id', r.id, 'evaluated_at', now(), "
                      "'changes', souq_pricing_rules_evaluate(r.id, true, true)) FROM pricing_rules r WHERE r.id = $1");
SQ_STMT(rules_evaluate, "SELECT jsonb_array_length(souq_pricing_rules_evaluate(NULL, false, false))");

static const char *const rule_filters[] = {"status", NULL};
static const char *const rule_status[] = {"active", "disabled", NULL};
static const sq_filter_rule_t rule_rules[] = {{"status", 16, rule_status, NULL}, {NULL}};
static const sq_constraint_t rule_constraints[] = {
    {"pricing_rules_bounds", "/ceiling_amount", SQ_E_VALIDATION, "ceiling_amount must not be below floor_amount."},
    {"pricing_rules_currency_code_fkey", "/currency_code", SQ_E_VALIDATION, "The currency is not known."},
    {"pricing_rule_variants_variant_id_fkey", "/variant_ids", SQ_E_VALIDATION, "A variant does not exist."},
    {NULL},
};

const sq_resource_t sq_res_pricing_rule = {
    .name = "pricing rule",
    .prefix = "prule",
    .create_fields = sq_pricing_rule_create_fields,
    .update_fields = sq_pricing_rule_update_fields,
    .check = sq_pricing_rule_check,
    .get = &rule_get,
    .list = &rule_list,
    .create = &rule_create,
    .update = &rule_update,
    .remove = &rule_remove,
    .filters = rule_filters,
    .filter_rules = rule_rules,
    .constraints = rule_constraints,
};

void sq_pricing_rule_preview(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &rule_preview, 1, sq_db_params(cx->arena, 1, id), on_one, one(cx, "pricing rule", cb, data));
}

/* ---- jobs ------------------------------------------------------------------------------------------------------- */

typedef struct {
    sq_job_done_cb done;
    void *data;
    const char *what;
} job_t;

static void on_job_rows(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    job_t *j = data;
    if (err == NULL && sq_rows_count(rows) > 0)
        sq_log(SQ_LOG_INFO, "dynprice", "%s: %s", j->what, sq_rows_text(rows, 0, 0) ? sq_rows_text(rows, 0, 0) : "-");
    j->done(err, false, j->data);
}

/* price_schedule.run: one phase of one schedule; the SQL makes a second run of the same phase a no-op */
static void schedule_job(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    const char *id = json_string_value(json_object_get(job->payload, "schedule_id"));
    const char *phase = json_string_value(json_object_get(job->payload, "phase"));
    if (id == NULL || phase == NULL || (strcmp(phase, "apply") != 0 && strcmp(phase, "revert") != 0)) {
        sq_err_t e = {0};
        sq_err_set(&e, SQ_E_VALIDATION, "payload needs schedule_id and phase (apply or revert)");
        done(&e, true, data);
        return;
    }
    job_t *j = SQ_NEW(cx->arena, job_t);
    *j = (job_t){done, data, sq_arena_printf(cx->arena, "schedule %s %s", id, phase)};
    sq_db_query(sq_ctx_commit_db(cx), cx->arena, &schedule_run, 2, sq_db_params(cx->arena, 2, id, phase), on_job_rows, j);
}

/* pricing_rules.evaluate: every rule, now */
static void rules_job(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    (void)job;
    job_t *j = SQ_NEW(cx->arena, job_t);
    *j = (job_t){done, data, "pricing rules evaluated, prices changed"};
    sq_db_query(sq_ctx_commit_db(cx), cx->arena, &rules_evaluate, 0, NULL, on_job_rows, j);
}

void sq_dynprice_register_jobs(void)
{
    sq_jobs_register("price_schedule.run", schedule_job);
    sq_jobs_register("pricing_rules.evaluate", rules_job);
}
