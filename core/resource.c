/* resource.c: the generic resource operations (conventions in resource.h). */
#include "core/resource.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const sq_resource_t *r;
    sq_arena_t *arena;
    sq_json_cb cb;
    sq_done_cb done;
    void *data;
} op_t;

static op_t *op(sq_ctx_t *cx, const sq_resource_t *r, sq_json_cb cb, sq_done_cb done, void *data)
{
    op_t *o = SQ_NEW(cx->arena, op_t);
    o->r = r;
    o->arena = cx->arena;
    o->cb = cb;
    o->done = done;
    o->data = data;
    return o;
}

/* Constraint violations become the resource's own errors with the field they are about: the constraint table
 * names the field within the item, core/db says which item of the body (err->at, "" for the body itself). A
 * violation no entry knows that names a column (not-null) points at that column. */
const sq_err_t *sq_resource_refine(sq_arena_t *a, const sq_resource_t *r, const sq_err_t *err)
{
    if (err == NULL || err->code == SQ_OK)
        return err;
    for (const sq_constraint_t *c = r->constraints; c != NULL && c->constraint != NULL && err->constraint[0]; c++) {
        if (strcmp(c->constraint, err->constraint) != 0)
            continue;
        sq_err_t *e = SQ_NEW(a, sq_err_t);
        sq_err_copy(e, err);
        e->nfields = 0;
        sq_err_set(e, c->code, "%s", c->detail);
        if (c->pointer != NULL)
            sq_err_field(e, sq_arena_printf(a, "%s%s", err->at, c->pointer),
                         c->code == SQ_E_ALREADY_EXISTS ? "taken" : "invalid_value", "%s", c->detail);
        return e;
    }
    /* a resource's SQL function may raise SQ422 with "<pointer>|<code>|<detail>" (as the cart functions do) */
    const char *bar1 = strchr(err->detail, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
    if (err->code == SQ_E_VALIDATION && err->detail[0] == '/' && bar2 != NULL && err->nfields == 0) {
        sq_err_t *e = SQ_NEW(a, sq_err_t);
        sq_err_copy(e, err);
        const char *pointer = sq_arena_printf(a, "%.*s", (int)(bar1 - err->detail), err->detail);
        const char *code = sq_arena_printf(a, "%.*s", (int)(bar2 - bar1 - 1), bar1 + 1);
        sq_err_set(e, err->code, "%s", bar2 + 1);
        sq_err_field(e, pointer, code, "%s", bar2 + 1);
        return e;
    }
    if (err->column[0] != '\0' && err->nfields == 0) {
        sq_err_t *e = SQ_NEW(a, sq_err_t);
        sq_err_copy(e, err);
        sq_err_field(e, sq_arena_printf(a, "%s/%s", err->at, err->column),
                     err->code == SQ_E_VALIDATION ? "required" : "invalid_value", "%s", err->detail);
        return e;
    }
    return err;
}

static const sq_err_t *refine(op_t *o, const sq_err_t *err)
{
    return sq_resource_refine(o->arena, o->r, err);
}

static void on_json(const char *json, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The %s does not exist.", o->r->name);
        o->cb(NULL, &e, o->data);
        return;
    }
    o->cb(json, refine(o, err), o->data);
}

void sq_resource_get(sq_ctx_t *cx, const sq_resource_t *r, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, r->get, 1, sq_db_params(cx->arena, 1, id), on_json, op(cx, r, cb, NULL, data));
}

void sq_resource_list(sq_ctx_t *cx, const sq_resource_t *r, const sq_page_t *page, const char *const *filters, sq_list_cb cb,
                      void *data)
{
    int nf = 0;
    while (r->filters != NULL && r->filters[nf] != NULL)
        nf++;
    const char **p = sq_arena_alloc(cx->arena, sizeof(char *) * (size_t)(2 + nf));
    p[0] = page->after;
    p[1] = sq_db_int(cx->arena, page->limit + 1);
    for (int i = 0; i < nf; i++)
        p[2 + i] = filters != NULL ? filters[i] : NULL;
    sq_db_list(cx->db, cx->arena, r->list, 2 + nf, p, page->limit, cb, data);
}

void sq_resource_create(sq_ctx_t *cx, const sq_resource_t *r, const char *body, const char *actor, sq_json_cb cb, void *data)
{
    int n = r->create_takes_actor ? 2 : 1;
    sq_db_json(cx->db, cx->arena, r->create, n, sq_db_params(cx->arena, n, body, actor), on_json, op(cx, r, cb, NULL, data));
}

void sq_resource_update(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *body, const char *if_match, sq_json_cb cb,
                        void *data)
{
    sq_db_json(cx->db, cx->arena, r->update, 3, sq_db_params(cx->arena, 3, id, body, if_match), on_json, op(cx, r, cb, NULL, data));
}

