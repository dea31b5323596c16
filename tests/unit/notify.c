/* Unit tests of core/notify.c (kinds, rendering with escaped values, placeholder checks, the order's template
 * variables) and of plugins/host/notify.c (the manifest's "events", the published subscriptions, the notification
 * bridge's answers) through the real sandbox. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/log.h"
#include "core/notify.h"
#include "plugins/host/host.h"
#include "plugins/host/notify.h"
#include "tests/unit/check.h"

static json_t *vars_of(sq_arena_t *a, const char *json)
{
    sq_err_t e;
    sq_err_clear(&e);
    return sq_json_parse(a, json, strlen(json), &e);
}

static void test_render(sq_arena_t *a)
{
    json_t *v = vars_of(a, "{\"order.number\":\"1042\",\"customer.name\":\"<Ada & \\\"Bob\\\">\",\"x\":\"a\\nb\"}");
    CHECK_STR(sq_notify_render(a, "Order #{{order.number}}", v, false, true), "Order #1042");
    CHECK_STR(sq_notify_render(a, "Order #{{ order.number  }}!", v, false, true), "Order #1042!");
    CHECK_STR(sq_notify_render(a, "Hi {{customer.name}}", v, false, false), "Hi <Ada & \"Bob\">");
    CHECK_STR(sq_notify_render(a, "<p>{{customer.name}}</p>", v, true, false), "<p>&lt;Ada &amp; &quot;Bob&quot;&gt;</p>");
    CHECK_STR(sq_notify_render(a, "<a title='{{customer.name}}'>", v, true, false),
              "<a title='&lt;Ada &amp; &quot;Bob&quot;&gt;'>");
    CHECK_STR(sq_notify_render(a, "[{{x}}]", v, false, true), "[a b]");   /* subjects: one line */
    CHECK_STR(sq_notify_render(a, "[{{x}}]", v, false, false), "[a\nb]"); /* bodies keep it */
    CHECK_STR(sq_notify_render(a, "[{{missing}}]", v, false, false), "[]");
    CHECK_STR(sq_notify_render(a, "tail {{order.number", v, false, false), "tail {{order.number");
    CHECK_STR(sq_notify_render(a, "{{order.number}}{{order.number}}", v, false, false), "10421042");
    CHECK_STR(sq_notify_render(a, "no placeholders }} {", v, false, false), "no placeholders }} {");
    CHECK_STR(sq_notify_render(a, "", v, true, false), "");
    /* a value that looks like a placeholder is not expanded again */
    json_t *w = vars_of(a, "{\"customer.name\":\"{{order.number}}\",\"order.number\":\"7\"}");
    CHECK_STR(sq_notify_render(a, "{{customer.name}}", w, false, false), "{{order.number}}");
}

static void test_check(sq_arena_t *a)
{
    const sq_notify_kind_t *conf = sq_notify_kind("order_confirmation"), *ship = sq_notify_kind("order_shipped");
    CHECK(conf != NULL && ship != NULL && sq_notify_kind("nope") == NULL && sq_notify_kind(NULL) == NULL);
    const char *bad, *name;
    CHECK_INT(sq_notify_check(a, conf, "Order {{order.number}} for {{ customer.name }}", &bad, &name), 0);
    CHECK_INT(sq_notify_check(a, conf, "{{shipment.tracking_url}}", &bad, &name), -1);
    CHECK_STR(name, "shipment.tracking_url"); /* per kind */
    CHECK_INT(sq_notify_check(a, ship, "{{shipment.tracking_url}}", &bad, &name), 0);
    CHECK_INT(sq_notify_check(a, conf, "{{ Order.Number }}", &bad, &name), -1);
    CHECK_STR(name, "Order.Number");
    CHECK_INT(sq_notify_check(a, conf, "{{}}", &bad, &name), -1);
    CHECK_STR(name, "");
    CHECK_STR(bad, "Unknown placeholder.");
    CHECK_INT(sq_notify_check(a, conf, "ok {{order.number}} then {{order.total", &bad, &name), -1);
    CHECK_STR(bad, "A {{ is not closed by }}.");
    /* every built-in default passes its own kind's check, and the name list matches the table */
    int n = 0;
    for (const sq_notify_kind_t *k = sq_notify_kinds; k->kind != NULL; k++, n++) {
        CHECK_INT(sq_notify_check(a, k, k->subject, &bad, &name), 0);
        CHECK_INT(sq_notify_check(a, k, k->text, &bad, &name), 0);
        CHECK_INT(sq_notify_check(a, k, k->html, &bad, &name), 0);
        CHECK_STR(sq_notify_kind_names[n], k->kind);
    }
    CHECK_INT(n, 5);
    CHECK(sq_notify_kind_names[n] == NULL);
}

