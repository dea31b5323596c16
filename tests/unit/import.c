/* import.c: tests of core/import.c: the CSV reader (quoting, line ends, embedded line breaks, BOM, ragged rows)
 * and the conversion of CSV and NDJSON uploads into products with per-row errors. */
#include "core/import.h"

#include <stdlib.h>

#include "tests/unit/check.h"

/* Reads all records of s; returns how many, -1 on error. out[i][j] = field j of record i. */
static int read_all(sq_arena_t *a, const char *s, size_t len, char ***out, int *nf, int *rows, char *err)
{
    sq_csv_t c;
    sq_csv_init(&c, a, s, len);
    int n = 0, rc;
    char **f;
    int k;
    while ((rc = sq_csv_next(&c, &f, &k)) == 1) {
        out[n] = f;
        nf[n] = k;
        rows[n] = c.row;
        n++;
    }
    if (rc < 0) {
        strcpy(err, c.err);
        return -1;
    }
    return n;
}

static void test_csv(void)
{
    sq_arena_t *a = sq_arena_new();
    char **r[8];
    int nf[8], rows[8];
    char err[120] = "";

    /* plain, with LF and without a final line end */
    CHECK_INT(read_all(a, "a,b,c\n1,2,3", 11, r, nf, rows, err), 2);
    CHECK_INT(nf[0], 3);
    CHECK_STR(r[1][2], "3");

    /* quoting: commas, doubled quotes, empty quoted fields */
    const char *q = "\"x,y\",\"say \"\"hi\"\"\",\"\",plain\r\n";
    CHECK_INT(read_all(a, q, strlen(q), r, nf, rows, err), 1);
    CHECK_INT(nf[0], 4);
    CHECK_STR(r[0][0], "x,y");
    CHECK_STR(r[0][1], "say \"hi\"");
    CHECK_STR(r[0][2], "");
    CHECK_STR(r[0][3], "plain");

    /* CRLF line ends; an embedded line break stays in the field, and rows are records (not lines) */
    const char *m = "h,d\r\n1,\"line one\r\nline two\"\r\n2,x\r\n";
    CHECK_INT(read_all(a, m, strlen(m), r, nf, rows, err), 3);
    CHECK_STR(r[1][1], "line one\r\nline two");
    CHECK_STR(r[2][0], "2");
    CHECK_INT(rows[2], 3);

    /* a UTF-8 BOM is skipped; blank lines are no records but count as rows */
    const char *b = "\xEF\xBB\xBFhandle,title\n\nx,T\n";
    CHECK_INT(read_all(a, b, strlen(b), r, nf, rows, err), 2);
    CHECK_STR(r[0][0], "handle");
    CHECK_INT(rows[1], 3);

    /* ragged rows are returned as they are (the importer pads or refuses them) */
    const char *g = "a,b,c\n1\n1,2,3,4\n";
    CHECK_INT(read_all(a, g, strlen(g), r, nf, rows, err), 3);
    CHECK_INT(nf[1], 1);
    CHECK_INT(nf[2], 4);

    /* trailing empty field, lone CR at the very end */
    CHECK_INT(read_all(a, "a,\r", 3, r, nf, rows, err), 1);
    CHECK_INT(nf[0], 2);
    CHECK_STR(r[0][1], "");

    /* a stray quote inside an unquoted field is a character */
    CHECK_INT(read_all(a, "5\" screen,x\n", 12, r, nf, rows, err), 1);
    CHECK_STR(r[0][0], "5\" screen");

    /* malformed: unterminated quote; text after a closing quote */
    CHECK_INT(read_all(a, "a\n\"open,b\n", 10, r, nf, rows, err), -1);
    CHECK(strstr(err, "row 2") != NULL);
    CHECK_INT(read_all(a, "\"a\"b,c\n", 7, r, nf, rows, err), -1);
    CHECK(strstr(err, "closing quote") != NULL);
    sq_arena_unref(a);
}

/* The parsed items as JSON (owned by the arena). */
static json_t *items_of(sq_arena_t *a, const sq_import_parsed_t *p)
{
    return sq_json_own(a, json_loads(p->items_json, 0, NULL));
}

static const json_t *err_at(const json_t *errors, int row, const char *column)
{
    for (size_t i = 0; i < json_array_size(errors); i++) {
        const json_t *e = json_array_get(errors, i);
        const char *c = json_string_value(json_object_get(e, "column"));
        if (json_integer_value(json_object_get(e, "row")) == row && (column == NULL || (c && strcmp(c, column) == 0)))
            return e;
    }
    return NULL;
}

