/* automation_db.c: SQL of automation rules, their runs and the database actions (the logic is in SQL functions of
 * migrations/0032_automation_rules.sql). */
#include <string.h>

#include "core/automation.h"
#include "core/base/util.h"

SQ_STMT_RO(rule_get, "SELECT souq_automation_rule_json(r) FROM automation_rules r WHERE r.id = $1");
SQ_STMT_RO(rule_list, "SELECT souq_automation_rule_json(r), r.id FROM automation_rules r WHERE ($1::text IS NULL OR r.id < $1) "
                      "AND ($3::boolean IS NULL OR r.enabled = $3::boolean) AND ($4::text IS NULL OR r.trigger_event = $4) "
                      "ORDER BY r.id DESC LIMIT $2");
SQ_STMT(rule_create, "SELECT souq_automation_rule_save(NULL, $1::jsonb, NULL, $2)");
SQ_STMT(rule_update, "SELECT souq_automation_rule_save($1, $2::jsonb, $3, NULL)");
/* the rule's schedule goes with it; so do its runs (pending jobs find nothing and complete) */
SQ_STMT(rule_remove,
        "WITH s AS (DELETE FROM job_schedules WHERE id = 'automation.' || $1) DELETE FROM automation_rules WHERE id = $1");
SQ_STMT_RO(run_list, "SELECT souq_automation_run_json(x), x.id FROM automation_runs x WHERE x.rule_id = $3 "
                     "AND ($1::text IS NULL OR x.id < $1) AND ($4::text IS NULL OR x.state = $4) ORDER BY x.id DESC LIMIT $2");
SQ_STMT_RO(rule_exists, "SELECT 1 FROM automation_rules WHERE id = $1");

SQ_STMT(run_begin, "SELECT souq_automation_run_begin($1, $2::int)");
SQ_STMT(run_match, "SELECT souq_automation_run_match($1, $2::boolean, $3::jsonb)");
SQ_STMT(step_done, "SELECT souq_automation_step_done($1, $2::int, $3, $4::jsonb)::text");
SQ_STMT(run_fail, "SELECT souq_automation_run_fail($1, $2::int, $3::int, $4, $5, $6::boolean)");
SQ_STMT(run_finish, "SELECT coalesce(souq_automation_run_finish($1), 'unchanged')");
SQ_STMT(retention, "SELECT souq_automation_retention($1::int)::text");
SQ_STMT(schedule_fire, "SELECT coalesce(souq_automation_schedule_fire($1, $2), 'none')");
SQ_STMT(act_tag_customer, "SELECT souq_automation_tag_customer($1, $2::int, $3::jsonb, $4::jsonb)::text");
SQ_STMT(act_tag_order, "SELECT souq_automation_tag_order($1, $2::int, $3, $4::jsonb)::text");
SQ_STMT(act_emit_event, "SELECT souq_automation_emit($1, $2::int, $3, $4::jsonb)::text");
SQ_STMT(act_start_list, "SELECT souq_automation_start_price_list($1, $2::int, $3, $4::int)::text");
SQ_STMT(act_create_po, "SELECT souq_automation_create_purchase_order($1, $2::int, $3::jsonb, $4::int)::text");
SQ_STMT(act_adjust_price, "SELECT souq_automation_adjust_price($1, $2::int, $3::jsonb)::text, $4::text");
SQ_STMT_RO(webhook_target, "SELECT json_build_object('url', w.url, 'secret', w.secret, 'previous_secret', "
                           "CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END, 'enabled', w.enabled) "
                           "FROM webhook_endpoints w WHERE w.id = $1");
SQ_STMT_RO(price_preview, "SELECT souq_automation_price_preview($1::jsonb)");

static const char *const rule_filters[] = {"enabled", "event", NULL};
static const char *const bools[] = {"true", "false", NULL};
static const sq_filter_rule_t rule_filter_rules[] = {{"enabled", 5, bools, NULL}, {"event", 128, NULL, NULL}, {NULL}};

const sq_resource_t sq_res_automation_rule = {
    .name = "automation rule",
    .prefix = "arule",
    .create_fields = sq_rule_create_fields,
    .update_fields = sq_rule_update_fields,
    .check = sq_automation_rule_check,
    .get = &rule_get,
    .list = &rule_list,
    .create = &rule_create,
    .update = &rule_update,
    .remove = &rule_remove,
    .filters = rule_filters,
    .filter_rules = rule_filter_rules,
    .create_takes_actor = true,
};

/* ---- runs of a rule: 404 for an unknown rule, then the page ---------------------------------------------------- */

typedef struct {
    sq_ctx_t *cx;
    const char *rule_id, *state;
    sq_page_t page;
    sq_list_cb cb;
    void *data;
} runs_t;

