/* import.h: bulk product imports and the CSV export. The upload (CSV or NDJSON) is read and validated here,
 * into one item per product in the admin create shape; migrations/0009_imports.sql stores the items and
 * upserts them in small batches (one savepoint per product), so a bad product is reported and skipped. */
#ifndef SQ_IMPORT_H
#define SQ_IMPORT_H

#include "core/resource.h"

/** An RFC 4180 reader over a buffer: quoted fields with "" escapes, embedded line breaks, CRLF or LF line
 * ends, a UTF-8 byte-order mark. A stray quote inside an unquoted field is kept as a character. */
typedef struct {
    const char *p, *end;
    sq_arena_t *a;
    int row; /* record number of the last record read (the first record is row 1); blank lines count */
    char err[120];
} sq_csv_t;

/** Starts reading buf (which must outlive the reader); a leading UTF-8 BOM is skipped. */
void sq_csv_init(sq_csv_t *c, sq_arena_t *a, const char *buf, size_t len);
/** Reads the next record into *fields (n strings in the arena): 1, or 0 at the end, or -1 on malformed input
 * (an unterminated quote, text after a closing quote) with c->err set. Blank lines are skipped. */
int sq_csv_next(sq_csv_t *c, char ***fields, int *n);

typedef enum { SQ_IMPORT_CSV, SQ_IMPORT_NDJSON } sq_import_format_t;

/** A parsed upload, in the arena it was parsed in. */
typedef struct {
    const char *items_json; /* [{first_row, rows, variant_rows, body}]: the products that passed validation */
    json_t *errors;         /* [{row, column (CSV) or pointer (NDJSON), code, message}] of the products that did not */
    const char *errors_json;
    int rows_total, rows_failed, products_failed;
} sq_import_parsed_t;

/** Reads and validates a whole upload (no I/O; safe on a worker thread with its own arena). Returns -1 with
 * err set (422) when the file as a whole is unusable: not UTF-8, malformed CSV, unknown or duplicate columns,
 * no handle column, no rows. Problems of single rows go to out->errors and skip their product. */
int sq_import_parse(sq_arena_t *a, sq_import_format_t fmt, const char *buf, size_t len, sq_import_parsed_t *out, sq_err_t *err);

/** Imports for GET /v1/admin/imports(/{id}). */
extern const sq_resource_t sq_res_import;

/** Stores a parsed upload (its items_json and errors_json) as a queued import; answers with the import's JSON.
 * actor: created_by. */
void sq_import_create(sq_ctx_t *cx, sq_import_format_t fmt, const char *filename, const sq_import_parsed_t *in, const char *actor,
                      sq_json_cb cb, void *data);
/** Processes up to limit products of import_id (NULL: the oldest pending import no other worker holds), fewer
 * when max_ms pass first (at least one). Answers with the import's JSON plus "more" (products left), or json
 * NULL when there was nothing to do. */
void sq_import_step(sq_ctx_t *cx, const char *import_id, int limit, int max_ms, sq_json_cb cb, void *data);
/** The catalog as CSV (header first, CRLF line ends): the format imports read. */
typedef void (*sq_text_cb)(const char *text, size_t len, const sq_err_t *err, void *data);
void sq_export_products_csv(sq_ctx_t *cx, sq_text_cb cb, void *data);

#endif
