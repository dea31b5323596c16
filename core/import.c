/* import.c: the CSV reader and the conversion of an upload (CSV rows, NDJSON lines) into validated products;
 * pure, so it runs on a worker thread and in unit tests. SQL in import_db.c and migrations/0009. */
#include "core/import.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/product.h"

/* ---- the CSV reader ------------------------------------------------------------------------------------ */

void sq_csv_init(sq_csv_t *c, sq_arena_t *a, const char *buf, size_t len)
{
    memset(c, 0, sizeof(*c));
    c->a = a;
    c->p = buf;
    c->end = buf + len;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        c->p += 3;
}

int sq_csv_next(sq_csv_t *c, char ***fields, int *n)
{
    for (;;) {
        if (c->p >= c->end)
            return 0;
        c->row++;
        /* a blank line is no record */
        if (*c->p == '\n' || (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n')) {
            c->p += *c->p == '\n' ? 1 : 2;
            continue;
        }
        break;
    }
    int cap = 16, nf = 0;
    char **f = sq_arena_alloc(c->a, sizeof(char *) * (size_t)cap);
    sq_buf_t b;
    sq_buf_init(&b, c->a, 64);
    for (;;) {
        b.len = 0;
        if (c->p < c->end && *c->p == '"') {
            c->p++;
            for (;;) {
                if (c->p >= c->end) {
                    snprintf(c->err, sizeof(c->err), "row %d: a quoted field is not closed", c->row);
                    return -1;
                }
                if (*c->p == '"') {
                    if (c->p + 1 < c->end && c->p[1] == '"') {
                        sq_buf_add(&b, "\"", 1);
                        c->p += 2;
                        continue;
                    }
                    c->p++;
                    break;
                }
                const char *q = memchr(c->p, '"', (size_t)(c->end - c->p));
                if (q == NULL)
                    q = c->end;
                sq_buf_add(&b, c->p, (size_t)(q - c->p));
                c->p = q;
            }
            if (c->p < c->end && *c->p != ',' && *c->p != '\n' && !(*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n') &&
                !(*c->p == '\r' && c->p + 1 == c->end)) {
                snprintf(c->err, sizeof(c->err), "row %d: text after the closing quote of field %d", c->row, nf + 1);
                return -1;
            }
        } else {
            const char *s = c->p;
            while (c->p < c->end && *c->p != ',' && *c->p != '\n' && !(*c->p == '\r' && (c->p + 1 == c->end || c->p[1] == '\n')))
                c->p++;
            sq_buf_add(&b, s, (size_t)(c->p - s));
        }
        if (nf == cap) {
            char **g = sq_arena_alloc(c->a, sizeof(char *) * (size_t)cap * 2);
            memcpy(g, f, sizeof(char *) * (size_t)cap);
            f = g;
            cap *= 2;
        }
        f[nf++] = sq_arena_strndup(c->a, b.len ? b.p : "", b.len);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        /* the end of the record; count the line breaks quoted fields held so rows stay record numbers */
        if (c->p < c->end && *c->p == '\r')
            c->p++;
        if (c->p < c->end && *c->p == '\n')
            c->p++;
        break;
    }
    *fields = f;
    *n = nf;
    return 1;
}

/* ---- shared helpers -------------------------------------------------------------------------------------- */

/* A valid UTF-8 buffer without NUL bytes; *line gets the line of the first bad byte. */
static bool utf8_ok(const char *s, size_t len, int *line)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    *line = 1;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        if (c == 0)
            return false;
        if (c == '\n')
            (*line)++;
        if (c < 0x80)
            n = 1;
        else if (c >= 0xC2 && c <= 0xDF)
            n = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 3;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 4;
        else
            return false;
        if ((size_t)(end - p) < n)
            return false;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if (n == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F)))
            return false;
        if (n == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F)))
            return false;
        p += n;
    }
    return true;
}

static void add_error(json_t *errors, int row, const char *column, const char *pointer, const char *code, const char *msg)
{
    json_t *e = json_pack("{s:i, s:s, s:s}", "row", row, "code", code, "message", msg);
    if (column != NULL)
        json_object_set_new(e, "column", json_string(column));
    if (pointer != NULL && pointer[0])
        json_object_set_new(e, "pointer", json_string(pointer));
    json_array_append_new(errors, e);
}

