/* dynprice.c: the rules of dynamic pricing (money, time windows) and the input rules of its admin resources (their
 * SQL is in dynprice_db.c; migrations/0035_dynamic_pricing.sql mirrors sq_price_adjust and sq_price_window_holds). */
#include "core/dynprice.h"

#include <string.h>

/* ---- money and time ------------------------------------------------------------------------------------------- */

int64_t sq_price_adjust(int64_t amount, bool percent, int64_t value, int64_t floor, int64_t ceiling)
{
    int64_t adj;
    if (percent) {
        /* amount * (10000 + value) / 10000, half away from zero, in 128 bits (no overflow for any bigint amount) */
        __int128 num = (__int128)amount * (10000 + value);
        __int128 q = num / 10000, r = num % 10000;
        if (r < 0)
            r = -r;
        if (r * 2 >= 10000)
            q += num < 0 ? -1 : 1;
        adj = q > INT64_MAX ? INT64_MAX : q < INT64_MIN ? INT64_MIN : (int64_t)q;
    } else {
        adj = __builtin_add_overflow(amount, value, &adj) ? (value > 0 ? INT64_MAX : INT64_MIN) : adj;
    }
    int64_t out = amount;
    if (adj < amount) {
        out = adj > floor ? adj : floor;
        if (out > amount)
            out = amount;
    } else if (adj > amount) {
        out = adj < ceiling ? adj : ceiling;
        if (out < amount)
            out = amount;
    }
    return out < 0 ? 0 : out;
}

