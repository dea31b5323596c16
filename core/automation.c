/* automation.c: the rules of automation rules: the expression language (validation and evaluation), rule bodies, the
 * dry run, and the engine that executes a run as a durable job (one step per action, see migrations/0032). */
/* pointers into rule bodies are cut to what a field error holds (96 bytes) anyway */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "core/automation.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base/embed.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/jobs.h"

/* ---- JSON pointers and times --------------------------------------------------------------------------------- */

static bool pointer_valid(const char *p)
{
    if (p == NULL || (p[0] != '\0' && p[0] != '/') || strlen(p) > 256)
        return false;
    for (const char *s = p; *s; s++)
        if (*s == '~' && s[1] != '0' && s[1] != '1')
            return false;
    return true;
}

json_t *sq_json_pointer_get(const json_t *doc, const char *pointer)
{
    json_t *cur = (json_t *)doc;
    if (doc == NULL || pointer == NULL || !pointer_valid(pointer))
        return NULL;
    const char *p = pointer;
    char tok[257];
    while (*p == '/' && cur != NULL) {
        p++;
        size_t n = 0;
        while (*p && *p != '/' && n < sizeof(tok) - 1) {
            if (*p == '~') {
                tok[n++] = p[1] == '0' ? '~' : '/';
                p += 2;
            } else
                tok[n++] = *p++;
        }
        tok[n] = '\0';
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *end;
            if (n == 0 || (n > 1 && tok[0] == '0') || !isdigit((unsigned char)tok[0]))
                return NULL;
            unsigned long i = strtoul(tok, &end, 10);
            cur = *end == '\0' ? json_array_get(cur, i) : NULL;
        } else
            return NULL;
    }
    return cur;
}

bool sq_time_parse(const char *s, int64_t *out_us)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    size_t len = strlen(s);
    if (len == 10) {
        if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
            return false;
    } else if (len < 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return false;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    int64_t frac_us = 0, off_s = 0;
    if (len > 10) {
        const char *z = s + 19;
        if (*z == '.') {
            int64_t scale = 100000;
            z++;
            if (!isdigit((unsigned char)*z))
                return false;
            for (; isdigit((unsigned char)*z); z++, scale /= 10)
                frac_us += (*z - '0') * scale;
        }
        if (strcmp(z, "Z") == 0 || strcmp(z, "z") == 0)
            off_s = 0;
        else if ((z[0] == '+' || z[0] == '-') && strlen(z) == 6 && isdigit((unsigned char)z[1]) && isdigit((unsigned char)z[2]) &&
                 z[3] == ':' && isdigit((unsigned char)z[4]) && isdigit((unsigned char)z[5])) {
            off_s = ((z[1] - '0') * 10 + (z[2] - '0')) * 3600 + ((z[4] - '0') * 10 + (z[5] - '0')) * 60;
            if (z[0] == '-')
                off_s = -off_s;
        } else
            return false;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *out_us = ((int64_t)t - off_s) * 1000000 + frac_us;
    return true;
}

/* "now", "now-7d", "now+12h": the offset from now in microseconds */
static bool relative_parse(const char *s, int64_t *offset_us)
{
    if (strncmp(s, "now", 3) != 0)
        return false;
    if (s[3] == '\0') {
        *offset_us = 0;
        return true;
    }
    if (s[3] != '+' && s[3] != '-')
        return false;
    char *end;
    if (!isdigit((unsigned char)s[4]))
        return false;
    long n = strtol(s + 4, &end, 10);
    int64_t unit;
    switch (*end) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    default:
        return false;
    }
    if (end[1] != '\0' || n < 0 || n * unit > 3660LL * 86400)
        return false;
    *offset_us = (s[3] == '-' ? -1 : 1) * n * unit * 1000000;
    return true;
}

static bool date_value(const char *s, int64_t now_us, int64_t *out)
{
    int64_t off;
    if (relative_parse(s, &off)) {
        *out = now_us + off;
        return true;
    }
    return sq_time_parse(s, out);
}

/* ---- expressions: validation --------------------------------------------------------------------------------- */

static const char *const ops[] = {"eq", "ne", "lt", "lte", "gt", "gte", "in", "exists", NULL};
static const char *const types[] = {"number", "string", "money", "date", NULL};

