/* Unit tests of core/automation.c and core/automation_actions.c: the expression language (validation with pointers,
 * evaluation on numbers, strings, money and dates, traces), JSON pointers, time parsing, rule bodies, the registry and
 * each action's parameter rules and plans. */
#include <stdint.h>
#include <string.h>

#include "core/automation.h"
#include "tests/unit/check.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fprintf(stderr, "bad test JSON: %s (%s)\n", text, e.text);
    return j;
}

/* the pointer of the first field error when validation fails, or "" */
static const char *first_error(const char *expr)
{
    static char out[96];
    sq_err_t err;
    sq_err_clear(&err);
    json_t *j = J(expr);
    int r = sq_expr_validate(j, "/conditions", &err);
    json_decref(j);
    snprintf(out, sizeof(out), "%s", r == 0 ? "" : err.fields[0].pointer);
    return out;
}

static bool eval(const char *expr, const char *payload)
{
    json_t *e = J(expr), *p = J(payload);
    bool r = sq_expr_eval(e, p, 1700000000000000LL, "/conditions", NULL);
    json_decref(e);
    json_decref(p);
    return r;
}

static void test_validate(void)
{
    CHECK_STR(first_error("{\"field\": \"/total\", \"op\": \"gt\", \"value\": 5}"), "");
    CHECK_STR(first_error("{\"all\": [{\"field\": \"/a\", \"op\": \"exists\"}, {\"not\": {\"field\": \"/b\", \"op\": \"in\", "
                          "\"value\": [1, 2]}}]}"),
              "");
    CHECK_STR(first_error("{\"field\": \"/t\", \"op\": \"gte\", \"value\": {\"amount\": 100, \"currency\": \"EUR\"}}"), "");
    CHECK_STR(first_error("{\"field\": \"/at\", \"op\": \"lt\", \"value\": \"now-7d\", \"type\": \"date\"}"), "");
    CHECK_STR(first_error("{\"field\": \"/at\", \"op\": \"lt\", \"value\": \"2026-01-01\", \"type\": \"date\"}"), "");
    CHECK_STR(first_error("{\"field\": \"/total\", \"op\": \"gt\"}"), "/conditions/value");
    CHECK_STR(first_error("{\"field\": \"total\", \"op\": \"gt\", \"value\": 1}"), "/conditions/field");
    CHECK_STR(first_error("{\"op\": \"gt\", \"value\": 1}"), "/conditions/field");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"like\", \"value\": 1}"), "/conditions/op");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"eq\", \"value\": 1, \"type\": \"float\"}"), "/conditions/type");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"eq\", \"value\": 1, \"x\": 1}"), "/conditions/x");
    CHECK_STR(first_error("{\"all\": [{\"field\": \"/a\", \"op\": \"exists\"}, {\"any\": [{\"field\": \"/b\", \"op\": \"in\", "
                          "\"value\": [\"a\", 1]}]}]}"),
              "/conditions/all/1/any/0/value/1");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"in\", \"value\": []}"), "/conditions/value");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"in\", \"value\": [{\"amount\": 1, \"currency\": \"eur\"}]}"),
              "/conditions/value");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"exists\", \"value\": 1}"), "/conditions/value");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"eq\", \"value\": {\"amount\": 1.5, \"currency\": \"eur\"}}"),
              "/conditions/value");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"eq\", \"value\": {\"amount\": 1, \"currency\": \"xxx\"}}"),
              "/conditions/value");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"eq\", \"value\": \"soon\", \"type\": \"date\"}"), "/conditions/value");
    CHECK_STR(first_error("{\"field\": \"/a\", \"op\": \"eq\", \"value\": 1, \"currency_field\": \"/c\"}"),
              "/conditions/currency_field");
    CHECK_STR(first_error("{\"all\": []}"), "/conditions/all");
    CHECK_STR(first_error("{\"all\": [1]}"), "/conditions/all/0");
    CHECK_STR(first_error("{\"not\": {\"field\": \"/a\", \"op\": \"exists\"}, \"all\": []}"), "/conditions");
    CHECK_STR(first_error("[1]"), "/conditions");
    CHECK_STR(first_error("{\"field\": \"/a~2\", \"op\": \"exists\"}"), "/conditions/field");
    /* limits: depth and size */
    char deep[1024] = "";
    for (int i = 0; i < 12; i++)
        strcat(deep, "{\"not\": ");
    strcat(deep, "{\"field\": \"/a\", \"op\": \"exists\"}");
    for (int i = 0; i < 12; i++)
        strcat(deep, "}");
    CHECK_CONTAINS(first_error(deep), "/not/not/not/not/not/not/not");
    char wide[16384] = "{\"any\": [";
    for (int i = 0; i < 20; i++) {
        strcat(wide, i ? "," : "");
        strcat(wide, "{\"all\": [{\"field\": \"/a\", \"op\": \"exists\"}, {\"field\": \"/b\", \"op\": \"exists\"}, {\"field\": "
                     "\"/c\", \"op\": \"exists\"}, "
                     "{\"field\": \"/d\", \"op\": \"exists\"}, {\"field\": \"/e\", \"op\": \"exists\"}]}");
    }
    strcat(wide, "]}");
    CHECK(strlen(first_error(wide)) > 0); /* 121 nodes: too large */
}

