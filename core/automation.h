/* automation.h: automation rules as data: a trigger (an event type of the catalogue, or a schedule), conditions in a
 * small expression language over the event's payload, and ordered actions from a registry. The rules (expressions,
 * rule and action validation, the action registry) are here and in automation.c / automation_actions.c; the SQL is in
 * automation_db.c and migrations/0032_automation_rules.sql. Runs are durable jobs (core/jobs.h): kind automation.run
 * executes one run, kind automation.schedule fires a scheduled rule's period.
 *
 * The expression language is a JSON AST (documented in the README, "Automation rules"):
 *   {"all": [c, ...]}  {"any": [c, ...]}  {"not": c}
 *   {"field": "<JSON pointer into the payload>", "op": "eq|ne|lt|lte|gt|gte|in|exists", "value": v,
 *    "type": "number|string|money|date" (optional: inferred from value), "currency_field": "<pointer>" (money)}
 * money values are {"amount": <minor units>, "currency": "eur"}; dates are RFC 3339 times, YYYY-MM-DD dates, or
 * "now", "now-7d", "now+12h" (s, m, h, d). */
#ifndef SQ_AUTOMATION_H
#define SQ_AUTOMATION_H

#include "core/base/json.h"
#include "core/ctx.h"
#include "core/resource.h"

#define SQ_EXPR_MAX_DEPTH 8
#define SQ_EXPR_MAX_NODES 100
#define SQ_EXPR_MAX_IN 100
#define SQ_RULE_MAX_ACTIONS 20

/* ---- expressions ----------------------------------------------------------------------------------------------- */

/** Validates a condition tree; each problem is a field error at pointer + the path inside the tree ("/conditions/all/1/op").
 * 0, or -1 with err's fields added (err's code is left to the caller). */
int sq_expr_validate(const json_t *expr, const char *pointer, sq_err_t *err);

/** Evaluates a validated tree against payload at time now_us. Every node is evaluated (no short cut), and when
 * trace is not NULL each node appends one object to it: {"at": <pointer>, "result": bool, and for comparisons
 * "field", "op", "expected", "actual", "reason" (why a comparison is false beyond the values: missing,
 * type_mismatch, currency_mismatch)}. A NULL expr is true. */
bool sq_expr_eval(const json_t *expr, const json_t *payload, int64_t now_us, const char *pointer, json_t *trace);

/** The value at a JSON pointer ("" is the document itself) in doc, or NULL. */
json_t *sq_json_pointer_get(const json_t *doc, const char *pointer);

/** Parses an RFC 3339 time or a YYYY-MM-DD date (midnight UTC) into Unix microseconds. false when malformed. */
bool sq_time_parse(const char *s, int64_t *out_us);

/* ---- actions --------------------------------------------------------------------------------------------------- */

/** One action of one run being executed. */
typedef struct sq_action_run sq_action_run_t;

/** How an action ends: result (an object, owned by the caller's arena after the call) on success; err on failure,
 * permanent when retrying cannot help (the referenced object is gone, a 4xx answer). */
typedef void (*sq_action_done_fn)(sq_action_run_t *r, json_t *result, const sq_err_t *err, bool permanent);

struct sq_action_run {
    sq_ctx_t *cx;
    const char *run_id, *rule_id, *trigger_key, *event_type;
    int index, attempt;
    const json_t *params;        /* validated at save time */
    const json_t *payload;       /* the event's data */
    json_t *plan;                /* what the action's plan function made of params and payload */
    const char *idempotency_key; /* "<run id>.<index>": external actions send it */
    int http_connect_timeout_ms, http_timeout_ms;
    sq_action_done_fn done;
    void *data;
};

/** An entry of the action registry. Adding an action = one entry in sq_automation_actions (automation_actions.c)
 * and its functions; the engine, the API and the dry run need no change. */
typedef struct {
    const char *type;    /* "tag_customer": the action's "type" in a rule */
    const char *summary; /* one line for documents */
    bool external;       /* its effect is outside the database (HTTP): run before its step is recorded, with the
                            idempotency key; database actions apply their effect in the step's transaction */
    /** Checks params (the action's "params" object, maybe NULL) at save time; errors at pointer + "/<field>". 0 or -1. */
    int (*validate)(const json_t *params, const char *pointer, sq_err_t *err);
    /** What the action will do for this payload (ids resolved from the event, templates filled): a new object, or
     * NULL with err set when it cannot run for this payload (a permanent failure). Pure: used by runs and dry runs. */
    json_t *(*plan)(const json_t *params, const json_t *payload, const char *event_type, sq_err_t *err);
    /** Executes the planned action (r->plan) and calls r->done exactly once. */
    void (*run)(sq_action_run_t *r);
    /** Optional: dry runs ask the database what the plan would change (reads only); cb gets a JSON object text. */
    void (*preview)(sq_ctx_t *cx, const json_t *plan, sq_json_cb cb, void *data);
} sq_action_def_t;