static bool one_of(const char *s, const char *const *list)
{
    for (int i = 0; s != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

typedef struct {
    sq_err_t *err;
    int nodes;
} vstate_t;

#define FIELD_ERR(vs, at, code, ...)                                                                                               \
    do {                                                                                                                           \
        sq_err_field((vs)->err, (at), (code), __VA_ARGS__);                                                                        \
        bad = true;                                                                                                                \
    } while (0)

static bool money_value_valid(const json_t *v)
{
    const char *code;
    json_t *amt = json_object_get(v, "amount"), *cur = json_object_get(v, "currency");
    return json_is_object(v) && json_object_size(v) == 2 && json_is_integer(amt) && json_is_string(cur) &&
           sq_check_currency(cur, &code) == NULL;
}

/* the type a comparison compares as: explicit, or what the value is */
static const char *infer_type(const json_t *node)
{
    const char *t = json_string_value(json_object_get(node, "type"));
    if (t != NULL)
        return t;
    const json_t *v = json_object_get(node, "value");
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_number(v))
        return "number";
    if (json_is_string(v))
        return "string";
    if (json_is_object(v))
        return "money";
    return NULL;
}

/* one literal of a comparison of type t */
static bool literal_ok(const char *t, const json_t *v, const char **why)
{
    int64_t x;
    if (strcmp(t, "number") == 0) {
        *why = "must be a number";
        return json_is_number(v);
    }
    if (strcmp(t, "string") == 0) {
        *why = "must be a string of at most 1000 characters";
        return json_is_string(v) && json_string_length(v) <= 1000;
    }
    if (strcmp(t, "money") == 0) {
        *why = "must be {\"amount\": <minor units>, \"currency\": \"<ISO 4217>\"}";
        return money_value_valid(v);
    }
    *why = "must be an RFC 3339 time, a YYYY-MM-DD date, or now[+-]N(s|m|h|d)";
    return json_is_string(v) && date_value(json_string_value(v), 0, &x);
}

static bool validate_node(vstate_t *vs, const json_t *node, const char *at, int depth)
{
    char p[128];
    bool bad = false;
    if (++vs->nodes > SQ_EXPR_MAX_NODES) {
        sq_err_field(vs->err, at, "too_large", "a condition has at most %d nodes", SQ_EXPR_MAX_NODES);
        return false;
    }
    if (depth > SQ_EXPR_MAX_DEPTH) {
        sq_err_field(vs->err, at, "too_deep", "conditions nest at most %d levels deep", SQ_EXPR_MAX_DEPTH);
        return false;
    }
    if (!json_is_object(node)) {
        sq_err_field(vs->err, at, "invalid_type", "a condition is an object: all, any, not, or a comparison (field, op, value)");
        return false;
    }
    const char *group = json_object_get(node, "all") ? "all" : json_object_get(node, "any") ? "any" : NULL;
    if (group != NULL || json_object_get(node, "not") != NULL) {
        const char *key = group != NULL ? group : "not";
        if (json_object_size(node) != 1) {
            sq_err_field(vs->err, at, "invalid_value", "%s stands alone in its object", key);
            return false;
        }
        const json_t *sub = json_object_get(node, key);
        snprintf(p, sizeof(p), "%s/%s", at, key);
        if (group == NULL)
            return validate_node(vs, sub, p, depth + 1);
        if (!json_is_array(sub) || json_array_size(sub) < 1 || json_array_size(sub) > 20) {
            sq_err_field(vs->err, p, "invalid_type", "%s is an array of 1 to 20 conditions", key);
            return false;
        }
        size_t i;
        const json_t *c;
        bool ok = true;
        json_array_foreach(sub, i, c)
        {
            char q[128];
            snprintf(q, sizeof(q), "%s/%zu", p, i);
            ok = validate_node(vs, c, q, depth + 1) && ok;
        }
        return ok;
    }
    /* a comparison */
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)node, key, v)
    {
        if (!one_of(key, (const char *const[]){"field", "op", "value", "type", "currency_field", NULL})) {
            snprintf(p, sizeof(p), "%s/%s", at, key);
            FIELD_ERR(vs, p, "unknown_field", "not a part of a condition (all, any, not, field, op, value, type, currency_field)");
        }
    }
    const json_t *field = json_object_get(node, "field");
    snprintf(p, sizeof(p), "%s/field", at);
    if (field == NULL)
        FIELD_ERR(vs, p, "required", "a comparison names the field it looks at (a JSON pointer into the event's data)");
    else if (!json_is_string(field) || !pointer_valid(json_string_value(field)))
        FIELD_ERR(vs, p, "invalid_format", "must be a JSON pointer such as /total");
    const char *op = json_string_value(json_object_get(node, "op"));
    snprintf(p, sizeof(p), "%s/op", at);
    if (json_object_get(node, "op") == NULL)
        FIELD_ERR(vs, p, "required", "op is one of eq, ne, lt, lte, gt, gte, in, exists");
    else if (!one_of(op, ops))
        FIELD_ERR(vs, p, "invalid_value", "op is one of eq, ne, lt, lte, gt, gte, in, exists");
    const json_t *type = json_object_get(node, "type");
    snprintf(p, sizeof(p), "%s/type", at);
    if (type != NULL && !one_of(json_string_value(type), types))
        FIELD_ERR(vs, p, "invalid_value", "type is one of number, string, money, date");
    const json_t *value = json_object_get(node, "value");
    snprintf(p, sizeof(p), "%s/value", at);
    if (bad || op == NULL)
        return false;
    if (strcmp(op, "exists") == 0) {
        if (value != NULL || type != NULL || json_object_get(node, "currency_field") != NULL) {
            sq_err_field(vs->err, p, "invalid_value", "exists takes no value (wrap it in not for absence)");
            return false;
        }
        return true;
    }
    if (value == NULL || json_is_null(value)) {
        sq_err_field(vs->err, p, "required", "%s compares the field with a value", op);
        return false;
    }
    const char *t = infer_type(node);
    const char *why = "must be a number, a string or a money object";
    if (t == NULL) {
        sq_err_field(vs->err, p, "invalid_type", "%s", why);
        return false;
    }
    const json_t *cf = json_object_get(node, "currency_field");
    if (cf != NULL && (strcmp(t, "money") != 0 || !json_is_string(cf) || !pointer_valid(json_string_value(cf)))) {
        char q[128];
        snprintf(q, sizeof(q), "%s/currency_field", at);
        sq_err_field(vs->err, q, "invalid_value", "currency_field is a JSON pointer, for money comparisons only");
        return false;
    }
    if (strcmp(op, "in") == 0) {
        if (strcmp(t, "number") != 0 && strcmp(t, "string") != 0) {
            sq_err_field(vs->err, p, "invalid_value", "in compares numbers or strings");
            return false;
        }
        if (!json_is_array(value) || json_array_size(value) < 1 || json_array_size(value) > SQ_EXPR_MAX_IN) {
            sq_err_field(vs->err, p, "invalid_type", "in takes an array of 1 to %d values", SQ_EXPR_MAX_IN);
            return false;
        }
        size_t i;
        const json_t *x;
        json_array_foreach(value, i, x)
        {
            if (!literal_ok(t, x, &why)) {
                char q[128];
                snprintf(q, sizeof(q), "%s/%zu", p, i);
                sq_err_field(vs->err, q, "invalid_value", "%s (like the first value)", why);
                return false;
            }
        }
        return true;
    }
    if (!literal_ok(t, value, &why)) {
        sq_err_field(vs->err, p, "invalid_value", "%s", why);
        return false;
    }
    return true;
}