static void test_eval(void)
{
    const char *order =
        "{\"total\": 6000, \"currency_code\": \"eur\", \"email\": \"a@b.c\", \"tags\": [\"x\"], \"ratio\": 0.5,"
        "\"money\": {\"amount\": 300, \"currency\": \"USD\"}, \"placed_at\": \"2023-11-14T22:13:20Z\", \"nested\": {\"a/b\": 1}}";
    CHECK(eval("{\"field\": \"/total\", \"op\": \"gte\", \"value\": 5000}", order));
    CHECK(!eval("{\"field\": \"/total\", \"op\": \"lt\", \"value\": 5000}", order));
    CHECK(eval("{\"field\": \"/total\", \"op\": \"ne\", \"value\": 1}", order));
    CHECK(eval("{\"field\": \"/ratio\", \"op\": \"lt\", \"value\": 1}", order));
    CHECK(eval("{\"field\": \"/email\", \"op\": \"eq\", \"value\": \"a@b.c\"}", order));
    CHECK(eval("{\"field\": \"/email\", \"op\": \"gt\", \"value\": \"a\"}", order));
    CHECK(eval("{\"field\": \"/currency_code\", \"op\": \"in\", \"value\": [\"usd\", \"eur\"]}", order));
    CHECK(!eval("{\"field\": \"/currency_code\", \"op\": \"in\", \"value\": [\"usd\"]}", order));
    CHECK(eval("{\"field\": \"/tags/0\", \"op\": \"eq\", \"value\": \"x\"}", order));
    CHECK(eval("{\"field\": \"/nested/a~1b\", \"op\": \"eq\", \"value\": 1}", order));
    /* type mismatches and missing fields are false, in both directions */
    CHECK(!eval("{\"field\": \"/email\", \"op\": \"gt\", \"value\": 1}", order));
    CHECK(!eval("{\"field\": \"/email\", \"op\": \"ne\", \"value\": 1}", order));
    CHECK(!eval("{\"field\": \"/missing\", \"op\": \"ne\", \"value\": 1}", order));
    CHECK(eval("{\"not\": {\"field\": \"/missing\", \"op\": \"exists\"}}", order));
    CHECK(eval("{\"field\": \"/email\", \"op\": \"exists\"}", order));
    /* money: a bare amount takes the sibling currency_code; an object carries its own; other currencies never compare */
    CHECK(eval("{\"field\": \"/total\", \"op\": \"gte\", \"value\": {\"amount\": 6000, \"currency\": \"EUR\"}}", order));
    CHECK(!eval("{\"field\": \"/total\", \"op\": \"gt\", \"value\": {\"amount\": 6000, \"currency\": \"eur\"}}", order));
    CHECK(!eval("{\"field\": \"/total\", \"op\": \"gte\", \"value\": {\"amount\": 1, \"currency\": \"usd\"}}", order));
    CHECK(eval("{\"field\": \"/money\", \"op\": \"lt\", \"value\": {\"amount\": 301, \"currency\": \"usd\"}}", order));
    CHECK(eval("{\"field\": \"/total\", \"op\": \"eq\", \"value\": {\"amount\": 6000, \"currency\": \"usd\"}, \"currency_field\": "
               "\"/money/currency\"}",
               order));
    /* dates: absolute and relative to now (1700000000 = 2023-11-14T22:13:20Z) */
    CHECK(eval("{\"field\": \"/placed_at\", \"op\": \"eq\", \"value\": \"2023-11-14T23:13:20+01:00\", \"type\": \"date\"}", order));
    CHECK(eval("{\"field\": \"/placed_at\", \"op\": \"gte\", \"value\": \"2023-11-14\", \"type\": \"date\"}", order));
    CHECK(!eval("{\"field\": \"/placed_at\", \"op\": \"lt\", \"value\": \"now-1h\", \"type\": \"date\"}", order));
    CHECK(eval("{\"field\": \"/placed_at\", \"op\": \"gt\", \"value\": \"now-1h\", \"type\": \"date\"}", order));
    CHECK(eval("{\"field\": \"/placed_at\", \"op\": \"gte\", \"value\": \"now\", \"type\": \"date\"}", order));
    CHECK(eval("{\"field\": \"/placed_at\", \"op\": \"lt\", \"value\": \"now+1s\", \"type\": \"date\"}", order));
    CHECK(!eval("{\"field\": \"/email\", \"op\": \"lt\", \"value\": \"now\", \"type\": \"date\"}", order));
    /* groups */
    CHECK(eval("{\"all\": [{\"field\": \"/total\", \"op\": \"gt\", \"value\": 1}, {\"any\": [{\"field\": \"/x\", \"op\": "
               "\"exists\"}, {\"field\": \"/email\", \"op\": \"exists\"}]}]}",
               order));
    CHECK(!eval("{\"all\": [{\"field\": \"/total\", \"op\": \"gt\", \"value\": 1}, {\"field\": \"/x\", \"op\": \"exists\"}]}",
                order));
    CHECK(sq_expr_eval(NULL, NULL, 0, "/conditions", NULL));
    /* the trace: every node, with values and reasons */
    json_t *e = J("{\"any\": [{\"field\": \"/total\", \"op\": \"gt\", \"value\": {\"amount\": 1, \"currency\": \"usd\"}}, "
                  "{\"field\": \"/nope\", \"op\": \"eq\", \"value\": 1}]}");
    json_t *p = J(order), *trace = json_array();
    CHECK(!sq_expr_eval(e, p, 0, "/conditions", trace));
    CHECK_INT((int)json_array_size(trace), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(trace, 1), "at")), "/conditions/any/0");
    CHECK_STR(json_string_value(json_object_get(json_array_get(trace, 1), "reason")), "currency_mismatch");
    CHECK_INT((int)json_integer_value(json_object_get(json_array_get(trace, 1), "actual")), 6000);
    CHECK_STR(json_string_value(json_object_get(json_array_get(trace, 2), "reason")), "missing");
    CHECK(json_is_null(json_object_get(json_array_get(trace, 2), "actual")));
    json_decref(e);
    json_decref(p);
    json_decref(trace);
}

