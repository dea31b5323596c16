/* json.c: strict request-body parsing, the declarative field decoder, and the streaming walker (sq_json_walk). */
#include "core/base/json.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/iso.h"
#include "core/base/util.h"

bool sq_json_depth_ok(const char *buf, size_t len, int max_depth)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return false;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return true;
}

static void decref(void *p)
{
    json_decref(p);
}

json_t *sq_json_own(sq_arena_t *a, json_t *j)
{
    if (j != NULL)
        sq_arena_defer(a, decref, j);
    return j;
}

json_t *sq_json_parse(sq_arena_t *a, const char *buf, size_t len, sq_err_t *err)
{
    if (buf == NULL || len == 0) {
        sq_err_set(err, SQ_E_INVALID_JSON, "The request body is empty; a JSON object is required.");
        return NULL;
    }
    if (!sq_json_depth_ok(buf, len, SQ_JSON_MAX_DEPTH)) {
        sq_err_set(err, SQ_E_INVALID_JSON, "JSON nesting is deeper than %d levels.", SQ_JSON_MAX_DEPTH);
        return NULL;
    }
    /* JSON text never holds a raw NUL (RFC 8259: control characters in strings are escaped, and NUL is no whitespace);
     * jansson would read {"a":1\0} as {"a":1} */
    if (memchr(buf, '\0', len) != NULL) {
        sq_err_set(err, SQ_E_INVALID_JSON, "Invalid JSON: the body contains a NUL byte.");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        /* jansson's messages are about the input only (no paths or internals), so they are safe to show */
        sq_err_set(err, SQ_E_INVALID_JSON, "Invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    return sq_json_own(a, j);
}

char *sq_json_dump(sq_arena_t *a, const json_t *j, size_t *len)
{
    char small[1024];
    size_t n = json_dumpb(j, small, sizeof(small), JSON_COMPACT);
    char *out = sq_arena_alloc(a, n + 1);
    if (n <= sizeof(small))
        memcpy(out, small, n);
    else
        json_dumpb(j, out, n, JSON_COMPACT);
    out[n] = '\0';
    *len = n;
    return out;
}

size_t sq_utf8_len(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static const char *type_name(sq_ftype_t t)
{
    switch (t) {
    case SQ_FT_STR:
        return "a string";
    case SQ_FT_INT:
        return "an integer";
    case SQ_FT_BOOL:
        return "a boolean";
    case SQ_FT_JSON:
        return "a JSON value";
    case SQ_FT_STR_ARRAY:
        return "an array of strings";
    case SQ_FT_OBJECT:
        return "an object";
    case SQ_FT_OBJECT_ARRAY:
        return "an array of objects";
    }
    return "?";
}

/* Validates one string; NULL if fine. */
static const char *check_string(const sq_field_t *f, const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    size_t bytes = json_string_length(v);
    for (size_t i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0 || c == 0x7f || (c < 0x20 && !((f->flags & SQ_F_MULTILINE) && (c == '\n' || c == '\r' || c == '\t')))) {
            *code = "invalid_characters";
            return "must not contain control characters";
        }
    }
    size_t chars = sq_utf8_len(s, bytes);
    int64_t max = f->max > 0 ? f->max : 256;
    if ((int64_t)chars > max) {
        *code = "too_long";
        return "is too long";
    }
    if ((int64_t)chars < f->min) {
        *code = chars == 0 ? "blank" : "too_short";
        return chars == 0 ? "must not be blank" : "is too short";
    }
    if (f->oneof != NULL) {
        for (const char *const *o = f->oneof; *o != NULL; o++)
            if (strcmp(*o, s) == 0)
                return NULL;
        *code = "invalid_value";
        return "is not one of the allowed values";
    }
    return NULL;
}

static void field_error(sq_err_t *err, const char *prefix, const char *name, const char *code, const char *why)
{
    char ptr[96];
    snprintf(ptr, sizeof(ptr), "%s/%s", prefix, name);
    sq_err_field(err, ptr, code, "%s %s", name, why);
}

static int decode(sq_arena_t *a, const json_t *obj, const sq_field_t *fields, void *out, uint64_t *present, const char *prefix,
                  sq_err_t *err);

static void decode_value(sq_arena_t *a, const sq_field_t *f, const json_t *v, char *dst, const char *prefix, sq_err_t *err)
{
    const char *code = "invalid_type";
    const char *why = NULL;
    char msg[64];
    switch (f->type) {
    case SQ_FT_STR:
        if (!json_is_string(v)) {
            snprintf(msg, sizeof(msg), "must be %s", type_name(f->type));
            why = msg;
            break;
        }
        if ((why = check_string(f, v, &code)) != NULL)
            break;
        if (f->check != NULL && (why = f->check(v, &code)) != NULL)
            break;
        {
            char *s = sq_arena_strndup(a, json_string_value(v), json_string_length(v));
            if (f->flags & SQ_F_LOWER)
                for (char *p = s; *p; p++)
                    *p = (char)tolower((unsigned char)*p);
            *(const char **)dst = s;
        }
        return;
    case SQ_FT_INT:
        if (!json_is_integer(v)) {
            snprintf(msg, sizeof(msg), "must be %s", type_name(f->type));
            why = msg;
            break;
        }
        if (json_integer_value(v) < f->min || (f->max != 0 && json_integer_value(v) > f->max)) {
            code = "out_of_range";
            snprintf(msg, sizeof(msg), "must be between %lld and %lld", (long long)f->min, (long long)f->max);
            why = msg;
            break;
        }
        *(int64_t *)dst = json_integer_value(v);
        return;
    case SQ_FT_BOOL:
        if (!json_is_boolean(v)) {
            why = "must be a boolean";
            break;
        }
        *(bool *)dst = json_is_true(v);
        return;
    case SQ_FT_JSON:
        if (f->check != NULL && (why = f->check(v, &code)) != NULL)
            break;
        *(const json_t **)dst = v;
        return;
    case SQ_FT_STR_ARRAY: {
        if (!json_is_array(v)) {
            why = "must be an array of strings";
            break;
        }
        size_t n = json_array_size(v);
        if ((f->max > 0 && (int64_t)n > f->max) || (int64_t)n < f->min) {
            code = "invalid_length";
            snprintf(msg, sizeof(msg), "must have between %lld and %lld items", (long long)f->min, (long long)f->max);
            why = msg;
            break;
        }
        sq_strs_t *out = (sq_strs_t *)dst;
        out->v = sq_arena_alloc(a, sizeof(char *) * (n + 1));
        out->n = 0;
        sq_field_t item = *f;
        item.max = 256;
        item.min = 1;
        item.check = NULL;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(v, i);
            const char *iwhy = !json_is_string(e) ? "must be a string" : check_string(&item, e, &code);
            if (iwhy == NULL && f->check != NULL)
                iwhy = f->check(e, &code);
            if (iwhy != NULL) {
                char ptr[96];
                snprintf(ptr, sizeof(ptr), "%s/%s/%zu", prefix, f->name, i);
                sq_err_field(err, ptr, json_is_string(e) ? code : "invalid_type", "%s[%zu] %s", f->name, i, iwhy);
                continue;
            }
            out->v[out->n++] = sq_arena_strdup(a, json_string_value(e));
        }
        out->v[out->n] = NULL;
        return;
    }
    case SQ_FT_OBJECT: {
        if (!json_is_object(v)) {
            why = "must be an object";
            break;
        }
        char sub_prefix[96];
        snprintf(sub_prefix, sizeof(sub_prefix), "%s/%s", prefix, f->name);
        decode(a, v, f->sub, dst, NULL, sub_prefix, err);
        return;
    }
    case SQ_FT_OBJECT_ARRAY: {
        if (!json_is_array(v)) {
            why = "must be an array of objects";
            break;
        }
        size_t n = json_array_size(v);
        if ((f->max > 0 && (int64_t)n > f->max) || (int64_t)n < f->min) {
            code = "invalid_length";
            snprintf(msg, sizeof(msg), "must have between %lld and %lld items", (long long)f->min, (long long)f->max);
            why = msg;
            break;
        }
        char *scratch = sq_arena_zalloc(a, 256);
        for (size_t i = 0; i < n; i++) {
            char sub_prefix[96];
            snprintf(sub_prefix, sizeof(sub_prefix), "%s/%s/%zu", prefix, f->name, i);
            const json_t *e = json_array_get(v, i);
            if (!json_is_object(e)) {
                sq_err_field(err, sub_prefix, "invalid_type", "%s[%zu] must be an object", f->name, i);
                continue;
            }
            sq_err_t sub;
            sq_err_clear(&sub);
            if (decode(a, e, f->sub, scratch, NULL, sub_prefix, &sub) != 0) {
                for (int k = 0; k < sub.nfields; k++)
                    sq_err_field(err, sub.fields[k].pointer, sub.fields[k].code, "%s", sub.fields[k].detail);
                if (sub.code == SQ_E_UNKNOWN_FIELD)
                    err->code = SQ_E_UNKNOWN_FIELD;
            }
        }
        *(const json_t **)dst = v;
        return;
    }
    }
    field_error(err, prefix, f->name, code, why);
}

static int decode(sq_arena_t *a, const json_t *obj, const sq_field_t *fields, void *out, uint64_t *present, const char *prefix,
                  sq_err_t *err)
{
    int before = err->nfields;
    const char *key;
    const json_t *v;
    /* unknown fields are a mass-assignment attempt or a client bug: report them before anything else */
    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        for (const sq_field_t *f = fields; f->name != NULL; f++)
            if (strcmp(f->name, key) == 0) {
                known = true;
                break;
            }
        if (!known) {
            char ptr[96];
            snprintf(ptr, sizeof(ptr), "%s/%.64s", prefix, key);
            sq_err_field(err, ptr, "unknown_field", "%.64s is not a field of this request", key);
            if (err->code == SQ_OK || err->code == SQ_E_VALIDATION)
                err->code = SQ_E_UNKNOWN_FIELD;
        }
    }
    if (err->code == SQ_E_UNKNOWN_FIELD)
        return -1;

    if (present != NULL)
        *present = 0;
    int i = 0;
    for (const sq_field_t *f = fields; f->name != NULL; f++, i++) {
        v = json_object_get(obj, f->name);
        if (v == NULL) {
            if (f->flags & SQ_F_REQUIRED)
                field_error(err, prefix, f->name, "required", "is required");
            continue;
        }
        if (present != NULL)
            *present |= (uint64_t)1 << i;
        if (json_is_null(v)) {
            if (!(f->flags & SQ_F_NULLABLE))
                field_error(err, prefix, f->name, "invalid_type", "must not be null");
            continue;
        }
        decode_value(a, f, v, (char *)out + f->offset, prefix, err);
    }
    if (err->nfields > before) {
        if (err->code == SQ_OK)
            err->code = SQ_E_VALIDATION;
        return -1;
    }
    return 0;
}