int sq_expr_validate(const json_t *expr, const char *pointer, sq_err_t *err)
{
    vstate_t vs = {err, 0};
    int before = err->nfields;
    validate_node(&vs, expr, pointer, 1);
    return err->nfields > before ? -1 : 0;
}

/* ---- expressions: evaluation --------------------------------------------------------------------------------- */

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static bool apply(const char *op, int c)
{
    if (strcmp(op, "eq") == 0 || strcmp(op, "in") == 0)
        return c == 0;
    if (strcmp(op, "ne") == 0)
        return c != 0;
    if (strcmp(op, "lt") == 0)
        return c < 0;
    if (strcmp(op, "lte") == 0)
        return c <= 0;
    if (strcmp(op, "gt") == 0)
        return c > 0;
    return c >= 0; /* gte */
}

static int cmp_numbers(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return cmp_i64(json_integer_value(a), json_integer_value(b));
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

/* the currency of a money field that is a bare amount: currency_field, else a sibling currency_code or currency */
static const char *field_currency(const json_t *node, const json_t *payload)
{
    const char *cf = json_string_value(json_object_get(node, "currency_field"));
    if (cf != NULL)
        return json_string_value(sq_json_pointer_get(payload, cf));
    const char *f = json_string_value(json_object_get(node, "field"));
    const char *slash = strrchr(f, '/');
    if (slash == NULL)
        return NULL;
    char p[300];
    static const char *const names[] = {"currency_code", "currency"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%.*s/%s", (int)(slash - f), f, names[i]);
        const char *c = json_string_value(sq_json_pointer_get(payload, p));
        if (c != NULL)
            return c;
    }
    return NULL;
}

static bool eval_compare(const json_t *node, const json_t *payload, int64_t now_us, json_t *t)
{
    const char *op = json_string_value(json_object_get(node, "op"));
    const json_t *actual = sq_json_pointer_get(payload, json_string_value(json_object_get(node, "field")));
    const json_t *value = json_object_get(node, "value");
    if (t != NULL) {
        json_object_set(t, "field", json_object_get(node, "field"));
        json_object_set_new(t, "op", json_string(op));
        if (value != NULL)
            json_object_set(t, "expected", (json_t *)value);
        json_object_set_new(t, "actual", actual != NULL ? json_deep_copy(actual) : json_null());
    }
    const char *reason = NULL;
    bool r = false;
    if (strcmp(op, "exists") == 0) {
        r = actual != NULL && !json_is_null(actual);
        goto Exit;
    }
    if (actual == NULL || json_is_null(actual)) {
        reason = "missing";
        goto Exit;
    }
    const char *type = infer_type(node);
    if (strcmp(op, "in") == 0) {
        size_t i;
        const json_t *x;
        bool typed = strcmp(type, "number") == 0 ? json_is_number(actual) : json_is_string(actual);
        if (!typed) {
            reason = "type_mismatch";
            goto Exit;
        }
        json_array_foreach(value, i, x)
        {
            if (strcmp(type, "number") == 0 ? cmp_numbers(actual, x) == 0
                                            : strcmp(json_string_value(actual), json_string_value(x)) == 0)
                r = true;
        }
        goto Exit;
    }
    if (strcmp(type, "number") == 0) {
        if (!json_is_number(actual)) {
            reason = "type_mismatch";
            goto Exit;
        }
        r = apply(op, cmp_numbers(actual, value));
    } else if (strcmp(type, "string") == 0) {
        if (!json_is_string(actual)) {
            reason = "type_mismatch";
            goto Exit;
        }
        int c = strcmp(json_string_value(actual), json_string_value(value));
        r = apply(op, c < 0 ? -1 : c > 0);
    } else if (strcmp(type, "money") == 0) {
        const json_t *amount = actual;
        const char *cur;
        if (json_is_object(actual)) {
            amount = json_object_get(actual, "amount");
            cur = json_string_value(json_object_get(actual, "currency"));
            if (cur == NULL)
                cur = json_string_value(json_object_get(actual, "currency_code"));
        } else
            cur = field_currency(node, payload);
        if (!json_is_integer(amount) || cur == NULL) {
            reason = "type_mismatch";
            goto Exit;
        }
        if (strcasecmp(cur, json_string_value(json_object_get(value, "currency"))) != 0) {
            reason = "currency_mismatch";
            goto Exit;
        }
        r = apply(op, cmp_i64(json_integer_value(amount), json_integer_value(json_object_get(value, "amount"))));
    } else { /* date */
        int64_t a, b;
        if (!json_is_string(actual) || !sq_time_parse(json_string_value(actual), &a)) {
            reason = "type_mismatch";
            goto Exit;
        }
        if (!date_value(json_string_value(value), now_us, &b)) {
            reason = "type_mismatch";
            goto Exit;
        }
        r = apply(op, cmp_i64(a, b));
    }
Exit:
    if (t != NULL && reason != NULL)
        json_object_set_new(t, "reason", json_string(reason));
    return r;
}

bool sq_expr_eval(const json_t *expr, const json_t *payload, int64_t now_us, const char *pointer, json_t *trace)
{
    if (expr == NULL || json_is_null(expr))
        return true;
    json_t *t = NULL;
    if (trace != NULL) {
        t = json_object();
        json_object_set_new(t, "at", json_string(pointer));
        json_array_append_new(trace, t);
    }
    bool r;
    char p[128];
    const json_t *sub;
    if ((sub = json_object_get(expr, "all")) != NULL || (sub = json_object_get(expr, "any")) != NULL) {
        bool all = json_object_get(expr, "all") != NULL;
        r = all;
        size_t i;
        const json_t *c;
        json_array_foreach(sub, i, c)
        {
            snprintf(p, sizeof(p), "%s/%s/%zu", pointer, all ? "all" : "any", i);
            bool x = sq_expr_eval(c, payload, now_us, p, trace);
            r = all ? (r && x) : (r || x);
        }
    } else if ((sub = json_object_get(expr, "not")) != NULL) {
        snprintf(p, sizeof(p), "%s/not", pointer);
        r = !sq_expr_eval(sub, payload, now_us, p, trace);
    } else
        r = eval_compare(expr, payload, now_us, t);
    if (t != NULL)
        json_object_set_new(t, "result", json_boolean(r));
    return r;
}

/* ---- the event catalogue ------------------------------------------------------------------------------------- */

/* x-events of the embedded OpenAPI document: its types, and the patterns of its families (plugin.<plugin>.<type>);
 * read-only after the first call */
#define MAX_FAMILIES 8
static json_t *catalogue;
static regex_t families[MAX_FAMILIES];
static int nfamilies;
static pthread_once_t catalogue_once = PTHREAD_ONCE_INIT;

static void catalogue_load(void)
{
    json_error_t e;
    json_t *doc = json_loadb(sq_openapi_json.data, sq_openapi_json.len, 0, &e);
    json_t *types = json_object_get(json_object_get(doc, "x-events"), "types");
    catalogue = types != NULL ? json_incref(types) : json_object();
    const char *name;
    json_t *f;
    json_object_foreach(json_object_get(json_object_get(doc, "x-events"), "families"), name, f)
    {
        const char *pattern = json_string_value(json_object_get(f, "pattern"));
        if (pattern == NULL || json_is_true(json_object_get(f, "sensitive")) || nfamilies == MAX_FAMILIES)
            continue;
        if (regcomp(&families[nfamilies], pattern, REG_EXTENDED | REG_NOSUB) == 0)
            nfamilies++;
    }
    json_decref(doc);
}

bool sq_automation_event_known(const char *type)
{
    pthread_once(&catalogue_once, catalogue_load);
    json_t *e = json_object_get(catalogue, type);
    if (e != NULL)
        return !json_is_true(json_object_get(e, "sensitive"));
    for (int i = 0; type != NULL && i < nfamilies; i++)
        if (regexec(&families[i], type, 0, NULL, 0) == 0)
            return true;
    return false;
}

/* ---- rule bodies ------------------------------------------------------------------------------------------- */

const sq_action_def_t *sq_automation_action(const char *type)
{
    for (const sq_action_def_t *d = sq_automation_actions; type != NULL && d->type != NULL; d++)
        if (strcmp(d->type, type) == 0)
            return d;
    return NULL;
}

static void check_trigger(const json_t *t, sq_err_t *err)
{
    const char *key;
    const json_t *v;
    if (!json_is_object(t)) {
        sq_err_field(err, "/trigger", "invalid_type",
                     "{\"type\": \"event\", \"event\": ...} or {\"type\": \"schedule\", \"schedule\": ...}");
        return;
    }
    const char *type = json_string_value(json_object_get(t, "type"));
    if (type == NULL || (strcmp(type, "event") != 0 && strcmp(type, "schedule") != 0)) {
        sq_err_field(err, "/trigger/type", json_object_get(t, "type") ? "invalid_value" : "required", "type is event or schedule");
        return;
    }
    json_object_foreach((json_t *)t, key, v)
    {
        if (strcmp(key, "type") != 0 && strcmp(key, type) != 0) {
            char p[96];
            snprintf(p, sizeof(p), "/trigger/%s", key);
            sq_err_field(err, p, "unknown_field", "an %s trigger takes type and %s only", type, type);
            return;
        }
    }
    const json_t *x = json_object_get(t, type);
    char p[64];
    snprintf(p, sizeof(p), "/trigger/%s", type);
    if (x == NULL) {
        sq_err_field(err, p, "required", "an %s trigger names its %s", type, type);
        return;
    }
    if (!json_is_string(x) || json_string_length(x) > 128) {
        sq_err_field(err, p, "invalid_type", "must be a string of at most 128 characters");
        return;
    }
    if (strcmp(type, "event") == 0) {
        if (!sq_automation_event_known(json_string_value(x)))
            sq_err_field(err, p, "invalid_value", "is not an event type of the catalogue (openapi x-events) rules can react to");
        return;
    }
    sq_schedule_spec_t spec;
    const char *why;
    if (sq_schedule_parse(json_string_value(x), &spec, &why) != 0)
        sq_err_field(err, p, "invalid_format", "%s", why);
}

static void check_actions(const json_t *list, sq_err_t *err)
{
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > SQ_RULE_MAX_ACTIONS) {
        sq_err_field(err, "/actions", "invalid_type", "actions is an array of 1 to %d actions, run in order", SQ_RULE_MAX_ACTIONS);
        return;
    }
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a)
    {
        char p[96];
        snprintf(p, sizeof(p), "/actions/%zu", i);
        if (!json_is_object(a)) {
            sq_err_field(err, p, "invalid_type", "an action is an object: {\"type\": ..., \"params\": {...}}");
            continue;
        }
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)a, key, v)
        {
            if (strcmp(key, "type") != 0 && strcmp(key, "params") != 0) {
                snprintf(p, sizeof(p), "/actions/%zu/%s", i, key);
                sq_err_field(err, p, "unknown_field", "an action has type and params only");
            }
        }
        const json_t *type = json_object_get(a, "type");
        const sq_action_def_t *d = sq_automation_action(json_string_value(type));
        snprintf(p, sizeof(p), "/actions/%zu/type", i);
        if (type == NULL) {
            sq_err_field(err, p, "required", "an action names its type");
            continue;
        }
        if (d == NULL) {
            sq_err_field(err, p, "invalid_value", "is not an action Souq knows (see the action registry in the README)");
            continue;
        }
        const json_t *params = json_object_get(a, "params");
        snprintf(p, sizeof(p), "/actions/%zu/params", i);
        if (params != NULL && !json_is_object(params)) {
            sq_err_field(err, p, "invalid_type", "params is an object");
            continue;
        }
        d->validate(params, p, err);
    }
}