void sq_resource_update_as(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *body, const char *if_match,
                           const char *actor, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, r->update, 4, sq_db_params(cx->arena, 4, id, body, if_match, actor), on_json,
               op(cx, r, cb, NULL, data));
}

static void on_removed(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err == NULL && sq_rows_affected(rows) == 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The %s does not exist.", o->r->name);
        o->done(&e, o->data);
        return;
    }
    o->done(refine(o, err), o->data);
}

void sq_resource_remove(sq_ctx_t *cx, const sq_resource_t *r, const char *id, sq_done_cb cb, void *data)
{
    sq_db_query(cx->db, cx->arena, r->remove, 1, sq_db_params(cx->arena, 1, id), on_removed, op(cx, r, NULL, cb, data));
}

void sq_resource_remove_as(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *actor, sq_done_cb cb, void *data)
{
    sq_db_query(cx->db, cx->arena, r->remove, 2, sq_db_params(cx->arena, 2, id, actor), on_removed, op(cx, r, NULL, cb, data));
}

void sq_resource_translation_get(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *locale, sq_json_cb cb,
                                 void *data)
{
    sq_db_json(cx->db, cx->arena, r->translation_get, 2, sq_db_params(cx->arena, 2, id, locale), on_json,
               op(cx, r, cb, NULL, data));
}

void sq_resource_translation_save(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *locale, const char *body,
                                  sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, r->translation_save, 3, sq_db_params(cx->arena, 3, id, locale, body), on_json,
               op(cx, r, cb, NULL, data));
}

static void on_translation_removed(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    op_t *o = data;
    if (err == NULL && sq_rows_affected(rows) == 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The %s has no translation into that locale.", o->r->name);
        o->done(&e, o->data);
        return;
    }
    o->done(err, o->data);
}

void sq_resource_translation_remove(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *locale, sq_done_cb cb,
                                    void *data)
{
    sq_db_query(cx->db, cx->arena, r->translation_remove, 2, sq_db_params(cx->arena, 2, id, locale), on_translation_removed,
                op(cx, r, NULL, cb, data));
}

int sq_resource_validate(sq_arena_t *a, const sq_resource_t *r, const json_t *body, bool create, sq_err_t *err)
{
    /* the decoder checks types, lengths and unknown fields; resource field specs all write at offset 0 of a
     * scratch buffer, because the body itself (not a struct) goes to SQL */
    char *out = sq_arena_zalloc(a, 64);
    if (sq_json_decode(a, body, create ? r->create_fields : r->update_fields, out, NULL, err) != 0)
        return -1;
    if (r->check != NULL && r->check(body, create, err) != 0) {
        if (err->code == SQ_OK)
            err->code = SQ_E_VALIDATION;
        if (err->detail[0] == '\0')
            sq_err_set(err, err->code, "Some fields are invalid; see errors.");
        return -1;
    }
    return 0;
}

bool sq_filter_int(const char *v)
{
    const char *p = v + (*v == '-');
    size_t n = strlen(p);
    if (n == 0 || n > 18)
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

bool sq_filter_time(const char *v)
{
    int y, mo, d, h, mi, sec, n = 0;
    size_t len = strlen(v);
    if (len == 10 && sscanf(v, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10)
        return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
    if (len < 20 || len > 35 || sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    const char *z = v + 19;
    if (*z == '.') /* fractions of a second */
        for (z++; *z >= '0' && *z <= '9'; z++)
            ;
    if (strcmp(z, "Z") == 0)
        return true;
    int oh, om;
    return (z[0] == '+' || z[0] == '-') && strlen(z) == 6 && sscanf(z + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5 && oh <= 23 && om <= 59;
}

int sq_resource_check_filters(const sq_resource_t *r, const char *const *values, sq_err_t *err)
{
    for (int i = 0; r->filters != NULL && r->filters[i] != NULL; i++) {
        const char *v = values[i];
        for (const sq_filter_rule_t *f = r->filter_rules; v != NULL && f != NULL && f->name != NULL; f++) {
            if (strcmp(f->name, r->filters[i]) != 0)
                continue;
            size_t n = strlen(v);
            bool known = f->values == NULL;
            for (int k = 0; !known && f->values[k] != NULL; k++)
                known = strcmp(f->values[k], v) == 0;
            if (n == 0 || n > (size_t)f->max_len)
                sq_err_field(err, f->name, "invalid_length", "%s must be 1 to %d characters", f->name, f->max_len);
            else if (!known)
                sq_err_field(err, f->name, "invalid_value", "%s is not one of the values this filter takes", f->name);
            else if (f->valid != NULL && !f->valid(v))
                sq_err_field(err, f->name, "invalid_format", "%s has the wrong format", f->name);
        }
    }
    if (err->nfields == 0)
        return 0;
    err->param_errors = true;
    return sq_err_set(err, SQ_E_INVALID_PARAMETER, "A query parameter is invalid.");
}