int sq_json_decode(sq_arena_t *a, const json_t *obj, const sq_field_t *fields, void *out, uint64_t *present, sq_err_t *err)
{
    if (!json_is_object(obj)) {
        return sq_err_set(err, SQ_E_VALIDATION, "The request body must be a JSON object.");
    }
    if (decode(a, obj, fields, out, present, "", err) != 0) {
        if (err->detail[0] == '\0')
            snprintf(err->detail, sizeof(err->detail), "%s",
                     err->code == SQ_E_UNKNOWN_FIELD ? "The request has fields this endpoint does not accept."
                                                     : "Some fields are invalid; see errors.");
        return -1;
    }
    return 0;
}

const char *sq_check_email(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    const char *at = strchr(s, '@');
    *code = "invalid_format";
    if (n > 254 || at == NULL || at == s || strchr(at + 1, '@') != NULL || at - s > 64)
        return "must be an email address";
    const char *dot = strrchr(at + 1, '.');
    if (dot == NULL || dot == at + 1 || dot[1] == '\0')
        return "must be an email address";
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == ':' || c == '\\' || c == '"' ||
            c == '[' || c == ']')
            return "must be an email address";
    }
    for (const char *p = at + 1; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || ((unsigned char)*p >= 0x80)))
            return "must be an email address";
    return NULL;
}

