/* json.c: tests of core/base/json.c: strict parsing, the declarative decoder's error reporting, and the streaming walker
 * (against jansson as the oracle). */
#include "core/base/json.h"

#include <stddef.h>
#include <stdlib.h>

#include "core/base/util.h"
#include "tests/unit/check.h"
#include "tests/unit/json_tree.h"

typedef struct {
    const char *name, *email, *note, *country;
    int64_t qty;
    bool gift;
    const json_t *metadata;
    sq_strs_t tags;
    struct {
        const char *city;
        int64_t floor;
    } address;
} in_t;

static const char *const colors[] = {"red", "blue", NULL};
static const sq_field_t address_fields[] = {
    {"city", SQ_FT_STR, SQ_F_REQUIRED, offsetof(in_t, address.city) - offsetof(in_t, address), 1, 50, NULL, NULL, NULL},
    {"floor", SQ_FT_INT, 0, offsetof(in_t, address.floor) - offsetof(in_t, address), -5, 200, NULL, NULL, NULL},
    {NULL},
};
static const sq_field_t fields[] = {
    {"name", SQ_FT_STR, SQ_F_REQUIRED, offsetof(in_t, name), 1, 3, NULL, NULL, NULL},
    {"email", SQ_FT_STR, SQ_F_LOWER | SQ_F_NULLABLE, offsetof(in_t, email), 0, 254, NULL, sq_check_email, NULL},
    {"note", SQ_FT_STR, SQ_F_MULTILINE, offsetof(in_t, note), 0, 0, NULL, NULL, NULL},
    {"country", SQ_FT_STR, 0, offsetof(in_t, country), 0, 2, NULL, sq_check_country, NULL},
    {"qty", SQ_FT_INT, 0, offsetof(in_t, qty), 1, 100, NULL, NULL, NULL},
    {"gift", SQ_FT_BOOL, 0, offsetof(in_t, gift), 0, 0, NULL, NULL, NULL},
    {"metadata", SQ_FT_JSON, SQ_F_NULLABLE, offsetof(in_t, metadata), 0, 0, NULL, sq_check_metadata, NULL},
    {"tags", SQ_FT_STR_ARRAY, 0, offsetof(in_t, tags), 0, 3, colors, NULL, NULL},
    {"address", SQ_FT_OBJECT, 0, offsetof(in_t, address), 0, 0, NULL, NULL, address_fields},
    {NULL},
};

static sq_arena_t *a;

static int decode(const char *text, in_t *out, uint64_t *present, sq_err_t *err)
{
    memset(out, 0, sizeof(*out));
    sq_err_clear(err);
    json_t *j = sq_json_parse(a, text, strlen(text), err);
    if (j == NULL)
        return -2;
    return sq_json_decode(a, j, fields, out, present, err);
}

static bool has(const sq_err_t *e, const char *pointer, const char *code)
{
    for (int i = 0; i < e->nfields; i++)
        if (strcmp(e->fields[i].pointer, pointer) == 0 && (code == NULL || strcmp(e->fields[i].code, code) == 0))
            return true;
    return false;
}

static void test_depth(void)
{
    char buf[200];
    size_t n = 0;
    for (int i = 0; i < 32; i++)
        buf[n++] = '[';
    for (int i = 0; i < 32; i++)
        buf[n++] = ']';
    CHECK(sq_json_depth_ok(buf, n, 32));
    CHECK(!sq_json_depth_ok("[[[]]]", 6, 2));
    const char *s = "{\"a\":\"[[[[[[\",\"b\":\"\\\"[[[[\"}"; /* brackets in strings, escaped quotes */
    CHECK(sq_json_depth_ok(s, strlen(s), 2));
    sq_err_t e;
    sq_err_clear(&e);
    char deep[100];
    memset(deep, '[', 33);
    memset(deep + 33, ']', 33);
    CHECK(sq_json_parse(a, deep, 66, &e) == NULL);
    CHECK_INT(e.code, SQ_E_INVALID_JSON);
    CHECK_CONTAINS(e.detail, "deeper than 32");
}

