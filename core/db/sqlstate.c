/* sqlstate.c: the one table from SQLSTATE to the error type. Nothing else in Souq looks at SQLSTATEs. */
#include <stdio.h>
#include <string.h>

#include "core/db/db.h"

static const struct {
    const char *state; /* a full code, or a two-character class */
    sq_code_t code;
    const char *detail;
    int retry_after;
} table[] = {
    {"23505", SQ_E_ALREADY_EXISTS, "A resource with these values already exists.", 0},
    {"23503", SQ_E_CONFLICT, "A referenced resource does not exist or is still in use.", 0},
    {"23514", SQ_E_CONFLICT, "The change would break a rule of the data (for example a quantity below zero).", 0},
    {"23P01", SQ_E_CONFLICT, "The change overlaps an existing resource.", 0},
    {"23502", SQ_E_VALIDATION, "A required value is missing.", 0},
    {"22001", SQ_E_VALIDATION, "A value is too long.", 0},
    {"22003", SQ_E_VALIDATION, "A number is out of range.", 0},
    {"22P02", SQ_E_VALIDATION, "A value has the wrong format.", 0},
    {"22007", SQ_E_VALIDATION, "A date or time has the wrong format.", 0},
    {"22008", SQ_E_VALIDATION, "A date or time is out of range.", 0},
    {"40001", SQ_E_BUSY, "The resource is busy; retry shortly.", 1},
    {"40P01", SQ_E_BUSY, "The resource is busy; retry shortly.", 1},
    {"55P03", SQ_E_BUSY, "The resource is locked by another operation; retry shortly.", 1},
    {"57014", SQ_E_BUSY, "The operation took too long; retry shortly.", 1},
    {"53300", SQ_E_UNAVAILABLE, "The database is overloaded; retry shortly.", 2},
    {"57P01", SQ_E_UNAVAILABLE, "The database is restarting; retry shortly.", 1},
    {"57P02", SQ_E_UNAVAILABLE, "The database is restarting; retry shortly.", 1},
    {"57P03", SQ_E_UNAVAILABLE, "The database is starting; retry shortly.", 1},
    {"08P01", SQ_E_INTERNAL, "An internal error occurred.", 0}, /* protocol violation: our bug, not an outage */
    {"08", SQ_E_UNAVAILABLE, "The database is unavailable; retry shortly.", 1},
    {"53", SQ_E_UNAVAILABLE, "The database is out of resources; retry shortly.", 2},
    /* SQ01..SQ99: raised by Souq's own SQL functions with a client-safe message (RAISE ... USING ERRCODE) */
    {"SQ404", SQ_E_NOT_FOUND, NULL, 0},
    {"SQ409", SQ_E_CONFLICT, NULL, 0},
    {"SQ412", SQ_E_PRECONDITION_FAILED, NULL, 0},
    {"SQSTK", SQ_E_INSUFFICIENT_STOCK, NULL, 0},
    {"SQSTE", SQ_E_INVALID_STATE, NULL, 0},
    {"SQ422", SQ_E_VALIDATION, NULL, 0},
};

void sq_db_map_sqlstate(const char *sqlstate, const char *constraint, const char *message, sq_err_t *err)
{
    if (sqlstate == NULL)
        sqlstate = "08000"; /* no SQLSTATE: the connection broke mid-result */
    sq_err_internal(err, "sqlstate=%s constraint=%s message=%.160s", sqlstate, constraint ? constraint : "-",
                    message ? message : "-");
    snprintf(err->constraint, sizeof(err->constraint), "%s", constraint ? constraint : "");
    err->retryable = false;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        size_t n = strlen(table[i].state);
        if (strncmp(sqlstate, table[i].state, n) == 0) {
            if (table[i].detail != NULL)
                sq_err_set(err, table[i].code, "%s", table[i].detail);
            else /* our own functions' messages are written for clients */
                sq_err_set(err, table[i].code, "%s", message ? message : "");
            err->retry_after = table[i].retry_after;
            err->retryable = strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0;
            return;
        }
    }
    sq_err_set(err, SQ_E_INTERNAL, "An internal error occurred.");
}

/* Nested saves (a product with its variants) re-raise a violation of an item with HINT = the item's pointer, so
 * the client learns which variant's SKU is taken. Only a short, plain JSON pointer is taken; anything else in a
 * hint is PostgreSQL's text for humans and stays out. */
void sq_db_map_where(const char *column, const char *hint, sq_err_t *err)
{
    err->column[0] = err->at[0] = '\0';
    if (column != NULL && strlen(column) < sizeof(err->column) &&
        strspn(column, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(column))
        snprintf(err->column, sizeof(err->column), "%s", column);
    if (hint != NULL && hint[0] == '/' && strlen(hint) < sizeof(err->at) &&
        strspn(hint, "/abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(hint))
        snprintf(err->at, sizeof(err->at), "%s", hint);
}