/* The product rules of the admin create API, except that a title is only needed for a new product (the
 * database knows which) and options are checked against the product as stored. */
static int validate(sq_arena_t *a, const json_t *body, sq_err_t *e)
{
    sq_err_clear(e);
    void *scratch = sq_arena_zalloc(a, 512);
    sq_json_decode(a, body, sq_product_create_fields, scratch, NULL, e);
    const json_t *variants = json_object_get(body, "variants");
    for (size_t i = 0; e->code != SQ_E_UNKNOWN_FIELD && json_is_array(variants) && i < json_array_size(variants); i++) {
        char ptr[32];
        snprintf(ptr, sizeof(ptr), "/variants/%zu", i);
        if (json_is_object(json_array_get(variants, i)))
            sq_variant_check(json_array_get(variants, i), ptr, e);
    }
    /* drop "title is required" */
    int k = 0;
    for (int i = 0; i < e->nfields; i++)
        if (!(strcmp(e->fields[i].pointer, "/title") == 0 && strcmp(e->fields[i].code, "required") == 0))
            e->fields[k++] = e->fields[i];
    e->nfields = k;
    return k > 0 || (e->code != SQ_OK && e->code != SQ_E_VALIDATION) ? -1 : 0;
}

/* ---- NDJSON --------------------------------------------------------------------------------------------- */

/* Appends {"first_row", "rows", "variant_rows", "body"} to the items array being written. */
static void add_item(sq_buf_t *items, sq_arena_t *scratch, int first_row, int rows, const json_t *vrows, const json_t *body)
{
    size_t n;
    sq_buf_str(items, items->len > 1 ? ",{\"first_row\":" : "{\"first_row\":");
    sq_buf_printf(items, "%d,\"rows\":%d,\"variant_rows\":", first_row, rows);
    sq_buf_str(items, vrows ? sq_json_dump(scratch, vrows, &n) : "null");
    sq_buf_str(items, ",\"body\":");
    const char *b = sq_json_dump(scratch, body, &n);
    sq_buf_add(items, b, n);
    sq_buf_str(items, "}");
}

static int parse_ndjson(sq_arena_t *a, const char *buf, size_t len, sq_import_parsed_t *out, sq_buf_t *items)
{
    (void)a;
    const char *p = buf, *end = buf + len;
    int line = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        size_t n = (size_t)(le - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        const char *s = p;
        p = nl ? nl + 1 : end;
        size_t blank = 0;
        while (blank < n && (s[blank] == ' ' || s[blank] == '\t'))
            blank++;
        if (blank == n)
            continue;
        out->rows_total++;
        sq_err_t e;
        sq_err_clear(&e);
        sq_arena_t *scratch = sq_arena_new();
        json_t *j = sq_json_parse(scratch, s, n, &e);
        if (j != NULL && !json_is_object(j)) {
            sq_err_set(&e, SQ_E_INVALID_JSON, "Each line must be one JSON object (a product).");
            j = NULL;
        }
        bool ok = false;
        if (j == NULL) {
            add_error(out->errors, line, NULL, NULL, "invalid_json", e.detail);
        } else if (validate(scratch, j, &e) != 0) {
            if (e.nfields == 0)
                add_error(out->errors, line, NULL, NULL, "invalid_value", e.detail);
            for (int i = 0; i < e.nfields; i++)
                add_error(out->errors, line, NULL, e.fields[i].pointer, e.fields[i].code, e.fields[i].detail);
        } else {
            add_item(items, scratch, line, 1, NULL, j);
            ok = true;
        }
        sq_arena_unref(scratch); /* the line's tree: memory stays about one line, not the file */
        if (ok)
            continue;
        out->rows_failed++;
        out->products_failed++;
    }
    return 0;
}

/* ---- CSV ------------------------------------------------------------------------------------------------ */