static void test_malformed(void)
{
    const char *bad[] = {"",
                         "{",
                         "{\"a\":1,}",
                         "{\"a\":1} x",
                         "{}{}",
                         "{'a':1}",
                         "{\"a\":1,\"a\":2}",
                         "{\"a\":\"\\u0000\"}",
                         "{\"a\":\"\\ud800\"}",
                         "{\"a\":NaN}",
                         "{\"a\":1e99999}"};
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad); i++) {
        sq_err_t e;
        sq_err_clear(&e);
        CHECK(sq_json_parse(a, bad[i], strlen(bad[i]), &e) == NULL);
        CHECK_INT(e.code, SQ_E_INVALID_JSON);
    }
    const char utf8[] = {'{', '"', 'a', '"', ':', '"', (char)0xff, '"', '}'};
    sq_err_t e;
    sq_err_clear(&e);
    CHECK(sq_json_parse(a, utf8, sizeof(utf8), &e) == NULL);
    CHECK(sq_json_parse(a, NULL, 0, &e) == NULL);
    /* a raw NUL byte after a value, inside an object or at the end: jansson alone reads {"a":1\0} as {"a":1} */
    const char *const nul[] = {"{\"a\":1\0}", "{\"a\":1}\0", "{\"a\":\0 1}", "\0{\"a\":1}"};
    const size_t nul_len[] = {9, 8, 9, 8};
    for (size_t i = 0; i < SQ_ARRAY_LEN(nul); i++) {
        sq_err_clear(&e);
        CHECK(sq_json_parse(a, nul[i], nul_len[i], &e) == NULL);
        CHECK_INT(e.code, SQ_E_INVALID_JSON);
        CHECK_CONTAINS(e.detail, "NUL");
    }
    in_t in;
    CHECK_INT(decode("[1]", &in, NULL, &e), -1); /* a non-object root */
    CHECK_INT(e.code, SQ_E_VALIDATION);
}

static void test_good_input(void)
{
    in_t in;
    uint64_t present;
    sq_err_t e;
    const char *ok =
        "{\"name\":\"Äbc\",\"email\":\"Ann@Example.COM\",\"note\":\"line1\\nline2\\tx\",\"country\":\"DE\",\"qty\":100,"
        "\"gift\":true,\"metadata\":{\"k\":\"v\",\"n\":1.5},\"tags\":[\"red\",\"blue\"],\"address\":{\"city\":\"Köln\",\"floor\":-"
        "5}}";
    CHECK_INT(decode(ok, &in, &present, &e), 0);
    CHECK_STR(in.name, "Äbc"); /* 3 characters in 4 bytes fits max 3 */
    CHECK_STR(in.email, "ann@example.com");
    CHECK_STR(in.note, "line1\nline2\tx");
    CHECK_INT(in.qty, 100);
    CHECK(in.gift);
    CHECK(json_is_object(in.metadata));
    CHECK_INT(in.tags.n, 2);
    CHECK_STR(in.tags.v[1], "blue");
    CHECK_STR(in.address.city, "Köln");
    CHECK_INT(in.address.floor, -5);
    CHECK_INT(present, 0x1ff);
    CHECK_INT(decode("{\"name\":\"a\",\"email\":null,\"metadata\":null}", &in, &present, &e), 0);
    CHECK(in.email == NULL && in.metadata == NULL);
    CHECK_INT(present, (1 << 0) | (1 << 1) | (1 << 6)); /* null counts as present */
}

static void test_unknown_fields_first(void)
{
    in_t in;
    sq_err_t e;
    CHECK_INT(decode("{\"name\":5,\"role\":\"admin\",\"address\":{\"city\":\"x\",\"zip\":1}}", &in, NULL, &e), -1);
    CHECK_INT(e.code, SQ_E_UNKNOWN_FIELD);
    CHECK(has(&e, "/role", "unknown_field"));
    CHECK(!has(&e, "/name", NULL)); /* values are not judged before unknown fields are gone */
}