const char *sq_check_country(const json_t *v, const char **code)
{
    char lower[3] = {0};
    const char *s = json_string_value(v);
    *code = "invalid_value";
    if (json_string_length(v) == 2) {
        lower[0] = (char)tolower((unsigned char)s[0]);
        lower[1] = (char)tolower((unsigned char)s[1]);
    }
    return sq_iso_country_known(lower) ? NULL : "must be an ISO 3166-1 alpha-2 country code";
}

const char *sq_check_password(const json_t *v, const char **code)
{
    size_t chars = sq_utf8_len(json_string_value(v), json_string_length(v));
    *code = "weak_password";
    if (chars < 8)
        return "must be at least 8 characters";
    return NULL;
}

const char *sq_check_phone(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    *code = "invalid_format";
    size_t digits = 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (!(*p == '+' && p == s) && *p != ' ' && *p != '-' && *p != '(' && *p != ')' && *p != '.')
            return "must be a phone number";
    }
    return digits >= 4 && digits <= 15 ? NULL : "must be a phone number";
}

/* Metadata follows Stripe's shape: a flat object, at most 50 keys of at most 40 characters, values are
 * strings (<= 500 characters), numbers, booleans or null. */
const char *sq_check_metadata(const json_t *v, const char **code)
{
    *code = "invalid_metadata";
    if (!json_is_object(v))
        return "must be an object";
    if (json_object_size(v) > 50)
        return "must have at most 50 keys";
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        size_t kl = sq_utf8_len(key, strlen(key));
        if (kl == 0 || kl > 40)
            return "keys must be 1 to 40 characters";
        if (json_is_string(val)) {
            if (sq_utf8_len(json_string_value(val), json_string_length(val)) > 500)
                return "string values must be at most 500 characters";
        } else if (!(json_is_number(val) || json_is_boolean(val) || json_is_null(val))) {
            return "values must be strings, numbers, booleans or null";
        }
    }
    return NULL;
}