static int rule_check(const json_t *body, bool create, sq_err_t *err)
{
    (void)create;
    const json_t *t = json_object_get(body, "trigger");
    if (t != NULL)
        check_trigger(t, err);
    const json_t *c = json_object_get(body, "conditions");
    if (c != NULL && !json_is_null(c))
        sq_expr_validate(c, "/conditions", err);
    const json_t *a = json_object_get(body, "actions");
    if (a != NULL)
        check_actions(a, err);
    if (err->nfields > 0)
        return sq_err_set(err, SQ_E_VALIDATION, "Some fields of the rule are invalid; see errors.");
    return 0;
}

#define F SQ_VFIELD
#define RULE(req)                                                                                                                  \
    F("name", SQ_FT_STR, (req), 1, 200, NULL, NULL, NULL),                                                                         \
        F("description", SQ_FT_STR, SQ_F_NULLABLE | SQ_F_MULTILINE, 0, 1000, NULL, NULL, NULL),                                    \
        F("enabled", SQ_FT_BOOL, 0, 0, 0, NULL, NULL, NULL), F("trigger", SQ_FT_JSON, (req), 0, 0, NULL, NULL, NULL),              \
        F("conditions", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, NULL, NULL),                                                        \
        F("actions", SQ_FT_JSON, (req), 0, 0, NULL, NULL, NULL), F("max_attempts", SQ_FT_INT, 0, 1, 20, NULL, NULL, NULL),         \
        F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)