static void test_every_error_reported(void)
{
    in_t in;
    sq_err_t e;
    const char *bad =
        "{\"name\":\"toolong\",\"email\":\"nope\",\"note\":\"a\\u0007b\",\"country\":\"xx\",\"qty\":0,\"gift\":\"yes\","
        "\"metadata\":{\"nested\":{}},\"tags\":[\"red\",\"green\",5],\"address\":{\"floor\":201}}";
    CHECK_INT(decode(bad, &in, NULL, &e), -1);
    CHECK_INT(e.code, SQ_E_VALIDATION);
    CHECK(has(&e, "/name", "too_long"));
    CHECK(has(&e, "/email", "invalid_format"));
    CHECK(has(&e, "/note", "invalid_characters"));
    CHECK(has(&e, "/country", "invalid_value"));
    CHECK(has(&e, "/qty", "out_of_range"));
    CHECK(has(&e, "/gift", "invalid_type"));
    CHECK(has(&e, "/metadata", "invalid_metadata"));
    CHECK(has(&e, "/tags/1", "invalid_value"));
    CHECK(has(&e, "/tags/2", "invalid_type"));
    CHECK(has(&e, "/address/city", "required"));
    CHECK(has(&e, "/address/floor", "out_of_range"));
    CHECK_INT(decode("{}", &in, NULL, &e), -1);
    CHECK(has(&e, "/name", "required"));
    CHECK_INT(decode("{\"name\":\"\"}", &in, NULL, &e), -1);
    CHECK(has(&e, "/name", "blank"));
    CHECK_INT(decode("{\"name\":\"a\\nb\"}", &in, NULL, &e), -1); /* newlines only where allowed */
    CHECK(has(&e, "/name", "invalid_characters"));
    CHECK_INT(decode("{\"name\":null}", &in, NULL, &e), -1);
    CHECK(has(&e, "/name", "invalid_type"));
    CHECK_INT(decode("{\"name\":\"a\",\"tags\":[\"red\",\"red\",\"red\",\"red\"]}", &in, NULL, &e), -1);
    CHECK(has(&e, "/tags", "invalid_length"));
    CHECK_INT(decode("{\"name\":\"a\",\"qty\":1.0}", &in, NULL, &e), -1);
    CHECK(has(&e, "/qty", "invalid_type"));
}

static void test_error_list_is_bounded(void)
{
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":1", i ? "," : "", i);
    snprintf(buf + n, sizeof(buf) - n, "}");
    in_t in;
    sq_err_t e;
    CHECK_INT(decode(buf, &in, NULL, &e), -1);
    CHECK_INT(e.nfields, SQ_ERR_MAX_FIELDS);
}

static const char *check(sq_check_fn fn, const char *json_text)
{
    json_t *v = json_loads(json_text, JSON_DECODE_ANY, NULL);
    const char *code = NULL;
    const char *why = fn(v, &code);
    json_decref(v);
    return why;
}

static void test_checks(void)
{
    CHECK(check(sq_check_email, "\"a@b.co\"") == NULL);
    CHECK(check(sq_check_email, "\"first.last+tag@sub.example.org\"") == NULL);
    const char *bad_emails[] = {"\"a\"",
                                "\"@b.co\"",
                                "\"a@\"",
                                "\"a@b\"",
                                "\"a@b.\"",
                                "\"a@@b.co\"",
                                "\"a b@c.co\"",
                                "\"a@b.co\\r\\nbcc:x@y.z\"",
                                "\"\\\"a\\\"@b.co\"",
                                "\"a@b_c.co\""};
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad_emails); i++)
        CHECK(check(sq_check_email, bad_emails[i]) != NULL);
    CHECK(check(sq_check_country, "\"de\"") == NULL);
    CHECK(check(sq_check_country, "\"DE\"") == NULL);
    CHECK(check(sq_check_country, "\"xx\"") != NULL);
    CHECK(check(sq_check_country, "\"deu\"") != NULL);
    CHECK(check(sq_check_country, "\"d\"") != NULL);
    CHECK(check(sq_check_password, "\"12345678\"") == NULL);
    CHECK(check(sq_check_password, "\"1234567\"") != NULL);
    CHECK(check(sq_check_password, "\"ÄÖÜäöüßé\"") == NULL); /* 8 characters, 16 bytes */
    CHECK(check(sq_check_phone, "\"+49 (30) 123-45.67\"") == NULL);
    CHECK(check(sq_check_phone, "\"123\"") != NULL);
    CHECK(check(sq_check_phone, "\"call me\"") != NULL);
    CHECK(check(sq_check_phone, "\"49+30\"") != NULL);
    CHECK(check(sq_check_metadata, "{\"a\":\"b\",\"n\":1,\"t\":true,\"z\":null}") == NULL);
    CHECK(check(sq_check_metadata, "[]") != NULL);
    CHECK(check(sq_check_metadata, "{\"a\":[1]}") != NULL);
    CHECK(check(sq_check_metadata, "{\"\":1}") != NULL);
    char key41[128];
    snprintf(key41, sizeof(key41), "{\"%s\":1}", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    CHECK(check(sq_check_metadata, key41) != NULL);
    /* key length is counted in characters like values: 30 two-byte characters are 60 bytes but fine */
    CHECK(check(sq_check_metadata, "{\"ééééééééééééééééééééééééééééééé\":1}") == NULL);
    char big[700];
    snprintf(big, sizeof(big), "{\"a\":\"%0501d\"}", 0);
    CHECK(check(sq_check_metadata, big) != NULL);
    char many[1024];
    size_t n = (size_t)snprintf(many, sizeof(many), "{");
    for (int i = 0; i < 51; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%s\"k%d\":1", i ? "," : "", i);
    snprintf(many + n, sizeof(many) - n, "}");
    CHECK(check(sq_check_metadata, many) != NULL);
    CHECK_INT(sq_utf8_len("aä€😀", strlen("aä€😀")), 4);
}