const char *sq_check_handle(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    *code = "invalid_format";
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '-' || s[n - 1] == '-')
        return "must be lower-case letters and digits separated by dashes";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && s[i + 1] != '-')))
            return "must be lower-case letters and digits separated by dashes";
    }
    return NULL;
}

const char *sq_check_url(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    *code = "invalid_format";
    const char *host = strncmp(s, "https://", 8) == 0 ? s + 8 : strncmp(s, "http://", 7) == 0 ? s + 7 : NULL;
    if (host == NULL || *host == '\0' || *host == '/' || json_string_length(v) > 2048)
        return "must be an http(s) URL";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return "must be an http(s) URL";
    return NULL;
}

const char *sq_check_timestamp(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    *code = "invalid_format";
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return "must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z";
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return "must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z";
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return "must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z";
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((p[0] == 'Z' && p[1] == '\0') ||
        ((p[0] == '+' || p[0] == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) && p[3] == ':' &&
         isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) && p[6] == '\0'))
        return NULL;
    return "must be an RFC 3339 timestamp with a time zone (Z or +hh:mm)";
}

const char *sq_check_currency(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    char lower[4] = {0};
    *code = "invalid_value";
    if (json_string_length(v) == 3)
        for (int i = 0; i < 3; i++)
            lower[i] = (char)tolower((unsigned char)s[i]);
    return sq_iso_currency(lower) != NULL ? NULL : "must be an ISO 4217 currency code";
}

const char *sq_check_id(const json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    const char *u = strchr(s, '_');
    *code = "invalid_format";
    if (u == NULL || u == s || u - s > 8 || strlen(u + 1) != 26)
        return "must be an id";
    for (const char *p = s; p < u; p++)
        if (*p < 'a' || *p > 'z')
            return "must be an id";
    for (const char *p = u + 1; *p; p++)
        if (strchr("0123456789abcdefghjkmnpqrstvwxyz", *p) == NULL)
            return "must be an id";
    return NULL;
}

char *sq_json_minify(sq_arena_t *a, const char *json)
{
    if (json == NULL)
        return NULL;
    char *out = sq_arena_alloc(a, strlen(json) + 1), *o = out;
    bool in_string = false;
    for (const char *p = json; *p; p++) {
        char c = *p;
        if (in_string) {
            *o++ = c;
            if (c == '\\' && p[1] != '\0')
                *o++ = *++p;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
            *o++ = c;
        } else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            *o++ = c;
        }
    }
    *o = '\0';
    return out;
}

