/* events_db.c: SQL of the event dispatcher and of webhooks, events and deliveries in the admin API (the logic is
 * in SQL functions of migrations/0023_events_webhooks.sql). */
#include <stdlib.h>
#include <string.h>

#include "core/base/util.h"
#include "core/events.h"

extern const sq_field_t sq_webhook_create_fields[], sq_webhook_update_fields[];

SQ_STMT(events_fanout, "SELECT souq_events_fanout($1::int, $2::int)");
SQ_STMT(deliveries_claim, "SELECT id, event_id, event_type, attempt, max_attempts, target_kind, target_id, trigger, url, enabled, "
                          "secret, previous_secret, body FROM souq_deliveries_claim($1, $2::int, $3::int)");
SQ_STMT(deliveries_finish, "SELECT i, state FROM souq_deliveries_finish($1::jsonb, $2)");
SQ_STMT_RO(events_stats, "SELECT (SELECT count(*) FROM outbox_events WHERE state IN ('available', 'retryable')), "
                         "(SELECT count(*) FROM event_deliveries WHERE state IN ('available', 'retryable', 'running')), "
                         "coalesce(extract(epoch FROM now() - (SELECT min(occurred_at) FROM outbox_events "
                         "  WHERE state IN ('available', 'retryable'))), 0)::float8, "
                         "coalesce(extract(epoch FROM now() - (SELECT min(run_at) FROM event_deliveries "
                         "  WHERE state IN ('available', 'retryable') AND run_at <= now())), 0)::float8");

SQ_STMT_RO(webhook_get, "SELECT souq_webhook_json(t) FROM webhook_endpoints t WHERE t.id = $1");
SQ_STMT_RO(webhook_list, "SELECT souq_webhook_json(t), t.id FROM webhook_endpoints t WHERE ($1::text IS NULL OR t.id < $1) "
                         "AND ($3::boolean IS NULL OR t.enabled = $3::boolean) ORDER BY t.id DESC LIMIT $2");
SQ_STMT(webhook_create, "SELECT souq_webhook_save(NULL, $1::jsonb, NULL)");
SQ_STMT(webhook_update, "SELECT souq_webhook_save($1, $2::jsonb, $3)");
/* pending deliveries of a deleted webhook are canceled (their log stays) */
SQ_STMT(webhook_remove, "WITH c AS (UPDATE event_deliveries SET state = 'canceled', locked_by = NULL, locked_until = NULL, "
                        "  completed_at = now(), updated_at = now(), last_error = 'endpoint deleted' "
                        "  WHERE target_kind = 'webhook' AND target_id = $1 AND state IN ('available', 'retryable', 'running')) "
                        "DELETE FROM webhook_endpoints WHERE id = $1");
SQ_STMT(webhook_rotate, "SELECT souq_webhook_rotate($1, $2, $3::int)");
SQ_STMT_RO(webhook_deliveries, "SELECT souq_delivery_json(d), d.id FROM event_deliveries d WHERE d.target_kind = 'webhook' "
                               "AND d.target_id = $3 AND ($1::text IS NULL OR d.id < $1) AND ($4::text IS NULL OR d.state = $4) "
                               "ORDER BY d.id DESC LIMIT $2");
SQ_STMT_RO(events_list, "SELECT souq_event_json(e, false), e.id FROM outbox_events e WHERE ($1::text IS NULL OR e.id < $1) "
                        "AND ($3::text IS NULL OR e.type = $3) ORDER BY e.id DESC LIMIT $2");
SQ_STMT_RO(event_get, "SELECT souq_event_json(e, true) FROM outbox_events e WHERE e.id = $1");
SQ_STMT(delivery_create, "SELECT souq_delivery_create($1, $2, $3, $4::int)");

static const char *const webhook_filters[] = {"enabled", NULL};
static const char *const bools[] = {"true", "false", NULL};
static const sq_filter_rule_t webhook_filter_rules[] = {{"enabled", 5, bools, NULL}, {NULL}};

const sq_resource_t sq_res_webhook = {
    .name = "webhook endpoint",
    .prefix = "whk",
    .create_fields = sq_webhook_create_fields,
    .update_fields = sq_webhook_update_fields,
    .get = &webhook_get,
    .list = &webhook_list,
    .create = &webhook_create,
    .update = &webhook_update,
    .remove = &webhook_remove,
    .filters = webhook_filters,
    .filter_rules = webhook_filter_rules,
};