static void test_minify(void)
{
    CHECK(sq_json_minify(a, NULL) == NULL);
    CHECK_STR(sq_json_minify(a, "{\"a\" : 1, \"b\" : [1, 2],\n\t\"c\" : { \"d\" : null } }"),
              "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null}}");
    /* blanks inside strings stay, also after escaped quotes and backslashes */
    CHECK_STR(sq_json_minify(a, "{\"t\" : \"a : b, c\", \"q\" : \"say \\\" x , y\\\\\" , \"z\" : \" \"}"),
              "{\"t\":\"a : b, c\",\"q\":\"say \\\" x , y\\\\\",\"z\":\" \"}");
    CHECK_STR(sq_json_minify(a, "{ }\x1e{ \"v\" : 2 }"), "{}\x1e{\"v\":2}");
}

/* ---- the streaming walker ---- */

/* jansson's reading of t (NULL when it refuses it); *numeric when it read integers as reals: an integer beyond int64
 * is refused by jansson and read as a double by the walker's users, so such a text is compared by value */
static json_t *oracle(const char *t, size_t n, bool *numeric)
{
    json_error_t je;
    *numeric = false;
    json_t *j = json_loadb(t, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (j == NULL && json_error_code(&je) == json_error_numeric_overflow) {
        j = json_loadb(t, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
        *numeric = true;
    }
    return j;
}

/* the walker and jansson agree on t[0..n): both refuse it, or both read the same value; the text is a heap copy of
 * exactly n bytes, so the sanitizer sees any read past its end */
static bool agree(const char *t, size_t n)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, t, n);
    bool numeric;
    sq_jw_t w;
    json_t *want = oracle(copy, n, &numeric), *got = jtree_walk(&w, copy, n, 64);
    bool same = (want == NULL && got == NULL) || (want != NULL && got != NULL && jtree_same(got, want, numeric));
    if (!same)
        fprintf(stderr, "walker %s, jansson %s: %.*s\n", got ? "reads it" : w.err, want ? "reads it" : "refuses it", (int)n, t);
    json_decref(want);
    json_decref(got);
    free(copy);
    return same;
}

static bool walks(const char *t)
{
    sq_jw_t w;
    json_t *j = jtree_walk(&w, t, strlen(t), 64);
    json_decref(j);
    return j != NULL;
}

static const char *const good_texts[] = {
    "{\"a\":{\"b\":[1,2,{\"c\":null}]},\"d\":[[],[[]]],\"e\":{},\"f\":[{}]}",
    "{\"s\":\"plain\",\"e\":\"q\\\"b\\\\s\\/n\\nt\\tr\\rb\\bf\\f\",\"u\":\"\\u00e9\\u20AC\\ud83d\\ude00\\uD834\\uDD1E\"}",
    "\"raw UTF-8: \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"",
    "\"\\u0000 inside\"",
    "[\"\\u0041\\u00410\",\"\\\\u0041\",\"\\ud83d\\ude00x\"]",
    "[0,-0,-0.0,0.0,1e3,1E+3,1e-3,-1.5e-10,0.1,1.7976931348623157e308,5e-324,1e-400,2.5E02]",
    "[123456789012345678,9223372036854775807,-9223372036854775808]",
    "[9223372036854775808,-9223372036854775809,123456789012345678901234567890,1]",
    "[]",
    "{}",
    " \t\n\r[ 1 , 2 ,\t{ \"k\" : \"v\" } ]\n",
    "true",
    "false",
    "null",
    "[true,false,null]",
    "-12",
    "\"\"",
    "{\"a\":1,\"a\":2}",
    "{\"\":\"\",\"\\\"\":\"\\\\\"}",
    "[{\"variant_id\":\"var_1\",\"sku\":\"A\",\"quantity\":2,\"weight_g\":500,\"requires_shipping\":true},"
    "{\"variant_id\":\"var_2\",\"sku\":null,\"quantity\":1,\"weight_g\":null,\"requires_shipping\":false}]",
};

