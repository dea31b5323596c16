/* err.c: the error type's helpers and the code -> slug/title table. */
#include "core/base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *slug, *title;
} table[] = {
#define SQ_X(e, s, t) {s, t},
    SQ_ERR_CODES(SQ_X)
#undef SQ_X
};

void sq_err_clear(sq_err_t *e)
{
    e->code = SQ_OK;
    e->detail[0] = e->internal[0] = e->constraint[0] = e->column[0] = e->at[0] = '\0';
    e->retry_after = 0;
    e->nfields = 0;
    e->param_errors = false;
    e->retryable = false;
}

int sq_err_set(sq_err_t *e, sq_code_t code, const char *fmt, ...)
{
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
    return -1;
}

void sq_err_internal(sq_err_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->internal, sizeof(e->internal), fmt, ap);
    va_end(ap);
}

void sq_err_field(sq_err_t *e, const char *pointer, const char *code, const char *fmt, ...)
{
    if (e->nfields >= SQ_ERR_MAX_FIELDS)
        return;
    sq_field_err_t *f = &e->fields[e->nfields++];
    snprintf(f->pointer, sizeof(f->pointer), "%s", pointer);
    snprintf(f->code, sizeof(f->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
    va_end(ap);
}

void sq_err_copy(sq_err_t *dst, const sq_err_t *src)
{
    if (dst == src)
        return;
    dst->code = src->code;
    dst->retryable = src->retryable;
    memcpy(dst->detail, src->detail, sizeof(dst->detail));
    memcpy(dst->internal, src->internal, sizeof(dst->internal));
    memcpy(dst->constraint, src->constraint, sizeof(dst->constraint));
    memcpy(dst->column, src->column, sizeof(dst->column));
    memcpy(dst->at, src->at, sizeof(dst->at));
    dst->retry_after = src->retry_after;
    dst->param_errors = src->param_errors;
    dst->nfields = src->nfields;
    memcpy(dst->fields, src->fields, sizeof(sq_field_err_t) * (size_t)src->nfields);
}

const char *sq_err_slug(sq_code_t code)
{
    return (unsigned)code < SQ_ERR__COUNT ? table[code].slug : "internal";
}

const char *sq_err_title(sq_code_t code)
{
    return (unsigned)code < SQ_ERR__COUNT ? table[code].title : "Internal error";
}