typedef enum {
    C_HANDLE,
    C_PRODUCT, /* title, subtitle, ...: arg = the body key */
    C_TAGS,
    C_SEO, /* arg = title | description */
    C_OPT_NAME,
    C_OPT_VALUE, /* idx 0..2 */
    C_SKU,
    C_BARCODE,
    C_WEIGHT,
    C_PRICE,
    C_COMPARE, /* arg = currency */
    C_STOCK,   /* arg = location id */
} ckind_t;

typedef struct {
    ckind_t kind;
    const char *name; /* as in the header (lower-cased) */
    const char *arg;
    int idx;
} col_t;

typedef struct {
    const char *handle;
    int first_row, rows;
    /* the group's rows as read (pass 1); its JSON is built from them in pass 2, one group at a time */
    int *rowno, *rown, cap;
    char ***rowf;
    bool failed;
    json_t *body, *firsts; /* firsts: product column -> value of the first row that gave it */
    json_t *options;       /* [{title, values}] in the order of appearance */
    json_t *variants, *vrows;
    json_t
        *vmeta; /* per variant: {pcols: [price column per prices entry], ccols: [...], scols: [stock column per inventory entry]} */
    json_t *errors;
} group_t;

static const char *const product_cols[] = {"title", "subtitle", "description", "status", "type", "brand", NULL};