static void test_walk_agrees_with_jansson(void)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(good_texts); i++) {
        const char *t = good_texts[i];
        size_t n = strlen(t);
        CHECK(walks(t));
        CHECK(agree(t, n));
        /* every truncation: refused by both, or (a number cut short, a text cut in its trailing blanks) read alike */
        int cut_agree = 0;
        for (size_t k = 0; k < n; k++)
            cut_agree += agree(t, k);
        CHECK_INT(cut_agree, n);
        /* trailing garbage */
        static const char *const tails[] = {" x", ",", "]", "}", "0", "\"", " {}", "\x01"};
        for (size_t k = 0; k < SQ_ARRAY_LEN(tails); k++) {
            char *g = malloc(n + 8);
            size_t gn = (size_t)sprintf(g, "%s%s", t, tails[k]);
            CHECK(agree(g, gn));
            if (strcmp(tails[k], "0") != 0 || t[n - 1] < '0' || t[n - 1] > '9')
                CHECK(!walks(g));
            free(g);
        }
    }
    /* the values themselves, not only agreement: a surrogate pair, a NUL, big integers as doubles, -0 an integer */
    sq_jw_t w;
    json_t *j = jtree_walk(&w, good_texts[1], strlen(good_texts[1]), 0);
    CHECK_STR(json_string_value(json_object_get(j, "u")), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x9d\x84\x9e");
    CHECK_STR(json_string_value(json_object_get(j, "e")), "q\"b\\s/n\nt\tr\rb\bf\f");
    json_decref(j);
    j = jtree_walk(&w, good_texts[3], strlen(good_texts[3]), 0);
    CHECK(json_string_length(j) == 8 && memcmp(json_string_value(j), "\0 inside", 8) == 0);
    json_decref(j);
    j = jtree_walk(&w, good_texts[7], strlen(good_texts[7]), 0);
    CHECK(json_is_real(json_array_get(j, 0)) && json_real_value(json_array_get(j, 0)) == 9223372036854775808.0);
    CHECK(json_is_integer(json_array_get(j, 3)));
    json_decref(j);
    j = jtree_walk(&w, "-0", 2, 0);
    CHECK(json_is_integer(j) && json_integer_value(j) == 0);
    json_decref(j);
}

static void test_walk_refuses(void)
{
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "[",
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":}",
        "{1:2}",
        "[1 2]",
        "01",
        "-01",
        "-",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "1.e3",
        "0x10",
        "tru",
        "truex",
        "nul",
        "True",
        "NaN",
        "Infinity",
        "-Infinity",
        "\"open",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12G4\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800x\"",
        "\"\\ud800\\\"",
        "\"a\x01b\"",
        "\"tab\tin\"",
        "\"\xff\"",
        "\"\x80\"",
        "\"\xc0\x80\"",
        "\"\xc3\"",
        "\"\xe2\x82\"",
        "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"",
        "[1] x",
        "{}{}",
        "[1]]",
        "{\"a\":1}}",
        "1e400",
        "-1e400",
        "[1e309]",
        "\"\\\"",
        "'a'",
        "[1,,2]",
        "{\"a\":1 \"b\":2}",
        "{\"a\",1}",
        "[\x01]",
        "\xef\xbb\xbf[]",
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad); i++) {
        if (walks(bad[i]))
            fprintf(stderr, "the walker reads %s\n", bad[i]);
        CHECK(!walks(bad[i]));
        CHECK(agree(bad[i], strlen(bad[i])));
    }
    /* a NUL byte outside strings, and inside one, given with its length */
    CHECK(agree("[1,\0 2]", 7));
    CHECK(agree("\"a\0b\"", 5));
    sq_jw_t w;
    CHECK(jtree_walk(&w, "[1,\0 2]", 7, 0) == NULL);
    /* where and why */
    CHECK(jtree_walk(&w, "{\"a\":[1,2,}", 11, 0) == NULL);
    CHECK_STR(w.err, "unexpected character");
    CHECK_INT(w.err_at, 10);
    CHECK(jtree_walk(&w, "[\"ok\",\"\\q\"]", 11, 0) == NULL);
    CHECK_STR(w.err, "invalid escape");
    CHECK_INT(w.err_at, 7);
    CHECK(jtree_walk(&w, "[1] x", 5, 0) == NULL);
    CHECK_STR(w.err, "trailing characters after the value");
    CHECK_INT(w.err_at, 4);
}