/* ---- the dispatcher ----------------------------------------------------------------------------------------- */

typedef struct {
    sq_arena_t *arena;
    void (*cb)();
    void *data;
} op_t;

static op_t *op(sq_ctx_t *cx, void (*cb)(), void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    o->arena = cx->arena;
    o->cb = cb;
    o->data = data;
    return o;
}

static void on_step(sq_batch_t *b, const sq_err_t *err, void *data)
{
    op_t *o = data;
    sq_step_cb cb = (sq_step_cb)o->cb;
    if (err != NULL) {
        cb(0, NULL, 0, err, o->data);
        return;
    }
    sq_rows_t *f = sq_batch_rows(b, 0), *rows = sq_batch_rows(b, 1);
    long fanned = sq_rows_count(f) > 0 ? (long)sq_rows_int64(f, 0, 0) : 0;
    int n = sq_rows_count(rows);
    sq_delivery_t *list = sq_arena_zalloc(o->arena, sizeof(sq_delivery_t) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        sq_delivery_t *d = &list[i];
        d->id = sq_rows_text(rows, i, 0);
        d->event_id = sq_rows_text(rows, i, 1);
        d->event_type = sq_rows_text(rows, i, 2);
        d->attempt = (int)sq_rows_int64(rows, i, 3);
        d->max_attempts = (int)sq_rows_int64(rows, i, 4);
        d->target_kind = sq_rows_text(rows, i, 5);
        d->target_id = sq_rows_text(rows, i, 6);
        d->trigger = sq_rows_text(rows, i, 7);
        d->url = sq_rows_text(rows, i, 8);
        d->enabled = sq_rows_bool(rows, i, 9);
        d->secret = sq_rows_text(rows, i, 10);
        d->previous_secret = sq_rows_text(rows, i, 11);
        d->body = sq_rows_text(rows, i, 12);
    }
    cb(fanned, list, n, NULL, o->data);
}

void sq_events_step(sq_ctx_t *cx, int fanout_limit, int max_attempts, const char *node, int claim_limit, int lease_ms,
                    sq_step_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_batch_t *b = sq_db_batch(cx->db, a);
    sq_batch_add(b, &events_fanout, 2, sq_db_params(a, 2, sq_db_int(a, fanout_limit), sq_db_int(a, max_attempts)));
    sq_batch_add(b, &deliveries_claim, 3, sq_db_params(a, 3, node, sq_db_int(a, claim_limit), sq_db_int(a, lease_ms)));
    sq_batch_send(b, on_step, op(cx, (void (*)())cb, data));
}

/* at most 1 KiB of the answer, cut at a UTF-8 character boundary, without NUL bytes (text columns refuse them) */
static const char *excerpt(sq_arena_t *a, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strnlen(s, 1024);
    while (n > 0 && n < strlen(s) && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return sq_arena_strndup(a, s, n);
}

/* a JSON string of s; bytes that are not UTF-8 (an answer in Latin-1) become '?' rather than failing the batch */
static json_t *jstr(sq_arena_t *a, const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *v = json_string(s);
    if (v != NULL)
        return v;
    char *c = sq_arena_strdup(a, s);
    for (char *p = c; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    return json_string(c);
}

typedef struct {
    sq_arena_t *arena;
    int n;
    sq_states_cb cb;
    void *data;
} fin_t;

static void on_finish(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    fin_t *f = data;
    const char **states = sq_arena_zalloc(f->arena, sizeof(char *) * (size_t)(f->n + 1));
    if (err != NULL) {
        f->cb(states, f->n, err, f->data);
        return;
    }
    for (int r = 0; r < sq_rows_count(rows); r++) {
        int64_t i = sq_rows_int64(rows, r, 0);
        if (SQ_ALWAYS(i >= 0 && i < f->n))
            states[i] = sq_rows_text(rows, r, 1);
    }
    f->cb(states, f->n, NULL, f->data);
}

void sq_deliveries_finish(sq_ctx_t *cx, const char *node, const sq_delivery_result_t *results, int n, sq_states_cb cb,
                          void *data)
{
    sq_arena_t *a = cx->arena;
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        const sq_delivery_result_t *r = &results[i];
        json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:i, s:s, s:I, s:i, s:I}", "i", i, "id", r->d->id, "target_kind",
                              r->d->target_kind, "target_id", r->d->target_id, "attempt", r->d->attempt, "outcome",
                              sq_delivery_outcome_name(r->outcome), "started_us", (json_int_t)r->started_unix_us, "duration_ms",
                              r->duration_ms, "retry_ms", (json_int_t)r->retry_ms);
        json_object_set_new(o, "status", r->status > 0 ? json_integer(r->status) : json_null());
        json_object_set_new(o, "error", jstr(a, r->error));
        json_object_set_new(o, "response", jstr(a, excerpt(a, r->response)));
        json_array_append_new(list, o);
    }
    size_t len;
    const char *body = sq_json_dump(a, sq_json_own(a, list), &len);
    fin_t *f = SQ_NEW(a, fin_t);
    *f = (fin_t){a, n, cb, data};
    sq_db_query(cx->db, a, &deliveries_finish, 2, sq_db_params(a, 2, body, node), on_finish, f);
}

