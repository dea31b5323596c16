/* imports.c: POST /v1/admin/imports (a CSV or NDJSON file, read and validated on the worker pool, stored as a
 * queued import that thread 0 processes: api/server.c) and GET /v1/admin/exports/products.csv. Listing and
 * reading imports are the generic resource handlers (routes.c). */
#include <string.h>

#include "api/handlers/handlers.h"
#include "core/import.h"

typedef struct {
    sq_req_t *req;
    sq_import_format_t fmt;
    const char *buf;
    size_t len;
    sq_arena_t *out; /* the result (strings only); freed with the request */
    sq_import_parsed_t parsed;
    sq_err_t err;
    int rc;
} upload_t;

static void unref_arena(void *p)
{
    sq_arena_unref(p);
}

/* On a pool thread: the jansson trees live and die in a scratch arena here; only the serialised items and
 * errors go back to the loop. */
static void parse_work(void *data)
{
    upload_t *u = data;
    sq_arena_t *scratch = sq_arena_new();
    sq_err_clear(&u->err);
    u->rc = sq_import_parse(scratch, u->fmt, u->buf, u->len, &u->parsed, &u->err);
    if (u->rc == 0) {
        u->parsed.items_json = sq_arena_strdup(u->out, u->parsed.items_json);
        u->parsed.errors_json = sq_arena_strdup(u->out, u->parsed.errors_json);
    }
    u->parsed.errors = NULL;
    sq_arena_unref(scratch);
}

static void on_created(const char *json, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    /* "id" : "imp_..." is the first member of the import's JSON */
    const char *id = strstr(json, "imp_");
    if (id != NULL) {
        char loc[64];
        snprintf(loc, sizeof(loc), "/v1/admin/imports/%.30s", id);
        sq_req_add_header(req, "location", loc);
    }
    sq_req_send_json(req, 202, json, strlen(json));
}

static void parse_done(void *data)
{
    upload_t *u = data;
    sq_req_t *req = u->req;
    if (req->h2o == NULL || req->responded)
        return; /* the client went away: nothing is stored */
    if (u->rc != 0) {
        sq_req_fail_with(req, &u->err);
        return;
    }
    sq_import_create(&req->cx, u->fmt, NULL, &u->parsed, req->principal.id, on_created, req);
}

void sq_h_import_create(sq_req_t *req)
{
    const char *type = sq_req_upload_type(req);
    if (type == NULL) {
        sq_req_fail_code(req, SQ_E_UNSUPPORTED_MEDIA_TYPE, "Send the file as text/csv or application/x-ndjson.");
        return;
    }
    upload_t *u = SQ_NEW(req->arena, upload_t);
    u->req = req;
    u->fmt = strcmp(type, "text/csv") == 0 ? SQ_IMPORT_CSV : SQ_IMPORT_NDJSON;
    /* a copy: the worker must not read H2O's buffer, which dies with the connection */
    u->len = req->h2o->entity.base ? req->h2o->entity.len : 0;
    char *buf = sq_arena_alloc(req->arena, u->len + 1);
    if (u->len)
        memcpy(buf, req->h2o->entity.base, u->len);
    buf[u->len] = '\0';
    u->buf = buf;
    u->out = sq_arena_new();
    sq_arena_defer(req->arena, unref_arena, u->out);
    sq_req_no_deadline(req); /* reading 8 MiB takes seconds (README); the loop is not waiting meanwhile */
    req->cx.offload(&req->cx, parse_work, parse_done, u);
}

static void on_csv(const char *text, size_t len, const sq_err_t *err, void *data)
{
    sq_req_t *req = data;
    if (err != NULL) {
        sq_req_fail_with(req, err);
        return;
    }
    sq_req_add_header(req, "content-disposition", "attachment; filename=\"products.csv\"");
    sq_req_send_text(req, 200, "text/csv; charset=utf-8", text, len);
}

void sq_h_export_products(sq_req_t *req)
{
    sq_export_products_csv(&req->cx, on_csv, req);
}