static void test_walk_depth(void)
{
    char t[2 * SQ_JW_DEPTH_CAP + 8];
    sq_jw_t w;
    /* max_depth containers open at once are fine, one more is refused; 0 means SQ_JSON_MAX_DEPTH */
    for (int max = 1; max <= 40; max += 13) {
        for (int d = max; d <= max + 1; d++) {
            memset(t, '[', (size_t)d);
            memset(t + d, ']', (size_t)d);
            json_t *j = jtree_walk(&w, t, 2 * (size_t)d, max);
            CHECK((j != NULL) == (d <= max));
            if (j == NULL)
                CHECK_STR(w.err, "nested too deeply");
            json_decref(j);
        }
    }
    memset(t, '{', 1);
    CHECK(walks("{\"a\":[{\"b\":[[]]}]}"));
    int d = SQ_JSON_MAX_DEPTH;
    memset(t, '[', (size_t)d + 1);
    memset(t + d + 1, ']', (size_t)d + 1);
    json_t *j = jtree_walk(&w, t, 2 * (size_t)d, 0);
    CHECK(j == NULL); /* unbalanced, but refused for its depth first */
    CHECK_STR(w.err, "nested too deeply");
    j = jtree_walk(&w, t + 1, 2 * (size_t)d, 0);
    CHECK(j != NULL);
    json_decref(j);
    /* past the cap, whatever the caller asks: an unclosed tower of arrays is refused at the cap, not read to its end */
    memset(t, '[', sizeof(t));
    CHECK(jtree_walk(&w, t, sizeof(t), 1 << 20) == NULL);
    CHECK_STR(w.err, "nested too deeply");
    CHECK_INT(w.err_at, SQ_JW_DEPTH_CAP);
}

/* a log of the tokens: kind letter, depth, and the decoded string (s NULL: "~" and the raw text) */
typedef struct {
    char log[512];
    const char *skip_key; /* SQ_JW_SKIP after this key */
    int skip_container;   /* SQ_JW_SKIP after the container begin at this depth (-1: none) */
    int stop_after;       /* SQ_JW_STOP after that many tokens (0: never) */
    int seen;
} logctx_t;

static int log_on(void *ctx, const sq_jw_tok_t *t)
{
    logctx_t *c = ctx;
    static const char letters[] = "?{}[]KSNTFZ";
    size_t at = strlen(c->log);
    bool str = t->kind == SQ_JW_KEY || t->kind == SQ_JW_STRING, bracket = t->kind <= SQ_JW_ARRAY_END;
    if (bracket)
        snprintf(c->log + at, sizeof(c->log) - at, "%c%d ", letters[t->kind], t->depth);
    else if (t->s != NULL)
        snprintf(c->log + at, sizeof(c->log) - at, "%c%d%s%.*s ", letters[t->kind], t->depth, str ? ":" : "", (int)t->n, t->s);
    else
        snprintf(c->log + at, sizeof(c->log) - at, "%c%d~%.*s ", letters[t->kind], t->depth, (int)t->rawn, t->raw);
    c->seen++;
    if (c->stop_after > 0 && c->seen == c->stop_after)
        return SQ_JW_STOP;
    if (t->kind == SQ_JW_KEY && c->skip_key != NULL && t->n == strlen(c->skip_key) && memcmp(t->s, c->skip_key, t->n) == 0)
        return SQ_JW_SKIP;
    if ((t->kind == SQ_JW_OBJECT || t->kind == SQ_JW_ARRAY) && t->depth == c->skip_container)
        return SQ_JW_SKIP;
    return 0;
}

static const char *walk_log(logctx_t *c, const char *t, char *buf, size_t cap, sq_arena_t *arena, int *rc)
{
    sq_jw_t w = {.fn = log_on, .ctx = c, .buf = buf, .cap = cap, .arena = arena};
    c->log[0] = '\0';
    c->seen = 0;
    *rc = sq_json_walk(&w, t, strlen(t));
    return c->log;
}