/* ---- the streaming walker ------------------------------------------------------------------------------------------ */

/* bytes inside a string: 0 plain (printable ASCII), or what else it needs */
enum { C_PLAIN, C_QUOTE, C_ESC, C_CTRL, C_HIGH };
static const unsigned char str_class[256] = {
    [0x00 ... 0x1f] = C_CTRL,
    ['"'] = C_QUOTE,
    ['\\'] = C_ESC,
    [0x80 ... 0xff] = C_HIGH,
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* the 4 hex digits at p (end - p >= 4 checked by the caller), or -1 */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* the length of the valid UTF-8 sequence at p (its first byte >= 0x80), or 0: no overlong forms, no surrogates,
 * nothing past U+10FFFF (jansson's rules) */
static int utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    int n;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (end - p < n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

static size_t put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

typedef struct {
    sq_jw_t *w;
    const char *text, *end;
} walk_t;

static int fail(walk_t *k, const char *at, const char *why)
{
    k->w->err = why;
    k->w->err_at = (size_t)(at - k->text);
    return -1;
}

/* The string whose opening quote is at *pp: checked, and when decode is set also decoded into t->s/t->n (into the
 * text when it has no escape, else into the walker's buffer; NULL without one). *pp moves past the closing quote. */
static int string(walk_t *k, const char **pp, bool decode, sq_jw_tok_t *t)
{
    const char *start = *pp + 1, *p = start, *end = k->end;
    while (p < end && str_class[(unsigned char)*p] == C_PLAIN)
        p++;
    if (p < end && *p == '"') { /* the common case: nothing to decode */
        t->s = start;
        t->n = (size_t)(p - start);
        goto Done;
    }
    /* escapes, control characters or non-ASCII: the careful loop, decoding into out when there is one */
    sq_jw_t *w = k->w;
    char *out = NULL;
    if (decode) {
        if (w->buf == NULL && w->arena != NULL) {
            w->cap = w->cap != 0 ? w->cap : (size_t)(k->end - k->text);
            w->buf = sq_arena_alloc(w->arena, w->cap);
        }
        out = w->buf;
    }
    size_t o = (size_t)(p - start);
    if (out != NULL) {
        if (o > w->cap)
            return fail(k, start, "string longer than the decoding buffer");
        memcpy(out, start, o);
    }
    for (;;) {
        if (p >= end)
            return fail(k, *pp, "unterminated string");
        unsigned char c = (unsigned char)*p;
        size_t n = 1;
        char u[4];
        const char *from = p;
        switch (str_class[c]) {
        case C_PLAIN:
            p++;
            break;
        case C_QUOTE:
            goto Decoded;
        case C_CTRL:
            return fail(k, p, "control character in a string");
        case C_HIGH:
            n = (size_t)utf8_seq((const unsigned char *)p, (const unsigned char *)end);
            if (n == 0)
                return fail(k, p, "invalid UTF-8 in a string");
            p += n;
            break;
        case C_ESC: {
            if (end - p < 2)
                return fail(k, p, "unterminated string");
            from = u;
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
                u[0] = p[1];
                break;
            case 'b':
                u[0] = '\b';
                break;
            case 'f':
                u[0] = '\f';
                break;
            case 'n':
                u[0] = '\n';
                break;
            case 'r':
                u[0] = '\r';
                break;
            case 't':
                u[0] = '\t';
                break;
            case 'u': {
                long cp = end - p >= 6 ? hex4(p + 2) : -1;
                if (cp < 0)
                    return fail(k, p, "invalid \\u escape");
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return fail(k, p, "lone low surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    long lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(k, p, "high surrogate without its low half");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
                n = put_utf8(u, (unsigned long)cp);
                p += 4;
                break;
            }
            default:
                return fail(k, p, "invalid escape");
            }
            p += 2;
            break;
        }
        }
        if (out != NULL) {
            if (o + n > w->cap)
                return fail(k, start, "string longer than the decoding buffer");
            memcpy(out + o, from, n);
        }
        o += n;
    }
Decoded:
    t->s = out;
    t->n = out != NULL ? o : 0;
Done:
    t->raw = *pp;
    t->rawn = (size_t)(p + 1 - *pp);
    *pp = p + 1;
    return 0;
}

/* A number's text at *pp, checked against the grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(walk_t *k, const char **pp)
{
    const char *p = *pp, *end = k->end;
    if (p < end && *p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return fail(k, *pp, "unexpected character");
    if (*p++ != '0')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    if (p < end && *p == '.') {
        if (++p >= end || *p < '0' || *p > '9')
            return fail(k, p, "digit expected after the decimal point");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return fail(k, p, "digit expected in the exponent");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    *pp = p;
    return 0;
}

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

int sq_json_walk(sq_jw_t *w, const char *text, size_t len)
{
    walk_t k = {w, text, text + len};
    const char *p = text, *end = text + len;
    int max = w->max_depth > 0 ? w->max_depth : SQ_JSON_MAX_DEPTH;
    if (max > SQ_JW_DEPTH_CAP)
        max = SQ_JW_DEPTH_CAP;
    unsigned char obj[SQ_JW_DEPTH_CAP / 8]; /* bit d: the container open at depth d is an object */
    int depth = 0;                          /* of the next value (then of the value just read) */
    int quiet = INT_MAX;                    /* values at this depth and deeper are checked, not reported */
    sq_jw_tok_t t;
    w->err = NULL;
    w->err_at = 0;
    w->stopped = false;
    int r;

Value:
    p = ws(p, end);
    if (p >= end)
        return fail(&k, p, "end of input where a value was expected");
    t.depth = depth;
    switch (*p) {
    case '{':
    case '[': {
        bool is_obj = *p == '{';
        if (depth >= max)
            return fail(&k, p, "nested too deeply");
        if (is_obj)
            obj[depth >> 3] |= (unsigned char)(1u << (depth & 7));
        else
            obj[depth >> 3] &= (unsigned char)~(1u << (depth & 7));
        t.kind = is_obj ? SQ_JW_OBJECT : SQ_JW_ARRAY;
        t.s = t.raw = p++;
        t.n = t.rawn = 1;
        if (depth < quiet && (r = w->fn(w->ctx, &t)) != 0) {
            if (r < 0)
                goto Stopped;
            quiet = depth;
        }
        depth++;
        p = ws(p, end);
        if (p < end && *p == (is_obj ? '}' : ']')) {
            depth--;
            goto Close;
        }
        if (is_obj)
            goto Key;
        goto Value;
    }
    case '"':
        t.kind = SQ_JW_STRING;
        if (string(&k, &p, depth < quiet, &t) != 0)
            return -1;
        break;
    case 't':
    case 'f':
    case 'n': {
        const char *word = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
        size_t n = strlen(word);
        if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
            return fail(&k, p, "invalid literal");
        t.kind = *p == 't' ? SQ_JW_TRUE : *p == 'f' ? SQ_JW_FALSE : SQ_JW_NULL;
        t.s = t.raw = p;
        t.n = t.rawn = n;
        p += n;
        break;
    }
    default:
        t.s = t.raw = p;
        if (number(&k, &p) != 0)
            return -1;
        t.kind = SQ_JW_NUMBER;
        t.n = t.rawn = (size_t)(p - t.s);
        break;
    }
    if (depth < quiet && w->fn(w->ctx, &t) < 0)
        goto Stopped;

After: /* the value at depth is complete */
    if (quiet == depth)
        quiet = INT_MAX;
    if (depth == 0) {
        p = ws(p, end);
        if (p != end)
            return fail(&k, p, "trailing characters after the value");
        return 0;
    }
    p = ws(p, end);
    if (p >= end)
        return fail(&k, p, "end of input inside a container");
    bool in_obj = (obj[(depth - 1) >> 3] >> ((depth - 1) & 7)) & 1;
    if (*p == ',') {
        p++;
        if (in_obj)
            goto Key;
        goto Value;
    }
    if (*p != (in_obj ? '}' : ']'))
        return fail(&k, p, in_obj ? "expected , or }" : "expected , or ]");
    depth--;

Close: /* p at the closing bracket of the container at depth */
    if (depth < quiet) {
        bool is_obj = *p == '}';
        t.kind = is_obj ? SQ_JW_OBJECT_END : SQ_JW_ARRAY_END;
        t.depth = depth;
        t.s = t.raw = p;
        t.n = t.rawn = 1;
        if (w->fn(w->ctx, &t) < 0) {
            p++;
            goto Stopped;
        }
    }
    p++;
    goto After;

Key:
    p = ws(p, end);
    if (p >= end || *p != '"')
        return fail(&k, p, "expected a key");
    t.kind = SQ_JW_KEY;
    t.depth = depth;
    if (string(&k, &p, depth < quiet, &t) != 0)
        return -1;
    if (depth < quiet && (r = w->fn(w->ctx, &t)) != 0) {
        if (r < 0)
            goto Stopped;
        quiet = depth;
    }
    p = ws(p, end);
    if (p >= end || *p != ':')
        return fail(&k, p, "expected :");
    p++;
    goto Value;

Stopped:
    w->stopped = true;
    return fail(&k, p, "stopped");
}

int sq_json_number(const char *s, size_t n, int64_t *i, double *d)
{
    const char *p = s, *end = s + n;
    bool neg = p < end && *p == '-';
    p += neg;
    uint64_t u = 0;
    bool fits = true;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (u > (UINT64_MAX - digit) / 10)
            fits = false;
        else
            u = u * 10 + digit;
    }
    if (p == end && fits && u <= (uint64_t)INT64_MAX + neg) {
        *i = neg ? (int64_t)(0 - u) : (int64_t)u;
        return 1;
    }
    /* a real (or an integer too big): strtod on a NUL-terminated copy, as jansson reads them */
    char small[64], *copy = n < sizeof(small) ? small : malloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    errno = 0;
    double v = strtod(copy, NULL);
    bool range = errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL);
    if (copy != small)
        free(copy);
    if (range)
        return -1;
    *d = v;
    return 0;
}