const sq_field_t sq_rule_create_fields[] = {RULE(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_rule_update_fields[] = {RULE(0), {NULL}};
const sq_field_t sq_dry_run_fields[] = {F("rule", SQ_FT_JSON, SQ_F_REQUIRED, 0, 0, NULL, NULL, NULL),
                                        F("event", SQ_FT_JSON, SQ_F_REQUIRED, 0, 0, NULL, NULL, NULL),
                                        {NULL}};
const sq_field_t sq_dry_run_saved_fields[] = {F("event", SQ_FT_JSON, SQ_F_REQUIRED, 0, 0, NULL, NULL, NULL), {NULL}};

int sq_automation_rule_check(const json_t *body, bool create, sq_err_t *err)
{
    return rule_check(body, create, err);
}

void sq_automation_rule_body(json_t *body)
{
    const json_t *t = json_object_get(body, "trigger");
    const char *spec = json_string_value(json_object_get(t, "schedule"));
    sq_schedule_spec_t ps;
    const char *why;
    if (spec == NULL || sq_schedule_parse(spec, &ps, &why) != 0)
        return;
    json_object_set_new(body, "_every_s", ps.every_s > 0 ? json_integer(ps.every_s) : json_null());
    json_object_set_new(body, "_daily_min", ps.daily_min >= 0 ? json_integer(ps.daily_min) : json_null());
}

const char *const sq_automation_run_states[] = {"pending", "running", "retrying", "succeeded", "skipped", "dead", "canceled", NULL};

/* ---- dry runs ----------------------------------------------------------------------------------------------- */

typedef struct {
    sq_ctx_t *cx;
    json_t *report, *actions; /* owned by the arena */
    json_t *plans;            /* plan per action (or null) */
    size_t next;
    sq_json_cb cb;
    void *data;
} dry_t;

static void dry_next(dry_t *d);

static void dry_end(dry_t *d)
{
    size_t len;
    d->cb(sq_json_dump(d->cx->arena, d->report, &len), NULL, d->data);
}

static void on_preview(const char *json, const sq_err_t *err, void *data)
{
    dry_t *d = data;
    json_t *a = json_array_get(d->actions, d->next - 1);
    if (err != NULL)
        json_object_set_new(a, "preview_error", json_string(err->detail));
    else {
        json_error_t e;
        json_t *p = json != NULL ? json_loads(json, 0, &e) : NULL;
        json_object_set_new(a, "preview", p != NULL ? p : json_null());
    }
    dry_next(d);
}

static void dry_next(dry_t *d)
{
    while (d->next < json_array_size(d->actions)) {
        size_t i = d->next++;
        json_t *a = json_array_get(d->actions, i);
        const sq_action_def_t *def = sq_automation_action(json_string_value(json_object_get(a, "type")));
        json_t *plan = json_array_get(d->plans, i);
        if (def != NULL && def->preview != NULL && json_is_object(plan)) {
            def->preview(d->cx, plan, on_preview, d);
            return;
        }
    }
    dry_end(d);
}

void sq_automation_dry_run(sq_ctx_t *cx, const json_t *rule, const json_t *event, sq_json_cb cb, void *data)
{
    dry_t *d = SQ_NEW(cx->arena, dry_t);
    d->cx = cx;
    d->cb = cb;
    d->data = data;
    d->report = sq_json_own(cx->arena, json_object());
    d->actions = json_array();
    d->plans = sq_json_own(cx->arena, json_array());
    const json_t *payload = json_object_get(event, "data");
    const char *etype = json_string_value(json_object_get(event, "type"));
    const json_t *trigger = json_object_get(rule, "trigger");
    const char *want = json_string_value(json_object_get(trigger, "event"));
    bool trig = want == NULL || etype == NULL || strcmp(want, etype) == 0;
    json_t *trace = json_array();
    bool matched = sq_expr_eval(json_object_get(rule, "conditions"), payload, sq_now_us(), "/conditions", trace);
    json_object_set_new(d->report, "object", json_string("automation_dry_run"));
    json_object_set_new(d->report, "trigger_matches", json_boolean(trig));
    json_object_set_new(d->report, "matched", json_boolean(matched));
    json_object_set_new(d->report, "would_run", json_boolean(trig && matched));
    json_object_set_new(d->report, "conditions", trace);
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(rule, "actions"), i, a)
    {
        const char *type = json_string_value(json_object_get(a, "type"));
        const sq_action_def_t *def = sq_automation_action(type);
        json_t *out = json_object();
        json_object_set_new(out, "index", json_integer((json_int_t)i));
        json_object_set_new(out, "type", json_string(type != NULL ? type : ""));
        json_object_set_new(out, "would_run", json_boolean(trig && matched && def != NULL));
        sq_err_t e;
        sq_err_clear(&e);
        json_t *plan = def != NULL ? def->plan(json_object_get(a, "params"), payload, etype, &e) : NULL;
        if (def == NULL)
            sq_err_set(&e, SQ_E_VALIDATION, "No action of this type is registered.");
        json_object_set_new(out, "external", json_boolean(def != NULL && def->external));
        json_object_set_new(out, "plan", plan != NULL ? json_incref(plan) : json_null());
        json_object_set_new(out, "error", plan != NULL ? json_null() : json_string(e.detail));
        json_array_append_new(d->plans, plan != NULL ? plan : json_null());
        json_array_append_new(d->actions, out);
    }
    json_object_set_new(d->report, "actions", d->actions);
    json_object_set_new(d->report, "changes_made", json_false());
    dry_next(d);
}

/* ---- the engine: one run per automation.run job ------------------------------------------------------------------ */

/* this node's run outcomes for /metrics (any thread writes, /metrics reads) */
static struct {
    uint64_t succeeded, skipped, failed_attempts, dead, actions;
} g;
#define COUNT(x) __atomic_add_fetch(&g.x, 1, __ATOMIC_RELAXED)

char *sq_automation_metrics(sq_arena_t *a)
{
#define U(x) (unsigned long long)__atomic_load_n(&g.x, __ATOMIC_RELAXED)
    return sq_arena_printf(
        a,
        "# HELP souq_automation_runs_total Automation runs this node finished, by outcome, and failed attempts.\n"
        "# TYPE souq_automation_runs_total counter\n"
        "souq_automation_runs_total{outcome=\"succeeded\"} %llu\nsouq_automation_runs_total{outcome=\"skipped\"} %llu\n"
        "souq_automation_runs_total{outcome=\"dead\"} %llu\nsouq_automation_runs_total{outcome=\"failed_attempt\"} %llu\n"
        "# HELP souq_automation_actions_total Automation actions this node performed.\n"
        "# TYPE souq_automation_actions_total counter\nsouq_automation_actions_total %llu\n",
        U(succeeded), U(skipped), U(dead), U(failed_attempts), U(actions));
#undef U
}

typedef struct {
    sq_ctx_t *cx;
    const sq_job_row_t *job;
    sq_job_done_cb done;
    void *data;
    const char *run_id;
    json_t *run; /* owned by the arena */
    int step, n;
    const sq_action_def_t *def;
    sq_action_run_t ar;
} runner_t;

static void next_action(runner_t *rn);

static void end(runner_t *rn, const sq_err_t *err, bool discard)
{
    rn->done(err, discard, rn->data);
}

static void on_db_done(const char *json, const sq_err_t *err, void *data)
{
    runner_t *rn = data;
    if (err == NULL && json != NULL && strcmp(json, "succeeded") == 0)
        COUNT(succeeded);
    end(rn, err != NULL && err->code != SQ_E_NOT_FOUND ? err : NULL, false);
}

typedef struct {
    runner_t *rn;
    sq_err_t err;
    bool permanent;
} fail_t;

static void on_failed(const char *json, const sq_err_t *err, void *data)
{
    fail_t *f = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) { /* the run is no longer active (canceled): nothing to retry */
        end(f->rn, &f->err, true);
        return;
    }
    if (err != NULL) { /* not recorded: the job retries, and the run's step tells where to go on */
        end(f->rn, err, false);
        return;
    }
    bool dead = json != NULL && strstr(json, "dead") != NULL;
    COUNT(failed_attempts);
    if (dead)
        COUNT(dead);
    end(f->rn, &f->err, f->permanent || dead);
}