/** The registry, NULL-terminated by type. */
extern const sq_action_def_t sq_automation_actions[];
/** The entry of type, or NULL. */
const sq_action_def_t *sq_automation_action(const char *type);

/* ---- rules ----------------------------------------------------------------------------------------------------- */

/** True when type is an event type of the catalogue (openapi x-events) that rules may trigger on (not sensitive). */
bool sq_automation_event_known(const char *type);

/** The body rules of rules: field types, then the trigger, the conditions and each action's params. */
extern const sq_field_t sq_rule_create_fields[], sq_rule_update_fields[];
int sq_automation_rule_check(const json_t *body, bool create, sq_err_t *err);

/** The admin resource of rules (create and update go through sq_automation_rule_body first). */
extern const sq_resource_t sq_res_automation_rule;

/** Adds what SQL needs to a validated rule body: for a schedule trigger, _every_s or _daily_min. */
void sq_automation_rule_body(json_t *body);

/** Runs of a rule, newest first; state filters (NULL: all). SQ_E_NOT_FOUND when the rule does not exist. */
void sq_automation_runs(sq_ctx_t *cx, const char *rule_id, const sq_page_t *page, const char *state, sq_list_cb cb, void *data);
extern const char *const sq_automation_run_states[];

/** Body rules of the dry-run endpoints: {"rule": {...}, "event": {"type": ..., "data": {...}}} (rule only for an
 * unsaved one). */
extern const sq_field_t sq_dry_run_fields[], sq_dry_run_saved_fields[];
/** Evaluates rule (a rule as the API shows it, or a validated unsaved body) against event and says what each action
 * would do, changing nothing. cb gets the report (JSON text in cx->arena). */
void sq_automation_dry_run(sq_ctx_t *cx, const json_t *rule, const json_t *event, sq_json_cb cb, void *data);

/** This node's run and action counters in the Prometheus text format (in the arena). */
char *sq_automation_metrics(sq_arena_t *a);

/** Registers the job kinds automation.run, automation.schedule and automation.retention (before the server starts its
 * threads). */
void sq_automation_register_jobs(void);

/* ---- the runner's SQL (automation_db.c) ------------------------------------------------------------------------ */

void sq_automation_db_begin(sq_ctx_t *cx, const char *run_id, int attempt, sq_json_cb cb, void *data);
void sq_automation_db_match(sq_ctx_t *cx, const char *run_id, bool matched, const char *results, sq_json_cb cb, void *data);
void sq_automation_db_step_done(sq_ctx_t *cx, const char *run_id, int step, const char *type, const char *result, sq_json_cb cb,
                                void *data);
void sq_automation_db_fail(sq_ctx_t *cx, const char *run_id, int attempt, int step, const char *type, const char *error,
                           bool permanent, sq_json_cb cb, void *data);
void sq_automation_db_finish(sq_ctx_t *cx, const char *run_id, sq_json_cb cb, void *data);
void sq_automation_db_fire(sq_ctx_t *cx, const char *rule_id, const char *job_id, sq_json_cb cb, void *data);
/** Deletes runs finished more than days ago (a batch); cb gets how many as text. */
void sq_automation_db_retention(sq_ctx_t *cx, int days, sq_json_cb cb, void *data);
/** A database action's own statement: one of the souq_automation_<action> functions, with (run, step, args...). */
void sq_automation_db_action(sq_ctx_t *cx, const char *fn, const char *run_id, int step, const char *a1, const char *a2,
                             sq_json_cb cb, void *data);
/** The URL, secret, previous secret (while it signs) and enabled flag of a webhook endpoint, as a JSON object. */
void sq_automation_db_webhook(sq_ctx_t *cx, const char *webhook_id, sq_json_cb cb, void *data);
void sq_automation_db_price_preview(sq_ctx_t *cx, const json_t *plan, sq_json_cb cb, void *data);

#endif