static void test_walk_tokens(void)
{
    char buf[64];
    int rc;
    logctx_t c = {.skip_container = -1};
    const char *doc = "{\"a\":{\"x\":[1,\"\\u0041\"]},\"b\":2.5,\"c\":[true,{\"d\":null}],\"e\":false}";
    CHECK_STR(walk_log(&c, doc, buf, sizeof(buf), NULL, &rc),
              "{0 K1:a {1 K2:x [2 N31 S3:A ]2 }1 K1:b N12.5 K1:c [1 T2true {2 K3:d Z3null }2 ]1 K1:e F1false }0 ");
    CHECK_INT(rc, 0);
    /* numbers and literals are their text */
    walk_log(&c, "[-1.5e3,true]", buf, sizeof(buf), NULL, &rc);
    CHECK_STR(c.log, "[0 N1-1.5e3 T1true ]0 ");
    /* skipping a member's value, and a container's contents (and its end) */
    c.skip_key = "a";
    CHECK_STR(walk_log(&c, doc, buf, sizeof(buf), NULL, &rc),
              "{0 K1:a K1:b N12.5 K1:c [1 T2true {2 K3:d Z3null }2 ]1 K1:e F1false }0 ");
    CHECK_INT(rc, 0);
    c.skip_key = NULL;
    c.skip_container = 1;
    CHECK_STR(walk_log(&c, doc, buf, sizeof(buf), NULL, &rc), "{0 K1:a {1 K1:b N12.5 K1:c [1 K1:e F1false }0 ");
    CHECK_INT(rc, 0);
    /* skipped text is still checked */
    c.skip_container = -1;
    c.skip_key = "a";
    walk_log(&c, "{\"a\":{\"x\" 1},\"b\":2}", buf, sizeof(buf), NULL, &rc);
    CHECK_INT(rc, -1);
    walk_log(&c, "{\"a\":\"\\ud800\",\"b\":2}", buf, sizeof(buf), NULL, &rc);
    CHECK_INT(rc, -1);
    walk_log(&c, "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", buf, sizeof(buf), NULL,
             &rc);
    CHECK_INT(rc, -1); /* too deep, even unreported */
    c.skip_key = NULL;
    /* stopping */
    c.stop_after = 3;
    sq_jw_t w = {.fn = log_on, .ctx = &c};
    c.log[0] = '\0';
    c.seen = 0;
    CHECK_INT(sq_json_walk(&w, doc, strlen(doc)), -1);
    CHECK(w.stopped);
    CHECK_STR(w.err, "stopped");
    CHECK_STR(c.log, "{0 K1:a {1 ");
    c.stop_after = 0;
    /* where escaped strings go: the caller's buffer (too small fails), an arena, or nowhere (raw only) */
    const char *esc = "[\"plain\",\"a\\nb\",\"\\u00e9t\\u00e9\"]";
    CHECK_STR(walk_log(&c, esc, buf, 4, NULL, &rc), "[0 S1:plain S1:a\nb ");
    CHECK_INT(rc, -1);
    CHECK_STR(walk_log(&c, esc, buf, 5, NULL, &rc), "[0 S1:plain S1:a\nb S1:\xc3\xa9t\xc3\xa9 ]0 ");
    CHECK_INT(rc, 0);
    CHECK_STR(walk_log(&c, esc, NULL, 0, a, &rc), "[0 S1:plain S1:a\nb S1:\xc3\xa9t\xc3\xa9 ]0 ");
    CHECK_INT(rc, 0);
    CHECK_STR(walk_log(&c, esc, NULL, 0, NULL, &rc), "[0 S1:plain S1~\"a\\nb\" S1~\"\\u00e9t\\u00e9\" ]0 ");
    CHECK_INT(rc, 0);
    walk_log(&c, "[\"a\\qb\"]", NULL, 0, NULL, &rc); /* not decoded, still checked */
    CHECK_INT(rc, -1);
}