static void on_stats(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    sq_events_stats_t s = {0};
    if (err == NULL && sq_rows_count(rows) > 0) {
        s.events_pending = sq_rows_int64(rows, 0, 0);
        s.deliveries_pending = sq_rows_int64(rows, 0, 1);
        s.oldest_event_age_s = atof(sq_rows_text(rows, 0, 2));
        s.oldest_due_age_s = atof(sq_rows_text(rows, 0, 3));
    }
    ((sq_stats_cb)o->cb)(&s, err, o->data);
}

void sq_events_stats(sq_ctx_t *cx, sq_stats_cb cb, void *data)
{
    sq_db_query(cx->db, cx->arena, &events_stats, 0, NULL, on_stats, op(cx, (void (*)())cb, data));
}

/* ---- admin ------------------------------------------------------------------------------------------------------ */

void sq_webhook_rotate(sq_ctx_t *cx, const char *id, const char *secret, int overlap_s, sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &webhook_rotate, 3, sq_db_params(a, 3, id, secret, sq_db_int(a, overlap_s)), cb, data);
}

typedef struct {
    sq_ctx_t cx;
    const char *id, *state;
    sq_page_t page;
    sq_list_cb cb;
    void *data;
} deliveries_t;

static void on_webhook_exists(const char *json, const sq_err_t *err, void *data)
{
    deliveries_t *q = data;
    if (err != NULL) {
        sq_err_t e;
        sq_err_copy(&e, err);
        if (e.code == SQ_E_NOT_FOUND)
            sq_err_set(&e, SQ_E_NOT_FOUND, "The webhook endpoint does not exist.");
        q->cb(NULL, &e, q->data);
        return;
    }
    (void)json;
    sq_arena_t *a = q->cx.arena;
    sq_db_list(q->cx.db, a, &webhook_deliveries, 4,
               sq_db_params(a, 4, q->page.after, sq_db_int(a, q->page.limit + 1), q->id, q->state), q->page.limit, q->cb, q->data);
}

void sq_webhook_deliveries(sq_ctx_t *cx, const char *id, const sq_page_t *page, const char *state, sq_list_cb cb, void *data)
{
    deliveries_t *q = SQ_NEW(cx->arena, deliveries_t);
    q->cx = *cx;
    q->id = id;
    q->state = state;
    q->page = *page;
    q->cb = cb;
    q->data = data;
    sq_db_json(cx->db, cx->arena, &webhook_get, 1, sq_db_params(cx->arena, 1, id), on_webhook_exists, q);
}

void sq_events_list(sq_ctx_t *cx, const sq_page_t *page, const char *type, sq_list_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_list(cx->db, a, &events_list, 3, sq_db_params(a, 3, page->after, sq_db_int(a, page->limit + 1), type), page->limit, cb,
               data);
}

void sq_event_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &event_get, 1, sq_db_params(cx->arena, 1, id), cb, data);
}

void sq_delivery_create(sq_ctx_t *cx, const char *event_id, const char *webhook_id, const char *trigger, int max_attempts,
                        sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_db_json(cx->db, a, &delivery_create, 4, sq_db_params(a, 4, event_id, webhook_id, trigger, sq_db_int(a, max_attempts)), cb,
               data);
}