static void fail(runner_t *rn, int step, const char *type, const sq_err_t *err, bool permanent)
{
    fail_t *f = SQ_NEW(rn->cx->arena, fail_t);
    f->rn = rn;
    sq_err_copy(&f->err, err);
    f->permanent = permanent;
    sq_log(SQ_LOG_INFO, "automation", "run %s action %d (%s) attempt %d failed%s: %s (%s)", rn->run_id, step, type,
           rn->job->attempt, permanent ? " for good" : "", err->detail, err->internal);
    sq_automation_db_fail(rn->cx, rn->run_id, rn->job->attempt, step, type, err->detail, permanent, on_failed, f);
}

static void on_step_recorded(const char *json, const sq_err_t *err, void *data)
{
    runner_t *rn = data;
    (void)json;
    if (err != NULL) {
        end(rn, err, false);
        return;
    }
    rn->step++;
    next_action(rn);
}

static void on_action(sq_action_run_t *ar, json_t *result, const sq_err_t *err, bool permanent)
{
    runner_t *rn = ar->data;
    if (err != NULL) {
        fail(rn, rn->step, rn->def->type, err, permanent);
        return;
    }
    COUNT(actions);
    if (!rn->def->external) { /* the action's own transaction recorded the step */
        rn->step++;
        next_action(rn);
        return;
    }
    size_t len;
    const char *res = result != NULL ? sq_json_dump(rn->cx->arena, result, &len) : "{}";
    sq_automation_db_step_done(rn->cx, rn->run_id, rn->step, rn->def->type, res, on_step_recorded, rn);
}