static void on_rule(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    runs_t *r = data;
    if (err != NULL) {
        r->cb(NULL, err, r->data);
        return;
    }
    if (sq_rows_count(rows) == 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The automation rule does not exist.");
        r->cb(NULL, &e, r->data);
        return;
    }
    sq_arena_t *a = r->cx->arena;
    sq_db_list(r->cx->db, a, &run_list, 4, sq_db_params(a, 4, r->page.after, sq_db_int(a, r->page.limit + 1), r->rule_id, r->state),
               r->page.limit, r->cb, r->data);
}

void sq_automation_runs(sq_ctx_t *cx, const char *rule_id, const sq_page_t *page, const char *state, sq_list_cb cb, void *data)
{
    runs_t *r = SQ_NEW(cx->arena, runs_t);
    r->cx = cx;
    r->rule_id = rule_id;
    r->state = state;
    r->page = *page;
    r->cb = cb;
    r->data = data;
    sq_db_query(cx->db, cx->arena, &rule_exists, 1, sq_db_params(cx->arena, 1, rule_id), on_rule, r);
}

/* ---- the engine ------------------------------------------------------------------------------------------------- */

void sq_automation_db_begin(sq_ctx_t *cx, const char *run_id, int attempt, sq_json_cb cb, void *data)
{
    sq_db_json(sq_ctx_commit_db(cx), cx->arena, &run_begin, 2, sq_db_params(cx->arena, 2, run_id, sq_db_int(cx->arena, attempt)),
               cb, data);
}

void sq_automation_db_match(sq_ctx_t *cx, const char *run_id, bool matched, const char *results, sq_json_cb cb, void *data)
{
    sq_db_json(sq_ctx_commit_db(cx), cx->arena, &run_match, 3, sq_db_params(cx->arena, 3, run_id, sq_db_bool(matched), results), cb,
               data);
}

void sq_automation_db_step_done(sq_ctx_t *cx, const char *run_id, int step, const char *type, const char *result, sq_json_cb cb,
                                void *data)
{
    sq_db_json(sq_ctx_commit_db(cx), cx->arena, &step_done, 4,
               sq_db_params(cx->arena, 4, run_id, sq_db_int(cx->arena, step), type, result), cb, data);
}

void sq_automation_db_fail(sq_ctx_t *cx, const char *run_id, int attempt, int step, const char *type, const char *error,
                           bool permanent, sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(sq_ctx_commit_db(cx), a, &run_fail, 6,
               sq_db_params(a, 6, run_id, sq_db_int(a, attempt), sq_db_int(a, step), type, error, sq_db_bool(permanent)), cb, data);
}

void sq_automation_db_finish(sq_ctx_t *cx, const char *run_id, sq_json_cb cb, void *data)
{
    sq_db_json(sq_ctx_commit_db(cx), cx->arena, &run_finish, 1, sq_db_params(cx->arena, 1, run_id), cb, data);
}

void sq_automation_db_fire(sq_ctx_t *cx, const char *rule_id, const char *job_id, sq_json_cb cb, void *data)
{
    sq_db_json(sq_ctx_commit_db(cx), cx->arena, &schedule_fire, 2, sq_db_params(cx->arena, 2, rule_id, job_id), cb, data);
}

static const struct {
    const char *name;
    sq_stmt_t *stmt;
} action_stmts[] = {
    {"tag_customer", &act_tag_customer},
    {"tag_order", &act_tag_order},
    {"emit_event", &act_emit_event},
    {"adjust_price", &act_adjust_price},
    {"create_purchase_order", &act_create_po},
    {"start_price_list", &act_start_list},
};

void sq_automation_db_action(sq_ctx_t *cx, const char *fn, const char *run_id, int step, const char *a1, const char *a2,
                             sq_json_cb cb, void *data)
{
    sq_stmt_t *stmt = NULL;
    for (size_t i = 0; i < sizeof(action_stmts) / sizeof(action_stmts[0]); i++)
        if (strcmp(action_stmts[i].name, fn) == 0)
            stmt = action_stmts[i].stmt;
    if (SQ_NEVER(stmt == NULL)) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_INTERNAL, "No statement for action %s.", fn);
        cb(NULL, &e, data);
        return;
    }
    sq_arena_t *a = cx->arena;
    sq_db_json(sq_ctx_commit_db(cx), a, stmt, 4, sq_db_params(a, 4, run_id, sq_db_int(a, step), a1, a2), cb, data);
}

void sq_automation_db_webhook(sq_ctx_t *cx, const char *webhook_id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &webhook_target, 1, sq_db_params(cx->arena, 1, webhook_id), cb, data);
}

void sq_automation_db_price_preview(sq_ctx_t *cx, const json_t *plan, sq_json_cb cb, void *data)
{
    size_t len;
    sq_db_json(cx->db, cx->arena, &price_preview, 1, sq_db_params(cx->arena, 1, sq_json_dump(cx->arena, plan, &len)), cb, data);
}

void sq_automation_db_retention(sq_ctx_t *cx, int days, sq_json_cb cb, void *data)
{
    sq_db_json(sq_ctx_commit_db(cx), cx->arena, &retention, 1, sq_db_params(cx->arena, 1, sq_db_int(cx->arena, days)), cb, data);
}