static void test_csv_products(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_import_parsed_t p;
    sq_err_t err;
    sq_err_clear(&err);
    const char *csv =
        "Handle,title,tags,option1_name,option1_value,sku,price.EUR,compare_at.eur,stock.sloc_01m8jbnd458qgameaemmrbmdf0\n"
        "tee,Tee,\"a, b\",Size,S,T-S,1000,1500,5\n"
        "tee,,,,M,T-M,1100,,\n"
        "mug,Mug,,,,M-1,abc,,\n" /* bad price: the whole mug is skipped */
        "mug,,,,,M-2,100,,\n"
        ",x,,,,,,,\n"        /* no handle */
        "cap,Cap,,,,,,,\n"   /* a product without variants */
        "hat,Hat,,,,,5,,\n"; /* a variant row without a sku */
    CHECK_INT(sq_import_parse(a, SQ_IMPORT_CSV, csv, strlen(csv), &p, &err), 0);
    CHECK_INT(p.rows_total, 7);
    CHECK_INT(json_array_size(items_of(a, &p)), 2);
    CHECK_INT(p.products_failed, 2);
    CHECK_INT(p.rows_failed, 4);
    const json_t *tee = json_object_get(json_array_get(items_of(a, &p), 0), "body");
    CHECK_STR(json_string_value(json_object_get(tee, "handle")), "tee");
    CHECK_INT(json_array_size(json_object_get(tee, "tags")), 2);
    CHECK_STR(json_string_value(json_array_get(json_object_get(tee, "tags"), 1)), "b");
    const json_t *vars = json_object_get(tee, "variants");
    CHECK_INT(json_array_size(vars), 2);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(vars, 1), "options"), "Size")), "M");
    const json_t *price = json_array_get(json_object_get(json_array_get(vars, 0), "prices"), 0);
    CHECK_STR(json_string_value(json_object_get(price, "currency_code")), "eur");
    CHECK_INT(json_integer_value(json_object_get(price, "compare_at_amount")), 1500);
    CHECK_INT(json_array_size(json_object_get(json_array_get(json_object_get(tee, "options"), 0), "values")), 2);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(json_array_get(items_of(a, &p), 0), "variant_rows"), 1)), 3);
    CHECK(err_at(p.errors, 4, "price.eur") != NULL);
    CHECK(err_at(p.errors, 6, "handle") != NULL);
    CHECK(err_at(p.errors, 8, "sku") != NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(items_of(a, &p), 1), "body"), "handle")), "cap");

    /* validation by the product rules points at the row and column: a handle with capitals, a too long sku */
    char longsku[80];
    memset(longsku, 'k', 70);
    longsku[70] = '\0';
    char buf[300];
    snprintf(buf, sizeof(buf), "handle,title,sku\nBad Handle,X,s1\nok,Ok,%s\n", longsku);
    CHECK_INT(sq_import_parse(a, SQ_IMPORT_CSV, buf, strlen(buf), &p, &err), 0);
    CHECK_INT(json_array_size(items_of(a, &p)), 0);
    CHECK(err_at(p.errors, 2, "handle") != NULL);
    CHECK(err_at(p.errors, 3, "sku") != NULL);

    /* ragged rows: fewer fields are empty cells; more (non-empty) fields are an error of the row */
    const char *r = "handle,title,sku\nx,X\ny,Y,s,extra\n";
    CHECK_INT(sq_import_parse(a, SQ_IMPORT_CSV, r, strlen(r), &p, &err), 0);
    CHECK_INT(json_array_size(items_of(a, &p)), 1);
    CHECK(err_at(p.errors, 3, NULL) != NULL);

    /* whole-file problems */
    const char *bad[] = {"title,sku\nx,y\n", "handle,colour\nx,y\n", "handle,price.xyz\nx,1\n", "handle,handle\nx,x\n",
                         "handle,title\n",   "handle\n\"x\n",        "handle,title\nx,\xff\n",  ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sq_err_clear(&err);
        CHECK_INT(sq_import_parse(a, SQ_IMPORT_CSV, bad[i], strlen(bad[i]), &p, &err), -1);
        CHECK_INT(err.code, SQ_E_VALIDATION);
    }
    sq_arena_unref(a);
}

static void test_ndjson(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_import_parsed_t p;
    sq_err_t err;
    sq_err_clear(&err);
    const char *nd = "{\"handle\":\"a\",\"title\":\"A\",\"variants\":[{\"sku\":\"A-1\",\"prices\":[{\"currency_code\":\"eur\","
                     "\"amount\":5}]}]}\n"
                     "\r\n"
                     "{\"handle\":\"b\",\"colour\":\"red\"}\r\n"
                     "not json\n"
                     "[1]\n"
                     "{\"handle\":\"c\",\"variants\":[{\"sku\":\"C\",\"prices\":[{\"currency_code\":\"eur\",\"amount\":-1}]}]}";
    CHECK_INT(sq_import_parse(a, SQ_IMPORT_NDJSON, nd, strlen(nd), &p, &err), 0);
    CHECK_INT(p.rows_total, 5);
    CHECK_INT(json_array_size(items_of(a, &p)), 1);
    CHECK_INT(p.products_failed, 4);
    CHECK(err_at(p.errors, 3, NULL) != NULL);
    CHECK(err_at(p.errors, 4, NULL) != NULL);
    CHECK(err_at(p.errors, 5, NULL) != NULL);
    const json_t *e = err_at(p.errors, 6, NULL);
    CHECK(e != NULL);
    CHECK_STR(json_string_value(json_object_get(e, "pointer")), "/variants/0/prices/0/amount");
    sq_arena_unref(a);
}

int main(void)
{
    test_csv();
    test_csv_products();
    test_ndjson();
    return check_done("import");
}