static void next_action(runner_t *rn)
{
    if (rn->step >= rn->n) {
        sq_automation_db_finish(rn->cx, rn->run_id, on_db_done, rn);
        return;
    }
    json_t *a = json_array_get(json_object_get(rn->run, "actions"), (size_t)rn->step);
    const char *type = json_string_value(json_object_get(a, "type"));
    rn->def = sq_automation_action(type);
    sq_err_t e;
    sq_err_clear(&e);
    if (rn->def == NULL) {
        sq_err_set(&e, SQ_E_VALIDATION, "No action of type %s is registered on this node.", type ? type : "(none)");
        fail(rn, rn->step, type ? type : "", &e, true);
        return;
    }
    const json_t *payload = json_object_get(rn->run, "payload");
    const char *etype = json_string_value(json_object_get(rn->run, "event_type"));
    json_t *plan = rn->def->plan(json_object_get(a, "params"), payload, etype, &e);
    if (plan == NULL) {
        fail(rn, rn->step, type, &e, true);
        return;
    }
    sq_json_own(rn->cx->arena, plan);
    sq_action_run_t *ar = &rn->ar;
    memset(ar, 0, sizeof(*ar));
    ar->cx = rn->cx;
    ar->run_id = rn->run_id;
    ar->rule_id = json_string_value(json_object_get(rn->run, "rule_id"));
    ar->trigger_key = json_string_value(json_object_get(rn->run, "trigger_key"));
    ar->event_type = etype;
    ar->index = rn->step;
    ar->attempt = rn->job->attempt;
    ar->params = json_object_get(a, "params");
    ar->payload = payload;
    ar->plan = plan;
    ar->idempotency_key = sq_arena_printf(rn->cx->arena, "%s.%d", rn->run_id, rn->step);
    /* the webhook delivery timeouts (jobs_lease_ms must exceed webhook_timeout_ms: api/config.c) */
    const sq_jobs_settings_t *js = rn->job->settings;
    ar->http_connect_timeout_ms = js != NULL && js->http_connect_timeout_ms > 0 ? js->http_connect_timeout_ms : 2000;
    ar->http_timeout_ms = js != NULL && js->http_timeout_ms > 0 ? js->http_timeout_ms : 10000;
    ar->done = on_action;
    ar->data = rn;
    rn->def->run(ar);
}