/* ---- members of a top-level object (sq_json_members) ---- */

typedef struct {
    sq_arena_t *a;
    const char *const *names;
    int n;
    sq_json_member_t *out;
    int want; /* the member whose value comes next, -1 none */
} members_t;

static int members_on(void *ctx, const sq_jw_tok_t *t)
{
    members_t *m = ctx;
    if (t->depth == 0)
        return t->kind == SQ_JW_OBJECT || t->kind == SQ_JW_OBJECT_END ? 0 : SQ_JW_STOP;
    if (t->kind == SQ_JW_KEY) {
        m->want = -1;
        for (int i = 0; i < m->n && t->s != NULL; i++)
            if (strlen(m->names[i]) == t->n && memcmp(m->names[i], t->s, t->n) == 0)
                m->want = i;
        return m->want < 0 ? SQ_JW_SKIP : 0; /* (nested members are never seen: an unwanted value is skipped) */
    }
    sq_json_member_t *v = &m->out[m->want];
    v->kind = t->kind;
    if (t->kind == SQ_JW_STRING) {
        v->s = sq_arena_strndup(m->a, t->s, t->n);
        v->n = t->n;
        return 0;
    }
    if (t->kind == SQ_JW_OBJECT || t->kind == SQ_JW_ARRAY) { /* (its kind only; its contents are still checked) */
        v->s = NULL;
        v->n = 0;
        return SQ_JW_SKIP;
    }
    v->s = t->raw;
    v->n = t->rawn;
    return 0;
}

int sq_json_members(sq_arena_t *a, const char *text, const char *const *names, int n, sq_json_member_t *out)
{
    memset(out, 0, sizeof(*out) * (size_t)n);
    members_t m = {a, names, n, out, -1};
    sq_jw_t w = {.fn = members_on, .ctx = &m, .arena = a};
    return text != NULL && sq_json_walk(&w, text, strlen(text)) == 0 ? 0 : -1;
}

bool sq_json_member_int(const sq_json_member_t *m, int64_t *v)
{
    double d;
    if (m->kind != SQ_JW_NUMBER || sq_json_number(m->s, m->n, v, &d) != 1) {
        *v = 0;
        return false;
    }
    return true;
}
