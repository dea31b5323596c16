/* json.c: tests of core/base/json.c: strict parsing and the declarative decoder's error reporting. */
#include "core/base/json.h"

#include <stddef.h>
#include <stdlib.h>

#include "core/base/util.h"
#include "tests/unit/check.h"

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
    sq_arena_unref(a);
    return check_done("json");
}