static int parse_header(sq_arena_t *a, char **f, int n, col_t *cols, sq_err_t *err)
{
    bool handle = false;
    for (int i = 0; i < n; i++) {
        char *name = sq_arena_strdup(a, f[i]);
        size_t len = strlen(name);
        while (len > 0 && isspace((unsigned char)name[len - 1]))
            name[--len] = '\0';
        while (*name == ' ' || *name == '\t')
            name++;
        for (char *p = name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        col_t *c = &cols[i];
        c->name = name;
        c->kind = (ckind_t)-1;
        if (strcmp(name, "handle") == 0) {
            c->kind = C_HANDLE;
            handle = true;
        }
        for (const char *const *pc = product_cols; *pc; pc++)
            if (strcmp(name, *pc) == 0) {
                c->kind = C_PRODUCT;
                c->arg = *pc;
            }
        if (strcmp(name, "tags") == 0)
            c->kind = C_TAGS;
        if (strcmp(name, "seo_title") == 0 || strcmp(name, "seo_description") == 0) {
            c->kind = C_SEO;
            c->arg = name + 4;
        }
        if (strncmp(name, "option", 6) == 0 && name[6] >= '1' && name[6] <= '3' &&
            (strcmp(name + 7, "_name") == 0 || strcmp(name + 7, "_value") == 0)) {
            c->kind = name[8] == 'n' ? C_OPT_NAME : C_OPT_VALUE;
            c->idx = name[6] - '1';
        }
        if (strcmp(name, "sku") == 0)
            c->kind = C_SKU;
        if (strcmp(name, "barcode") == 0)
            c->kind = C_BARCODE;
        if (strcmp(name, "weight_g") == 0)
            c->kind = C_WEIGHT;
        const char *dot = strchr(name, '.');
        bool reported = false;
        if (dot != NULL) {
            json_t *v = json_string(dot + 1);
            const char *code;
            if (strncmp(name, "price.", 6) == 0 || strncmp(name, "compare_at.", 11) == 0) {
                if (v != NULL && sq_check_currency(v, &code) == NULL) {
                    c->kind = name[0] == 'p' ? C_PRICE : C_COMPARE;
                    c->arg = dot + 1;
                } else {
                    sq_err_field(err, name, "invalid_value", "%.40s is not an ISO 4217 currency code", dot + 1);
                    reported = true;
                }
            } else if (strncmp(name, "stock.", 6) == 0) {
                if (v != NULL && sq_check_id(v, &code) == NULL) {
                    c->kind = C_STOCK;
                    c->arg = dot + 1;
                } else {
                    sq_err_field(err, name, "invalid_value", "stock columns are stock.<location id>");
                    reported = true;
                }
            }
            json_decref(v);
        }
        if ((int)c->kind == -1 && !reported)
            sq_err_field(err, name[0] ? name : "(empty)", "unknown_column", "is not a column of the product CSV format");
        for (int j = 0; j < i; j++)
            if (strcmp(cols[j].name, name) == 0)
                sq_err_field(err, name, "duplicate", "the column is given twice");
    }
    if (!handle)
        sq_err_field(err, "handle", "required", "the handle column is required");
    if (err->nfields > 0)
        return sq_err_set(err, SQ_E_VALIDATION, "The CSV header is not usable; see errors (pointer = column name).");
    return 0;
}

/* An integer cell; false if it is not one. */
static bool cell_int(const char *s, json_int_t *v)
{
    errno = 0;
    char *end;
    while (*s == ' ')
        s++;
    long long x = strtoll(s, &end, 10);
    while (*end == ' ')
        end++;
    if (end == s || *end != '\0' || errno != 0 || !(isdigit((unsigned char)*s) || *s == '-'))
        return false;
    *v = x;
    return true;
}

static void row_error(group_t *g, int row, const char *col, const char *code, const char *msg)
{
    add_error(g->errors, row, col, NULL, code, msg);
    g->failed = true;
}

/* One data row of a handle's group. */
static void csv_row(group_t *g, int row, char **f, int n, const col_t *cols)
{
    json_t *v = json_object(), *opts = json_object(), *prices = json_array(), *inv = json_array();
    json_t *meta = json_pack("{s:[], s:[]}", "pcols", "scols");
    bool has_variant = false;
    const char *onames[3] = {NULL, NULL, NULL}, *ovalues[3] = {NULL, NULL, NULL};
    const char *sku_col = NULL;
    for (int i = 0; i < n; i++) {
        const char *s = f[i];
        const col_t *c = &cols[i];
        if (s[0] == '\0' || c->kind == C_HANDLE)
            continue;
        switch (c->kind) {
        case C_PRODUCT:
        case C_TAGS:
        case C_SEO: {
            json_t *first = json_object_get(g->firsts, c->name);
            if (first != NULL) {
                if (strcmp(json_string_value(first), s) != 0)
                    row_error(g, row, c->name, "conflict",
                              "differs from an earlier row of the handle (product columns belong on its first row)");
                break;
            }
            json_object_set_new(g->firsts, c->name, json_string(s));
            if (c->kind == C_PRODUCT) {
                json_object_set_new(g->body, c->arg, json_string(s));
            } else if (c->kind == C_SEO) {
                json_t *seo = json_object_get(g->body, "seo");
                if (seo == NULL)
                    json_object_set_new(g->body, "seo", seo = json_object());
                json_object_set_new(seo, c->arg, json_string(s));
            } else {
                json_t *tags = json_array();
                const char *p = s;
                while (*p) {
                    const char *comma = strchr(p, ',');
                    const char *e = comma ? comma : p + strlen(p), *b = p;
                    while (b < e && isspace((unsigned char)*b))
                        b++;
                    const char *t = e;
                    while (t > b && isspace((unsigned char)t[-1]))
                        t--;
                    if (t > b)
                        json_array_append_new(tags, json_stringn(b, (size_t)(t - b)));
                    p = comma ? comma + 1 : e;
                }
                json_object_set_new(g->body, "tags", tags);
            }
            break;
        }
        case C_OPT_NAME:
            onames[c->idx] = s;
            break;
        case C_OPT_VALUE:
            ovalues[c->idx] = s;
            has_variant = true;
            break;
        case C_SKU:
            json_object_set_new(v, "sku", json_string(s));
            sku_col = c->name;
            has_variant = true;
            break;
        case C_BARCODE:
            json_object_set_new(v, "barcode", json_string(s));
            has_variant = true;
            break;
        case C_WEIGHT: {
            json_int_t x;
            has_variant = true;
            if (!cell_int(s, &x))
                row_error(g, row, c->name, "invalid_format", "must be a whole number of grams");
            else
                json_object_set_new(v, "weight_g", json_integer(x));
            break;
        }
        case C_PRICE:
        case C_COMPARE:
        case C_STOCK:
            has_variant = true;
            break;
        default:
            break;
        }
    }
    /* prices: per currency column, with the compare_at column of the same currency */
    for (int i = 0; i < n; i++) {
        const col_t *c = &cols[i];
        json_int_t x;
        if (c->kind == C_PRICE && f[i][0]) {
            if (!cell_int(f[i], &x)) {
                row_error(g, row, c->name, "invalid_format", "must be an integer amount in minor units (1999 = 19.99)");
                continue;
            }
            json_t *pr = json_pack("{s:s, s:I}", "currency_code", c->arg, "amount", x);
            for (int k = 0; k < n; k++)
                if (cols[k].kind == C_COMPARE && strcmp(cols[k].arg, c->arg) == 0 && f[k][0]) {
                    json_int_t y;
                    if (!cell_int(f[k], &y))
                        row_error(g, row, cols[k].name, "invalid_format", "must be an integer amount in minor units");
                    else
                        json_object_set_new(pr, "compare_at_amount", json_integer(y));
                }
            json_array_append_new(prices, pr);
            json_array_append_new(json_object_get(meta, "pcols"), json_string(c->name));
        } else if (c->kind == C_COMPARE && f[i][0]) {
            bool priced = false;
            for (int k = 0; k < n; k++)
                priced |= cols[k].kind == C_PRICE && strcmp(cols[k].arg, c->arg) == 0 && f[k][0];
            if (!priced)
                row_error(g, row, c->name, "required", "a compare_at amount needs the price in the same currency");
        } else if (c->kind == C_STOCK && f[i][0]) {
            if (!cell_int(f[i], &x)) {
                row_error(g, row, c->name, "invalid_format", "must be a whole number of units");
                continue;
            }
            json_array_append_new(inv, json_pack("{s:s, s:I}", "location_id", c->arg, "quantity", x));
            json_array_append_new(json_object_get(meta, "scols"), json_string(c->name));
        }
    }
    /* options: the names of the handle's first row hold for the rest */
    for (int k = 0; k < 3; k++) {
        json_t *opt = json_array_get(g->options, (size_t)k);
        const char *title = onames[k] ? onames[k] : opt ? json_string_value(json_object_get(opt, "title")) : NULL;
        char cname[24];
        snprintf(cname, sizeof(cname), "option%d_name", k + 1);
        if (opt != NULL && onames[k] != NULL && strcmp(onames[k], json_string_value(json_object_get(opt, "title"))) != 0) {
            row_error(g, row, cname, "conflict", "differs from the option name of an earlier row of the handle");
            continue;
        }
        if (ovalues[k] == NULL)
            continue;
        if (title == NULL || (opt == NULL && (size_t)k != json_array_size(g->options))) {
            snprintf(cname, sizeof(cname), "option%d_value", k + 1);
            row_error(g, row, cname, "required", "an option value needs its option name (and the options before it)");
            continue;
        }
        if (opt == NULL)
            json_array_append_new(g->options, opt = json_pack("{s:s, s:[]}", "title", title, "values"));
        json_t *values = json_object_get(opt, "values");
        bool known = false;
        for (size_t i = 0; i < json_array_size(values); i++)
            known |= strcmp(json_string_value(json_array_get(values, i)), ovalues[k]) == 0;
        if (!known)
            json_array_append_new(values, json_string(ovalues[k]));
        json_object_set_new(opts, title, json_string(ovalues[k]));
    }
    if (has_variant) {
        if (sku_col == NULL)
            row_error(g, row, "sku", "required", "a variant row needs a sku");
        if (json_object_size(opts) > 0)
            json_object_set(v, "options", opts);
        if (json_array_size(prices) > 0)
            json_object_set(v, "prices", prices);
        if (json_array_size(inv) > 0)
            json_object_set(v, "inventory", inv);
        json_array_append(g->variants, v);
        json_array_append_new(g->vrows, json_integer(row));
        json_array_append(g->vmeta, meta);
    }
    json_decref(v);
    json_decref(opts);
    json_decref(prices);
    json_decref(inv);
    json_decref(meta);
}

/* Where a validation error of a CSV product points: its row and column. */
static void csv_locate(const group_t *g, const char *ptr, int *row, const char **col)
{
    *row = g->first_row;
    *col = NULL;
    int vi, k, used = 0;
    char rest[96] = "";
    if (sscanf(ptr, "/variants/%d%n", &vi, &used) == 1 && vi >= 0 && (size_t)vi < json_array_size(g->vrows)) {
        *row = (int)json_integer_value(json_array_get(g->vrows, (size_t)vi));
        const json_t *meta = json_array_get(g->vmeta, (size_t)vi);
        snprintf(rest, sizeof(rest), "%s", ptr + used);
        if (sscanf(rest, "/prices/%d", &k) == 1)
            *col = json_string_value(json_array_get(json_object_get(meta, "pcols"), (size_t)k));
        else if (sscanf(rest, "/inventory/%d", &k) == 1)
            *col = json_string_value(json_array_get(json_object_get(meta, "scols"), (size_t)k));
        else if (strncmp(rest, "/options", 8) == 0)
            *col = "option1_value";
        else if (strcmp(rest, "/sku") == 0)
            *col = "sku";
        else if (strcmp(rest, "/barcode") == 0)
            *col = "barcode";
        else if (strcmp(rest, "/weight_g") == 0)
            *col = "weight_g";
        return;
    }
    if (strncmp(ptr, "/seo/", 5) == 0)
        *col = strcmp(ptr, "/seo/title") == 0 ? "seo_title" : "seo_description";
    else if (strncmp(ptr, "/tags", 5) == 0)
        *col = "tags";
    else if (strncmp(ptr, "/options", 8) == 0)
        *col = "option1_name";
    else
        for (const char *const *pc = product_cols; *pc; pc++)
            if (strcmp(ptr + 1, *pc) == 0)
                *col = *pc;
    if (strcmp(ptr, "/handle") == 0)
        *col = "handle";
}

static int parse_csv(sq_arena_t *a, const char *buf, size_t len, sq_import_parsed_t *out, sq_buf_t *items, sq_err_t *err)
{
    sq_csv_t c;
    sq_csv_init(&c, a, buf, len);
    char **f;
    int n, rc = sq_csv_next(&c, &f, &n);
    if (rc <= 0)
        return sq_err_set(err, SQ_E_VALIDATION, "%s", rc < 0 ? c.err : "The file is empty; a header row is required.");
    int ncols = n;
    col_t *cols = sq_arena_zalloc(a, sizeof(col_t) * (size_t)ncols);
    if (parse_header(a, f, n, cols, err) != 0)
        return -1;
    int hcol = 0;
    while (cols[hcol].kind != C_HANDLE)
        hcol++;
    json_t *index = sq_json_own(a, json_object());
    int ngroups = 0, cap = 64;
    group_t *groups = sq_arena_alloc(a, sizeof(group_t) * (size_t)cap);
    /* pass 1: rows by handle (a handle's rows need not be adjacent) */
    while ((rc = sq_csv_next(&c, &f, &n)) == 1) {
        out->rows_total++;
        int row = c.row;
        const char *handle = hcol < n ? f[hcol] : "";
        if (handle[0] == '\0') {
            add_error(out->errors, row, "handle", NULL, "required", "every row needs the handle of its product");
            out->rows_failed++;
            continue;
        }
        json_t *gi = json_object_get(index, handle);
        group_t *g;
        if (gi != NULL) {
            g = &groups[json_integer_value(gi)];
        } else {
            if (ngroups == cap) {
                group_t *ng = sq_arena_alloc(a, sizeof(group_t) * (size_t)cap * 2);
                memcpy(ng, groups, sizeof(group_t) * (size_t)cap);
                groups = ng;
                cap *= 2;
            }
            g = &groups[ngroups];
            memset(g, 0, sizeof(*g));
            g->handle = handle;
            g->first_row = row;
            json_object_set_new(index, handle, json_integer(ngroups++));
        }
        if (g->rows == g->cap) {
            int nc = g->cap ? g->cap * 2 : 4;
            int *rowno = sq_arena_alloc(a, sizeof(int) * (size_t)nc), *rown = sq_arena_alloc(a, sizeof(int) * (size_t)nc);
            char ***rowf = sq_arena_alloc(a, sizeof(char **) * (size_t)nc);
            if (g->rows) {
                memcpy(rowno, g->rowno, sizeof(int) * (size_t)g->rows);
                memcpy(rown, g->rown, sizeof(int) * (size_t)g->rows);
                memcpy(rowf, g->rowf, sizeof(char **) * (size_t)g->rows);
            }
            g->rowno = rowno;
            g->rown = rown;
            g->rowf = rowf;
            g->cap = nc;
        }
        g->rowno[g->rows] = row;
        g->rown[g->rows] = n;
        g->rowf[g->rows] = f;
        g->rows++;
    }
    if (rc < 0)
        return sq_err_set(err, SQ_E_VALIDATION, "%s", c.err);
    if (out->rows_total == 0)
        return sq_err_set(err, SQ_E_VALIDATION, "The file has a header but no rows.");
    /* pass 2: one product at a time, its JSON freed before the next (memory stays near the file's size) */
    for (int i = 0; i < ngroups; i++) {
        group_t *g = &groups[i];
        sq_arena_t *scratch = sq_arena_new();
        g->body = sq_json_own(scratch, json_pack("{s:s}", "handle", g->handle));
        g->firsts = sq_json_own(scratch, json_object());
        g->options = sq_json_own(scratch, json_array());
        g->variants = sq_json_own(scratch, json_array());
        g->vrows = sq_json_own(scratch, json_array());
        g->vmeta = sq_json_own(scratch, json_array());
        g->errors = sq_json_own(scratch, json_array());
        for (int r = 0; r < g->rows; r++) {
            int nf = g->rown[r];
            char **rf = g->rowf[r];
            if (nf > ncols) {
                bool extra = false;
                for (int k = ncols; k < nf; k++)
                    extra |= rf[k][0] != '\0';
                if (extra) {
                    char msg[96];
                    snprintf(msg, sizeof(msg), "the row has %d fields; the header has %d", nf, ncols);
                    row_error(g, g->rowno[r], NULL, "invalid_format", msg);
                    continue;
                }
                nf = ncols;
            }
            csv_row(g, g->rowno[r], rf, nf, cols);
        }
        if (json_array_size(g->options) > 0)
            json_object_set(g->body, "options", g->options);
        if (json_array_size(g->variants) > 0)
            json_object_set(g->body, "variants", g->variants);
        sq_err_t e;
        if (!g->failed && validate(scratch, g->body, &e) != 0) {
            g->failed = true;
            if (e.nfields == 0)
                add_error(g->errors, g->first_row, NULL, NULL, "invalid_value", e.detail);
            for (int k = 0; k < e.nfields; k++) {
                int row;
                const char *col;
                csv_locate(g, e.fields[k].pointer, &row, &col);
                add_error(g->errors, row, col, e.fields[k].pointer, e.fields[k].code, e.fields[k].detail);
            }
        }
        if (g->failed) {
            json_array_extend(out->errors, g->errors);
            out->rows_failed += g->rows;
            out->products_failed++;
        } else {
            add_item(items, scratch, g->first_row, g->rows, g->vrows, g->body);
        }
        sq_arena_unref(scratch);
    }
    return 0;
}

int sq_import_parse(sq_arena_t *a, sq_import_format_t fmt, const char *buf, size_t len, sq_import_parsed_t *out, sq_err_t *err)
{
    memset(out, 0, sizeof(*out));
    out->errors = sq_json_own(a, json_array());
    int line;
    if (!utf8_ok(buf, len, &line))
        return sq_err_set(err, SQ_E_VALIDATION, "The file is not valid UTF-8 text (line %d).", line);
    sq_buf_t items;
    sq_buf_init(&items, a, len * 5 + 64); /* items are about 5x the CSV */
    sq_buf_str(&items, "[");
    int rc = fmt == SQ_IMPORT_CSV ? parse_csv(a, buf, len, out, &items, err) : parse_ndjson(a, buf, len, out, &items);
    if (rc == 0 && out->rows_total == 0)
        return sq_err_set(err, SQ_E_VALIDATION, "The file has no rows.");
    if (rc == 0) {
        size_t n;
        sq_buf_str(&items, "]");
        out->items_json = items.p;
        out->errors_json = sq_json_dump(a, out->errors, &n);
    }
    return rc;
}
