/* import_db.c: SQL of imports and the export (their logic: migrations/0009_imports.sql). */
#include "core/import.h"

#include <string.h>

SQ_STMT_RO(import_get, "SELECT souq_import_json(i) FROM imports i WHERE i.id = $1");
SQ_STMT_RO(import_list, "SELECT souq_import_json(i), i.id FROM imports i WHERE ($1::text IS NULL OR i.id < $1) "
                        "ORDER BY i.id DESC LIMIT $2");
SQ_STMT(import_create, "SELECT souq_import_create($1, $2, $3, $4::int, $5::int, $6::int, $7::jsonb, $8::jsonb)");
SQ_STMT(import_step, "SELECT souq_import_step($1, $2::int, $3::int)");
SQ_STMT_RO(export_csv, "SELECT coalesce(string_agg(l, E'\\r\\n'), '') || E'\\r\\n' FROM souq_export_products_csv() l");

const sq_resource_t sq_res_import = {"import", "imp", NULL, NULL, NULL, &import_get, &import_list,
                                     NULL,     NULL,  NULL, NULL, NULL, false};

void sq_import_create(sq_ctx_t *cx, sq_import_format_t fmt, const char *filename, const sq_import_parsed_t *in, const char *actor,
                      sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    const char **p =
        sq_db_params(a, 8, fmt == SQ_IMPORT_CSV ? "csv" : "ndjson", filename, actor, sq_db_int(a, in->rows_total),
                     sq_db_int(a, in->rows_failed), sq_db_int(a, in->products_failed), in->errors_json, in->items_json);
    sq_db_json(cx->db, a, &import_create, 8, p, cb, data);
}

typedef struct {
    sq_json_cb cb;
    void *data;
} step_t;

static void on_step(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    step_t *s = data;
    if (err != NULL)
        s->cb(NULL, err, s->data);
    else
        s->cb(sq_rows_count(rows) > 0 ? sq_rows_text(rows, 0, 0) : NULL, NULL, s->data);
}

void sq_import_step(sq_ctx_t *cx, const char *import_id, int limit, int max_ms, sq_json_cb cb, void *data)
{
    step_t *s = SQ_NEW(cx->arena, step_t);
    s->cb = cb;
    s->data = data;
    sq_db_query(cx->db, cx->arena, &import_step, 3,
                sq_db_params(cx->arena, 3, import_id, sq_db_int(cx->arena, limit), sq_db_int(cx->arena, max_ms)), on_step, s);
}

typedef struct {
    sq_text_cb cb;
    void *data;
} export_t;

static void on_export(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    export_t *x = data;
    const char *t = err == NULL && sq_rows_count(rows) > 0 ? sq_rows_text(rows, 0, 0) : NULL;
    x->cb(t, t ? strlen(t) : 0, err, x->data);
}

void sq_export_products_csv(sq_ctx_t *cx, sq_text_cb cb, void *data)
{
    export_t *x = SQ_NEW(cx->arena, export_t);
    x->cb = cb;
    x->data = data;
    sq_db_query(cx->db, cx->arena, &export_csv, 0, NULL, on_export, x);
}