static void test_pointer_time(void)
{
    json_t *d = J("{\"a\": [10, {\"b\": 2}], \"\": 5, \"x~y\": 3}");
    CHECK(sq_json_pointer_get(d, "") == d);
    CHECK_INT((int)json_integer_value(sq_json_pointer_get(d, "/a/0")), 10);
    CHECK_INT((int)json_integer_value(sq_json_pointer_get(d, "/a/1/b")), 2);
    CHECK_INT((int)json_integer_value(sq_json_pointer_get(d, "/")), 5);
    CHECK_INT((int)json_integer_value(sq_json_pointer_get(d, "/x~0y")), 3);
    CHECK(sq_json_pointer_get(d, "/a/01") == NULL);
    CHECK(sq_json_pointer_get(d, "/a/2") == NULL);
    CHECK(sq_json_pointer_get(d, "/a/-") == NULL);
    CHECK(sq_json_pointer_get(d, "a") == NULL);
    json_decref(d);
    int64_t us;
    CHECK(sq_time_parse("2023-11-14T22:13:20Z", &us) && us == 1700000000000000LL);
    CHECK(sq_time_parse("2023-11-14T22:13:20.5+00:00", &us) && us == 1700000000500000LL);
    CHECK(sq_time_parse("2023-11-14T23:13:20.123456+01:00", &us) && us == 1700000000123456LL);
    CHECK(sq_time_parse("2023-11-14", &us) && us == 1699920000000000LL);
    CHECK(!sq_time_parse("2023-11-14T22:13:20", &us));
    CHECK(!sq_time_parse("2023-13-01", &us));
    CHECK(!sq_time_parse("yesterday", &us));
}