static void on_matched(const char *json, const sq_err_t *err, void *data)
{
    runner_t *rn = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) { /* another attempt decided meanwhile: the next one reads it */
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_CONFLICT, "The run's conditions were evaluated by another attempt meanwhile.");
        end(rn, &e, false);
        return;
    }
    if (err != NULL) {
        end(rn, err, false);
        return;
    }
    if (strstr(json, "skipped") != NULL) { /* the conditions do not hold */
        COUNT(skipped);
        end(rn, NULL, false);
        return;
    }
    next_action(rn);
}

static void on_begin(const char *json, const sq_err_t *err, void *data)
{
    runner_t *rn = data;
    if (err != NULL && err->code == SQ_E_NOT_FOUND) {
        end(rn, NULL, false); /* the rule was deleted with its runs */
        return;
    }
    if (err != NULL || json == NULL) {
        end(rn, err, false);
        return;
    }
    json_error_t je;
    rn->run = sq_json_own(rn->cx->arena, json_loads(json, 0, &je));
    const char *state = json_string_value(json_object_get(rn->run, "state"));
    if (state != NULL && strcmp(state, "dead") == 0) {
        /* an attempt that killed the run lost its lease before it recorded its job (0041): the job ends as the run did,
         * discarded, so staff can still retry it by hand */
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_CONFLICT, "The run is dead: an earlier attempt failed for good.");
        end(rn, &e, true);
        return;
    }
    if (state == NULL || strcmp(state, "running") != 0) { /* finished before, or canceled: nothing to do */
        end(rn, NULL, false);
        return;
    }
    rn->step = (int)json_integer_value(json_object_get(rn->run, "step"));
    rn->n = (int)json_array_size(json_object_get(rn->run, "actions"));
    const json_t *matched = json_object_get(rn->run, "matched");
    if (json_is_boolean(matched)) {
        if (json_is_false(matched))
            end(rn, NULL, false);
        else
            next_action(rn);
        return;
    }
    json_t *trace = sq_json_own(rn->cx->arena, json_array());
    bool m = sq_expr_eval(json_object_get(rn->run, "conditions"), json_object_get(rn->run, "payload"), sq_now_us(), "/conditions",
                          trace);
    size_t len;
    sq_automation_db_match(rn->cx, rn->run_id, m, sq_json_dump(rn->cx->arena, trace, &len), on_matched, rn);
}

static void job_run(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    runner_t *rn = SQ_NEW(cx->arena, runner_t);
    rn->cx = cx;
    rn->job = job;
    rn->done = done;
    rn->data = data;
    rn->run_id = json_string_value(json_object_get(job->payload, "run_id"));
    if (rn->run_id == NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_VALIDATION, "automation.run job without a run_id");
        done(&e, true, data);
        return;
    }
    sq_automation_db_begin(cx, rn->run_id, job->attempt, on_begin, rn);
}

typedef struct {
    sq_job_done_cb done;
    void *data;
} fire_t;

static void on_fired(const char *json, const sq_err_t *err, void *data)
{
    fire_t *f = data;
    (void)json;
    f->done(err != NULL && err->code != SQ_E_NOT_FOUND ? err : NULL, false, f->data);
}

static void job_schedule(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    fire_t *f = SQ_NEW(cx->arena, fire_t);
    f->done = done;
    f->data = data;
    const char *rule = json_string_value(json_object_get(job->payload, "rule_id"));
    if (rule == NULL) {
        done(NULL, false, data);
        return;
    }
    sq_automation_db_fire(cx, rule, job->id, on_fired, f);
}

#define RUN_RETENTION_DAYS 90

static void on_retention(const char *json, const sq_err_t *err, void *data)
{
    fire_t *f = data;
    if (err == NULL && json != NULL && strcmp(json, "0") != 0)
        sq_log(SQ_LOG_INFO, "automation", "retention: %s finished run(s) older than %d days deleted", json, RUN_RETENTION_DAYS);
    f->done(err, false, f->data);
}

/* automation.retention: finished runs go after RUN_RETENTION_DAYS (a daily built-in schedule, migration 0032) */
static void job_retention(sq_ctx_t *cx, const sq_job_row_t *job, sq_job_done_cb done, void *data)
{
    (void)job;
    fire_t *f = SQ_NEW(cx->arena, fire_t);
    f->done = done;
    f->data = data;
    sq_automation_db_retention(cx, RUN_RETENTION_DAYS, on_retention, f);
}

void sq_automation_register_jobs(void)
{
    sq_jobs_register("automation.run", job_run);
    sq_jobs_register("automation.schedule", job_schedule);
    sq_jobs_register("automation.retention", job_retention);
}
