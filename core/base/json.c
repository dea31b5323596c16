/* json.c: strict request-body parsing and the declarative field decoder. */
#include "core/base/json.h"

#include <ctype.h>
#include <stdio.h>
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