/* the first error pointer of a rule body, or "" */
static const char *rule_error(const char *body)
{
    static char out[96];
    sq_err_t err;
    sq_err_clear(&err);
    json_t *b = J(body);
    int r = sq_automation_rule_check(b, true, &err);
    json_decref(b);
    snprintf(out, sizeof(out), "%s", r == 0 ? "" : err.fields[0].pointer);
    return out;
}

static void test_rules_and_actions(void)
{
    /* every registry entry has its functions; types are unique */
    int n = 0;
    for (const sq_action_def_t *d = sq_automation_actions; d->type != NULL; d++, n++) {
        CHECK(d->validate != NULL && d->plan != NULL && d->run != NULL && d->summary != NULL);
        CHECK(sq_automation_action(d->type) == d);
    }
    CHECK_INT(n, 9);
    CHECK(sq_automation_action("send_fax") == NULL);
    CHECK(sq_automation_action("call_webhook")->external);
    CHECK(sq_automation_action("run_plugin_action")->external && !sq_automation_action("create_purchase_order")->external);
    CHECK(!sq_automation_action("adjust_price")->external);
    /* the catalogue: known, unknown, sensitive */
    CHECK(sq_automation_event_known("order.placed"));
    CHECK(sq_automation_event_known("automation.custom_event"));
    CHECK(!sq_automation_event_known("order.exploded"));
    CHECK(!sq_automation_event_known("customer.password_reset_requested"));
    /* families: a plugin's custom events (plugin.<plugin>.<type>) */
    CHECK(sq_automation_event_known("plugin.loyalty.points_earned"));
    CHECK(!sq_automation_event_known("plugin.Loyalty.points_earned"));
    CHECK(!sq_automation_event_known("plugin.loyalty"));
    /* rule bodies */
    CHECK_STR(rule_error("{\"trigger\": {\"type\": \"schedule\", \"schedule\": \"daily at 03:00\"}, \"actions\": [{\"type\": "
                         "\"emit_event\", \"params\": {\"name\": \"nightly\"}}]}"),
              "");
    CHECK_STR(rule_error("{\"trigger\": {\"type\": \"schedule\", \"schedule\": \"daily at 25:00\"}, \"actions\": []}"),
              "/trigger/schedule");
    CHECK_STR(rule_error("{\"trigger\": \"order.placed\"}"), "/trigger");
    CHECK_STR(rule_error("{\"actions\": [{\"type\": \"tag_order\", \"params\": {\"tags\": []}}]}"), "/actions/0/params/tags");
    CHECK_STR(rule_error("{\"actions\": [{\"type\": \"tag_order\", \"params\": {\"tags\": [\"-x\"]}}]}"),
              "/actions/0/params/tags/0");
    CHECK_STR(rule_error("{\"actions\": [{\"type\": \"tag_order\", \"params\": {\"tags\": [\"x\"], \"order_id\": \"order\"}}]}"),
              "/actions/0/params/order_id");
    CHECK_STR(rule_error("{\"actions\": [{\"type\": \"call_webhook\", \"params\": {\"webhook_id\": \"wh_1\"}}]}"),
              "/actions/0/params/webhook_id");
    CHECK_STR(rule_error("{\"actions\": [{\"type\": \"adjust_price\", \"params\": {\"variant_field\": \"/v\", \"currency_code\": "
                         "\"eur\", \"set\": 1, \"delta\": 2}}]}"),
              "/actions/0/params/set");
    CHECK_STR(rule_error("{\"actions\": [{\"type\": \"adjust_price\", \"params\": {\"variant_field\": \"/v\", \"currency_code\": "
                         "\"eur\", \"percent\": -20000}}]}"),
              "/actions/0/params/percent");
    CHECK_STR(rule_error("{\"actions\": [{\"type\": \"adjust_price\", \"params\": {\"currency_code\": \"eur\", \"set\": 1}}]}"),
              "/actions/0/params/variant_id");
    CHECK_STR(rule_error("{\"actions\": [{\"type\": \"emit_event\", \"params\": {\"name\": \"x\", \"data\": [1]}}]}"),
              "/actions/0/params/data");
    /* plans: ids from the event, templates filled, a missing target is an error */
    sq_err_t err;
    sq_err_clear(&err);
    json_t *params = J("{\"tags\": [\"vip\"]}"), *payload = J("{\"order_id\": \"order_1\", \"total\": 5}");
    json_t *plan = sq_automation_action("tag_customer")->plan(params, payload, "order.placed", &err);
    CHECK_STR(json_string_value(json_object_get(plan, "order_id")), "order_1");
    json_decref(plan);
    json_t *cust = J("{\"id\": \"cus_1\"}");
    plan = sq_automation_action("tag_customer")->plan(params, cust, "customer.created", &err);
    CHECK_STR(json_string_value(json_object_get(plan, "customer_id")), "cus_1");
    json_decref(plan);
    CHECK(sq_automation_action("tag_order")->plan(params, cust, "customer.created", &err) == NULL);
    CHECK_CONTAINS(err.detail, "no order");
    json_t *ep = J("{\"name\": \"n\", \"data\": {\"t\": {\"$field\": \"/total\"}, \"gone\": {\"$field\": \"/nope\"}, \"k\": [1, "
                   "{\"$field\": \"/order_id\"}]}}");
    plan = sq_automation_action("emit_event")->plan(ep, payload, "order.placed", &err);
    char *s = json_dumps(json_object_get(plan, "data"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(s, "{\"gone\":null,\"k\":[1,\"order_1\"],\"t\":5}");
    free(s);
    json_decref(plan);
    json_t *pp = J("{\"variant_field\": \"/order_id\", \"currency_code\": \"EUR\", \"delta\": 5}");
    plan = sq_automation_action("adjust_price")->plan(pp, payload, "order.placed", &err);
    CHECK_STR(json_string_value(json_object_get(plan, "variant_id")), "order_1");
    CHECK_STR(json_string_value(json_object_get(plan, "currency_code")), "eur");
    CHECK(json_is_null(json_object_get(plan, "price_list_id")));
    CHECK(json_object_get(plan, "variant_field") == NULL);
    json_decref(plan);
    json_decref(params);
    json_decref(payload);
    json_decref(cust);
    json_decref(ep);
    json_decref(pp);
}

int main(void)
{
    test_validate();
    test_eval();
    test_pointer_time();
    test_rules_and_actions();
    return check_done("automation");
}