static void test_vars(sq_arena_t *a)
{
    json_t *d =
        vars_of(a, "{\"order_id\":\"order_1\",\"order_number\":1042,\"email\":\"b@example.com\",\"currency\":\"eur\","
                   "\"minor_units\":2,\"total\":2990,\"first_name\":\"Ada\",\"last_name\":\"L\","
                   "\"items\":[{\"title\":\"Mug\",\"variant_title\":\"Blue\",\"quantity\":2,\"total\":2500},"
                   "{\"title\":\"Tee\",\"variant_title\":null,\"quantity\":1,\"total\":490}],"
                   "\"carrier\":\"DHL\",\"tracking_number\":\"JD1\",\"tracking_url\":\"https://t.example/1?a=1&b=2\","
                   "\"tracking\":[{\"carrier\":\"DHL\",\"tracking_number\":\"JD1\",\"tracking_url\":\"https://t.example/1\"},"
                   "{\"carrier\":null,\"tracking_number\":\"Z9\",\"tracking_url\":\"ftp://x\"}],"
                   "\"refund_amount\":505,\"refund_reason\":\"other\"}");
    json_t *v = sq_notify_vars(a, d);
    CHECK_STR(json_string_value(json_object_get(v, "order.number")), "1042");
    CHECK_STR(json_string_value(json_object_get(v, "order.total")), "29.90 EUR");
    CHECK_STR(json_string_value(json_object_get(v, "order.currency")), "EUR");
    CHECK_STR(json_string_value(json_object_get(v, "order.items")), "2 x Mug (Blue)  25.00 EUR\n1 x Tee  4.90 EUR");
    CHECK_STR(json_string_value(json_object_get(v, "customer.name")), "Ada");
    CHECK_STR(json_string_value(json_object_get(v, "shipment.tracking_url")), "https://t.example/1?a=1&b=2");
    CHECK_STR(json_string_value(json_object_get(v, "refund.amount")), "5.05 EUR");
    CHECK_STR(json_string_value(json_object_get(v, "shipment.all")), "DHL JD1 https://t.example/1\nZ9");
    /* every placeholder of every kind has a value (possibly empty) */
    for (const sq_notify_kind_t *k = sq_notify_kinds; k->kind != NULL; k++)
        for (int i = 0; k->placeholders[i] != NULL; i++)
            CHECK(json_is_string(json_object_get(v, k->placeholders[i])));
    /* a currency without minor units, no first name, a tracking "URL" that is not a web link */
    json_t *e = vars_of(a, "{\"order_number\":7,\"currency\":\"jpy\",\"minor_units\":0,\"total\":1500,\"items\":[],"
                           "\"tracking_url\":\"javascript:alert(1)\",\"refund_amount\":null}");
    json_t *w = sq_notify_vars(a, e);
    CHECK_STR(json_string_value(json_object_get(w, "order.total")), "1500 JPY");
    CHECK_STR(json_string_value(json_object_get(w, "customer.name")), "there");
    CHECK_STR(json_string_value(json_object_get(w, "shipment.tracking_url")), "");
    CHECK_STR(json_string_value(json_object_get(w, "refund.amount")), "");
    CHECK_STR(json_string_value(json_object_get(w, "order.items")), "");
    CHECK_STR(json_string_value(json_object_get(w, "order.email")), "");
    /* password resets: the link with the token percent-encoded, the token never elsewhere */
    CHECK_STR(sq_notify_reset_url(a, "https://shop.example/reset?t={token}&x=1", "ab_c-9.~"),
              "https://shop.example/reset?t=ab_c-9.~&x=1");
    CHECK_STR(sq_notify_reset_url(a, "https://s.example/{token}/{token}", "a b/&"), "https://s.example/a%20b%2F%26/a%20b%2F%26");
    json_t *r = sq_notify_vars(a, vars_of(a, "{\"email\":\"c@example.com\",\"first_name\":null,\"token\":\"tok\","
                                             "\"expires_at\":\"2026-11-29T07:00:00+00:00\"}"));
    CHECK_STR(json_string_value(json_object_get(r, "customer.email")), "c@example.com");
    CHECK_STR(json_string_value(json_object_get(r, "reset.token")), "tok");
    CHECK_STR(json_string_value(json_object_get(r, "reset.url")), ""); /* set by the delivery from password_reset_url */
    const char *bad, *name;
    CHECK_INT(sq_notify_check(a, sq_notify_kind("password_reset"), "{{order.total}}", &bad, &name), -1); /* no order here */
}