bool sq_price_window_holds(int days, int start_min, int end_min, int64_t t_us)
{
    int64_t s = t_us / 1000000;
    if (t_us < 0 && t_us % 1000000 != 0)
        s--;
    int64_t day = s / 86400, sec = s % 86400;
    if (sec < 0) {
        sec += 86400;
        day--;
    }
    int m = (int)(sec / 60);
    int dow = (int)(((day % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday: 0 = Monday */
    int prev = (dow + 6) % 7;
    if (start_min < end_min)
        return (days & (1 << dow)) != 0 && m >= start_min && m < end_min;
    return ((days & (1 << dow)) != 0 && m >= start_min) || ((days & (1 << prev)) != 0 && m < end_min);
}

int sq_hhmm_parse(const char *s)
{
    if (s == NULL || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return -1;
    return h * 60 + m;
}

/* ---- input rules ------------------------------------------------------------------------------------------------ */

#define F SQ_VFIELD
#define META F("metadata", SQ_FT_JSON, SQ_F_NULLABLE, 0, 0, NULL, sq_check_metadata, NULL)

static const char *check_hhmm(const json_t *v, const char **code)
{
    *code = "invalid_format";
    return sq_hhmm_parse(json_string_value(v)) < 0 ? "must be a UTC time of day as HH:MM (00:00..23:59)" : NULL;
}

static const json_t *get(const json_t *o, const char *k)
{
    return json_is_object(o) ? json_object_get(o, k) : NULL;
}

/* ---- scheduled price changes ---- */

static const sq_field_t schedule_item[] = {
    F("variant_id", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_id, NULL),
    F("currency_code", SQ_FT_STR, SQ_F_REQUIRED, 3, 3, NULL, sq_check_currency, NULL),
    F("amount", SQ_FT_INT, SQ_F_REQUIRED, 0, SQ_PRICE_MAX_AMOUNT, NULL, NULL, NULL),
    F("min_quantity", SQ_FT_INT, 0, 1, 1000000, NULL, NULL, NULL),
    {NULL},
};

const sq_field_t sq_price_schedule_create_fields[] = {
    F("title", SQ_FT_STR, 0, 1, 256, NULL, NULL, NULL),
    F("price_list_id", SQ_FT_STR, SQ_F_NULLABLE, 1, 40, NULL, sq_check_id, NULL),
    F("items", SQ_FT_OBJECT_ARRAY, SQ_F_REQUIRED, 1, SQ_PRICE_SCHEDULE_MAX_ITEMS, NULL, NULL, schedule_item),
    F("apply_at", SQ_FT_STR, SQ_F_REQUIRED, 1, 40, NULL, sq_check_timestamp, NULL),
    F("revert_at", SQ_FT_STR, SQ_F_NULLABLE, 1, 40, NULL, sq_check_timestamp, NULL),
    META,
    {NULL},
};

/* ---- pricing rules ---- */

static const char *const rule_status[] = {"active", "disabled", NULL};
static const char *const cond_types[] = {"stock_below", "time_window", NULL};
static const char *const adj_types[] = {"percent", "fixed", NULL};
static const char *const day_names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};

static const sq_field_t condition_fields[] = {
    F("type", SQ_FT_STR, SQ_F_REQUIRED, 1, 16, cond_types, NULL, NULL),
    F("threshold", SQ_FT_INT, 0, 1, 1000000000, NULL, NULL, NULL),
    F("days", SQ_FT_STR_ARRAY, 0, 1, 7, day_names, NULL, NULL),
    F("start", SQ_FT_STR, 0, 5, 5, NULL, check_hhmm, NULL),
    F("end", SQ_FT_STR, 0, 5, 5, NULL, check_hhmm, NULL),
    {NULL},
};

static const sq_field_t adjustment_fields[] = {
    F("type", SQ_FT_STR, SQ_F_REQUIRED, 1, 16, adj_types, NULL, NULL),
    F("value", SQ_FT_INT, SQ_F_REQUIRED, -SQ_PRICE_MAX_AMOUNT, SQ_PRICE_MAX_AMOUNT, NULL, NULL, NULL),
    {NULL},
};

#define RULE(req)                                                                                                                  \
    F("title", SQ_FT_STR, (req), 1, 256, NULL, NULL, NULL), F("status", SQ_FT_STR, 0, 1, 16, rule_status, NULL, NULL),             \
        F("priority", SQ_FT_INT, 0, -1000, 1000, NULL, NULL, NULL),                                                                \
        F("currency_code", SQ_FT_STR, (req), 3, 3, NULL, sq_check_currency, NULL),                                                 \
        F("condition", SQ_FT_OBJECT, (req), 0, 0, NULL, NULL, condition_fields),                                                   \
        F("adjustment", SQ_FT_OBJECT, (req), 0, 0, NULL, NULL, adjustment_fields),                                                 \
        F("floor_amount", SQ_FT_INT, (req), 0, SQ_PRICE_MAX_AMOUNT, NULL, NULL, NULL),                                             \
        F("ceiling_amount", SQ_FT_INT, (req), 0, SQ_PRICE_MAX_AMOUNT, NULL, NULL, NULL),                                           \
        F("variant_ids", SQ_FT_STR_ARRAY, (req), 1, SQ_PRICE_RULE_MAX_VARIANTS, NULL, sq_check_id, NULL), META

const sq_field_t sq_pricing_rule_create_fields[] = {RULE(SQ_F_REQUIRED), {NULL}};
const sq_field_t sq_pricing_rule_update_fields[] = {RULE(0), {NULL}};

/* Across fields: what each condition type needs and refuses, the percentage range, floor <= ceiling. */
int sq_pricing_rule_check(const json_t *b, bool create, sq_err_t *err)
{
    (void)create;
    int bad = 0;
    const json_t *c = get(b, "condition");
    if (c != NULL) {
        const char *type = json_string_value(get(c, "type"));
        bool stock = type != NULL && strcmp(type, "stock_below") == 0;
        if (stock) {
            if (get(c, "threshold") == NULL)
                sq_err_field(err, "/condition/threshold", "required", "A stock_below condition needs a threshold."), bad++;
            static const char *const not_stock[][2] = {
                {"days", "/condition/days"}, {"start", "/condition/start"}, {"end", "/condition/end"}};
            for (int i = 0; i < 3; i++)
                if (get(c, not_stock[i][0]) != NULL)
                    sq_err_field(err, not_stock[i][1], "not_allowed", "Only a time_window condition has %s.", not_stock[i][0]),
                        bad++;
        } else {
            if (get(c, "threshold") != NULL)
                sq_err_field(err, "/condition/threshold", "not_allowed", "Only a stock_below condition has a threshold."), bad++;
            if (get(c, "start") == NULL)
                sq_err_field(err, "/condition/start", "required", "A time_window condition needs a start (HH:MM, UTC)."), bad++;
            if (get(c, "end") == NULL)
                sq_err_field(err, "/condition/end", "required", "A time_window condition needs an end (HH:MM, UTC)."), bad++;
            int s = sq_hhmm_parse(json_string_value(get(c, "start"))), e = sq_hhmm_parse(json_string_value(get(c, "end")));
            if (s >= 0 && s == e)
                sq_err_field(err, "/condition/end", "invalid_value", "end must differ from start."), bad++;
        }
    }
    const json_t *a = get(b, "adjustment");
    if (a != NULL) {
        const char *type = json_string_value(get(a, "type"));
        json_int_t v = json_integer_value(get(a, "value"));
        if (type != NULL && strcmp(type, "percent") == 0 && (v < -10000 || v > 100000))
            sq_err_field(err, "/adjustment/value", "out_of_range",
                         "A percent adjustment is in basis points from -10000 (-100%%) to 100000 (+1000%%)."),
                bad++;
        if (json_is_integer(get(a, "value")) && v == 0)
            sq_err_field(err, "/adjustment/value", "invalid_value", "An adjustment of zero changes nothing."), bad++;
    }
    const json_t *fl = get(b, "floor_amount"), *ce = get(b, "ceiling_amount");
    if (json_is_integer(fl) && json_is_integer(ce) && json_integer_value(ce) < json_integer_value(fl))
        sq_err_field(err, "/ceiling_amount", "invalid_value", "ceiling_amount must not be below floor_amount."), bad++;
    return bad > 0 ? -1 : 0;
}