static void test_number(void)
{
    static const struct {
        const char *text;
        int kind;
        int64_t i;
        double d;
    } cases[] = {
        {"0", 1, 0, 0},
        {"-0", 1, 0, 0},
        {"42", 1, 42, 0},
        {"9223372036854775807", 1, INT64_MAX, 0},
        {"-9223372036854775808", 1, INT64_MIN, 0},
        {"9223372036854775808", 0, 0, 9223372036854775808.0},
        {"-9223372036854775809", 0, 0, -9223372036854775808.0},
        {"18446744073709551616", 0, 0, 18446744073709551616.0},
        {"1.5", 0, 0, 1.5},
        {"-0.0", 0, 0, -0.0},
        {"1e3", 0, 0, 1000},
        {"2.5E-1", 0, 0, 0.25},
        {"1e-400", 0, 0, 0},
        {"1e400", -1, 0, 0},
        {"-1e400", -1, 0, 0},
        {"100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", 0, 0,
         1e107},
    };
    for (size_t k = 0; k < SQ_ARRAY_LEN(cases); k++) {
        int64_t i = -7;
        double d = -7;
        int r = sq_json_number(cases[k].text, strlen(cases[k].text), &i, &d);
        CHECK_INT(r, cases[k].kind);
        if (r == 1)
            CHECK_INT(i, cases[k].i);
        if (r == 0)
            CHECK(d == cases[k].d && signbit(d) == signbit(cases[k].d));
    }
    /* the token is not NUL-terminated: only its n bytes count */
    int64_t i;
    double d;
    CHECK_INT(sq_json_number("12,3", 2, &i, &d), 1);
    CHECK_INT(i, 12);
    CHECK_INT(sq_json_number("1.5e3]", 3, &i, &d), 0);
    CHECK(d == 1.5);
}

/* sq_json_members reads the named top-level members as jansson's tree would give them */
static void test_members(void)
{
    static const char *const names[] = {"amount_due", "currency_code", "email", "total", "items"};
    sq_json_member_t m[5];
    const char *cart = "{\"id\":\"cart_1\",\"items\":[{\"total\":999,\"email\":\"x\"}],\"email\":\"a\\u00e9\\\"b@x.com\","
                       "\"amount_due\":4900,\"meta\":{\"amount_due\":1},\"currency_code\":\"eur\",\"total\":-12}";
    CHECK_INT(sq_json_members(a, cart, names, 5, m), 0);
    int64_t v;
    CHECK(sq_json_member_int(&m[0], &v));
    CHECK_INT(v, 4900); /* the top-level member, not the nested one of the same name */
    CHECK_STR(m[1].s, "eur");
    CHECK_STR(m[2].s, "a\xc3\xa9\"b@x.com"); /* decoded, and kept after the walk */
    CHECK_INT((int)m[2].n, 11);
    CHECK(sq_json_member_int(&m[3], &v));
    CHECK_INT(v, -12);
    CHECK_INT(m[4].kind, SQ_JW_ARRAY);
    CHECK(!sq_json_member_int(&m[4], &v));
    CHECK_INT(v, 0);

    /* absent, null, a fraction, too big, a duplicate (the last wins, as jansson's json_loads) */
    CHECK_INT(sq_json_members(a, "{\"email\":null,\"total\":1.5,\"amount_due\":9223372036854775808,\"currency_code\":\"x\","
                                 "\"currency_code\":\"usd\"}", names, 5, m), 0);
    CHECK_INT(m[2].kind, SQ_JW_NULL);
    CHECK(!sq_json_member_int(&m[3], &v));
    CHECK_INT(v, 0);
    CHECK(!sq_json_member_int(&m[0], &v));
    CHECK_STR(m[1].s, "usd");
    CHECK_INT(m[4].kind, 0);
    CHECK(m[4].s == NULL);

    /* not an object, or malformed anywhere (also inside a member not asked for) */
    const char *bad[] = {"[1]", "\"x\"", "42", "", "{\"a\":}", "{\"meta\":{\"x\":1,}}", "{\"total\":1} x", NULL};
    for (const char **b = bad; *b != NULL; b++)
        CHECK_INT(sq_json_members(a, *b, names, 5, m), -1);
    CHECK_INT(sq_json_members(a, NULL, names, 5, m), -1);
    CHECK_INT(m[0].kind, 0);
}

int main(void)
{
    a = sq_arena_new();
    test_depth();
    test_malformed();
    test_good_input();
    test_unknown_fields_first();
    test_every_error_reported();
    test_error_list_is_bounded();
    test_checks();
    test_minify();
    test_walk_agrees_with_jansson();
    test_walk_refuses();
    test_walk_depth();
    test_walk_tokens();
    test_number();
    test_members();
    sq_arena_unref(a);
    return check_done("json");
}