/* ---- the plugin host's side ------------------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void plugin(const char *root, const char *name, const char *manifest, const char *handler)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/%s", root, name);
    mkdir(dir, 0755);
    write_file(dir, "README.md", "# fixture\n");
    write_file(dir, "manifest.json", manifest);
    write_file(dir, "handler.lua", handler);
}

static const char *refused_error(json_t *rep, const char *dir_suffix)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(rep, "refused"), i, r)
    {
        const char *p = json_string_value(json_object_get(r, "folder"));
        if (p != NULL && strstr(p, dir_suffix) != NULL)
            return json_string_value(json_object_get(r, "error"));
    }
    return NULL;
}

static sq_notify_res_t sent;
static sq_err_t sent_err;
static int sent_calls;

static void on_sent(const sq_notify_res_t *res, const sq_err_t *err, void *data)
{
    sq_arena_t *a = data;
    sent_calls++;
    sq_err_clear(&sent_err);
    memset(&sent, 0, sizeof(sent));
    if (err != NULL)
        sq_err_copy(&sent_err, err);
    else {
        sent.provider = sq_arena_strdup(a, res->provider);
        sent.message_id = sq_arena_strdup(a, res->message_id);
    }
}

static void test_host(sq_arena_t *a)
{
    char root[] = "/tmp/souq-notify-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    const char *sub = "return { on_event = function(conf, e) return true end }";
    plugin(root, "sub-ok",
           "{\"name\":\"sub-ok\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"events:x\"],\"events\":[\"order.*\",\"refund."
           "created\"]}",
           sub);
    plugin(root, "sub-legacy", "{\"name\":\"sub-legacy\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"events:x\"]}", sub);
    plugin(root, "sub-noprov",
           "{\"name\":\"sub-noprov\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:noprov\"],\"events\":[\"order.*\"]}",
           "return { payment_authorize = function() end, payment_capture = function() end, payment_cancel = function() end, "
           "payment_refund = function() end }");
    plugin(root, "sub-badpat",
           "{\"name\":\"sub-badpat\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"events:x\"],\"events\":[\"Order..x\"]}", sub);
    plugin(root, "sub-empty", "{\"name\":\"sub-empty\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"events:x\"],\"events\":[]}",
           sub);
    plugin(root, "mailer", "{\"name\":\"mailer\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"notification:email\"]}",
           "return { notification_send = function(conf, m)\n"
           "  if m.to == 'gone@example.com' then return { status = 'rejected', code = 'inactive_recipient', message = 'bounced' } "
           "end\n"
           "  if m.to == 'odd@example.com' then return { status = 'queued' } end\n"
           "  if m.to == 'boom@example.com' then error('provider down') end\n"
           "  return { status = 'sent', message_id = m.idempotency_key .. '|' .. m.subject .. '|' .. m.channel .. '|' .. (m.tag or "
           "'') }\n"
           "end }");
    json_t *rep = sq_plugins_reload(root);
    CHECK_INT(json_array_size(json_object_get(rep, "loaded")), 3); /* sub-ok, sub-legacy, mailer */
    CHECK_CONTAINS(refused_error(rep, "sub-noprov"), "needs an events:<id> entry in provides");
    CHECK_CONTAINS(refused_error(rep, "sub-badpat"), "events[0] must be an event type");
    CHECK_CONTAINS(refused_error(rep, "sub-empty"), "events must be an array of 1-100");
    json_decref(rep);

    uint64_t gen;
    const char *subs = sq_plugin_subscriptions_json(a, &gen);
    CHECK(gen == sq_plugin_registry_generation());
    /* subscribers with their events, notification providers with their channels (0041); sub-legacy subscribes to nothing */
    CHECK_STR(subs, "[{\"plugin\":\"mailer\",\"version\":\"1.0.0\",\"enabled\":true,\"notification_channels\":[\"email\"]},"
                    "{\"plugin\":\"sub-ok\",\"version\":\"1.0.0\",\"enabled\":true,\"event_types\":[\"order.*\",\"refund.created\"]}]");

    /* the notification bridge: answers mapped to core's interface */
    const sq_notification_provider_t *p = sq_notification_provider(SQ_NOTIFY_EMAIL, NULL);
    CHECK(p != NULL);
    CHECK(sq_notification_provider(SQ_NOTIFY_EMAIL, "sc_any") == p); /* no sales_channels setting: every channel */
    CHECK(sq_notification_provider(SQ_NOTIFY_SMS, NULL) == NULL);
    sq_ctx_t cx = {0};
    cx.arena = a;
    sq_notify_req_t req = {SQ_NOTIFY_EMAIL, "b@example.com",     "Hi", "text", "<p>html</p>", NULL, NULL,
                           "key-1",         "order_confirmation"};
    if (p != NULL) {
        p->send(&cx, &req, on_sent, a);
        CHECK_INT(sent_calls, 1);
        CHECK_INT(sent_err.code, SQ_OK);
        CHECK_STR(sent.provider, "mailer");
        CHECK_STR(sent.message_id, "key-1|Hi|email|order_confirmation");
        req.to = "gone@example.com";
        p->send(&cx, &req, on_sent, a);
        CHECK_INT(sent_err.code, SQ_E_VALIDATION); /* refused for good */
        CHECK_STR(sent_err.detail, "inactive_recipient: bounced");
        req.to = "odd@example.com";
        p->send(&cx, &req, on_sent, a);
        CHECK_INT(sent_err.code, SQ_E_PLUGIN_FAILED); /* a contract breach: retried */
        req.to = "boom@example.com";
        p->send(&cx, &req, on_sent, a);
        CHECK_INT(sent_err.code, SQ_E_PLUGIN_FAILED);
        CHECK(strstr(sent_err.detail, "provider down") == NULL); /* plugin text stays in the log */
        CHECK_INT(sent_calls, 4);
    }
    /* disabled: no provider any more */
    json_t *off = json_pack("{s:b}", "enabled", 0);
    sq_plugins_apply("mailer", off);
    json_decref(off);
    CHECK(sq_notification_provider(SQ_NOTIFY_EMAIL, NULL) == NULL);
    off = json_pack("{s:b}", "enabled", 0);
    sq_plugins_apply("sub-ok", off);
    json_decref(off);
    subs = sq_plugin_subscriptions_json(a, &gen);
    CHECK_CONTAINS(subs, "\"enabled\":false");
}

int main(void)
{
    sq_log_set_level(SQ_LOG_ERROR);
    sq_arena_t *a = sq_arena_new();
    test_render(a);
    test_check(a);
    test_vars(a);
    CHECK_INT(sq_plugins_init(""), 0);
    test_host(a);
    sq_plugins_thread_exit();
    sq_arena_unref(a);
    return check_done("notify");
}
