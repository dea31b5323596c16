/* notify.c: the rules of order notifications: the kinds and their built-in templates, placeholder checks, rendering
 * with escaped values, and the template variables of an order (core/notify.h). No SQL here (notify_db.c). */
#include "core/notify.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/money.h"

#define COMMON                                                                                                                     \
    "order.number", "order.id", "order.email", "order.total", "order.currency", "order.items", "customer.name",                    \
        "customer.first_name", "customer.last_name"

static const char *const ph_order[] = {COMMON, NULL};
static const char *const ph_shipped[] = {
    COMMON, "shipment.carrier", "shipment.tracking_number", "shipment.tracking_url", "shipment.all", NULL};
static const char *const ph_refund[] = {COMMON, "refund.amount", "refund.reason", NULL};
static const char *const ph_reset[] = {
    "customer.name", "customer.first_name", "customer.email", "reset.url", "reset.token", "reset.expires_at", NULL};

const sq_notify_kind_t sq_notify_kinds[] = {
    {"order_confirmation", "order.placed", "Sent to the buyer when an order is placed.", "Order #{{order.number}} confirmed",
     "Hello {{customer.name}},\n\nThank you for your order #{{order.number}}.\n\n{{order.items}}\n\nTotal: {{order.total}}\n\n"
     "We will let you know when it ships.\n",
     "<p>Hello {{customer.name}},</p>\n<p>Thank you for your order #{{order.number}}.</p>\n<pre>{{order.items}}</pre>\n"
     "<p>Total: <strong>{{order.total}}</strong></p>\n<p>We will let you know when it ships.</p>\n",
     ph_order},
    {"order_shipped", "order.shipped", "Sent when every fulfilment of an order has shipped, with the tracking link.",
     "Order #{{order.number}} is on its way",
     "Hello {{customer.name}},\n\nYour order #{{order.number}} has shipped.\n\nCarrier: {{shipment.carrier}}\n"
     "Tracking number: {{shipment.tracking_number}}\nTrack your parcel: {{shipment.tracking_url}}\n",
     "<p>Hello {{customer.name}},</p>\n<p>Your order #{{order.number}} has shipped.</p>\n"
     "<p>Carrier: {{shipment.carrier}}<br>\nTracking number: {{shipment.tracking_number}}</p>\n"
     "<p><a href=\"{{shipment.tracking_url}}\">Track your parcel</a></p>\n",
     ph_shipped},
    {"order_delivered", "order.delivered", "Sent when every fulfilment of an order was delivered.",
     "Order #{{order.number}} was delivered",
     "Hello {{customer.name}},\n\nYour order #{{order.number}} was delivered. We hope you enjoy it.\n",
     "<p>Hello {{customer.name}},</p>\n<p>Your order #{{order.number}} was delivered. We hope you enjoy it.</p>\n", ph_order},
    {"refund_issued", "refund.created", "Sent when a refund of an order went through.", "Refund for order #{{order.number}}",
     "Hello {{customer.name}},\n\nWe refunded {{refund.amount}} for your order #{{order.number}}. Depending on your bank it "
     "may take a few days to show.\n",
     "<p>Hello {{customer.name}},</p>\n<p>We refunded <strong>{{refund.amount}}</strong> for your order #{{order.number}}. "
     "Depending on your bank it may take a few days to show.</p>\n",
     ph_refund},
    {"password_reset", "customer.password_reset_requested",
     "Sent to a customer who asked for a password reset, with the single-use link (needs password_reset_url).",
     "Reset your password",
     "Hello {{customer.name}},\n\nSomeone asked to reset the password of your account ({{customer.email}}). Choose a new "
     "one here:\n\n{{reset.url}}\n\nThe link works once and expires at {{reset.expires_at}}. If you did not ask for it, "
     "ignore this email: your password stays as it is.\n",
     "<p>Hello {{customer.name}},</p>\n<p>Someone asked to reset the password of your account ({{customer.email}}).</p>\n"
     "<p><a href=\"{{reset.url}}\">Choose a new password</a></p>\n<p>The link works once and expires at "
     "{{reset.expires_at}}. If you did not ask for it, ignore this email: your password stays as it is.</p>\n",
     ph_reset},
    {NULL},
};

const char *const sq_notify_kind_names[] = {"order_confirmation", "order_shipped",  "order_delivered",
                                            "refund_issued",      "password_reset", NULL};

const sq_notify_kind_t *sq_notify_kind(const char *kind)
{
    for (const sq_notify_kind_t *k = sq_notify_kinds; kind != NULL && k->kind != NULL; k++)
        if (strcmp(k->kind, kind) == 0)
            return k;
    return NULL;
}

/* The placeholder starting after "{{" at p: its name (trimmed) in [*ns, *ne) and the position after "}}", or NULL
 * when there is no "}}". */
static const char *placeholder(const char *p, const char **ns, const char **ne)
{
    const char *end = strstr(p, "}}");
    if (end == NULL)
        return NULL;
    const char *s = p, *e = end;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *ns = s;
    *ne = e;
    return end + 2;
}

static void add_escaped(sq_buf_t *b, const char *v, bool html, bool oneline)
{
    for (const char *c = v; *c; c++) {
        const char *rep = NULL;
        if (html) {
            switch (*c) {
            case '&':
                rep = "&amp;";
                break;
            case '<':
                rep = "&lt;";
                break;
            case '>':
                rep = "&gt;";
                break;
            case '"':
                rep = "&quot;";
                break;
            case '\'':
                rep = "&#39;";
                break;
            }
        }
        if (oneline && (*c == '\n' || *c == '\r' || *c == '\t'))
            rep = " ";
        if (rep != NULL)
            sq_buf_add(b, rep, strlen(rep));
        else
            sq_buf_add(b, c, 1);
    }
}

char *sq_notify_render(sq_arena_t *a, const char *tmpl, const json_t *vars, bool html, bool oneline)
{
    sq_buf_t b;
    sq_buf_init(&b, a, strlen(tmpl) + 256);
    const char *p = tmpl;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (open == NULL) {
            sq_buf_add(&b, p, strlen(p));
            break;
        }
        const char *ns, *ne, *next = placeholder(open + 2, &ns, &ne);
        if (next == NULL) { /* no closing braces: the rest is text */
            sq_buf_add(&b, p, strlen(p));
            break;
        }
        sq_buf_add(&b, p, (size_t)(open - p));
        char name[64];
        if ((size_t)(ne - ns) < sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)(ne - ns), ns);
            const char *v = json_string_value(json_object_get(vars, name));
            if (v != NULL)
                add_escaped(&b, v, html, oneline);
        }
        p = next;
    }
    return b.p;
}

static bool valid_name(const char *s, const char *e)
{
    if (s == e)
        return false;
    for (const char *c = s; c < e; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.'))
            return false;
    return true;
}

int sq_notify_check(sq_arena_t *a, const sq_notify_kind_t *k, const char *tmpl, const char **bad, const char **name)
{
    const char *p = tmpl;
    const char *open;
    while ((open = strstr(p, "{{")) != NULL) {
        const char *ns, *ne, *next = placeholder(open + 2, &ns, &ne);
        if (next == NULL) {
            *bad = "A {{ is not closed by }}.";
            *name = "";
            return -1;
        }
        bool known = false;
        for (int i = 0; valid_name(ns, ne) && k->placeholders[i] != NULL; i++)
            known |= strlen(k->placeholders[i]) == (size_t)(ne - ns) && memcmp(k->placeholders[i], ns, (size_t)(ne - ns)) == 0;
        if (!known) {
            *bad = "Unknown placeholder.";
            *name = sq_arena_strndup(a, ns, (size_t)(ne - ns) > 60 ? 60 : (size_t)(ne - ns));
            return -1;
        }
        p = next;
    }
    return 0;
}

/* "12.50 EUR" */
static const char *money(sq_arena_t *a, const json_t *amount, int exponent, const char *currency)
{
    if (!json_is_integer(amount))
        return "";
    char buf[40], cur[8] = "";
    sq_money_format(json_integer_value(amount), exponent, buf, sizeof(buf));
    for (int i = 0; currency != NULL && currency[i] && i < 7; i++)
        cur[i] = (char)toupper((unsigned char)currency[i]), cur[i + 1] = '\0';
    return sq_arena_printf(a, "%s %s", buf, cur);
}

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v != NULL ? v : ""));
}

json_t *sq_notify_vars(sq_arena_t *a, const json_t *d)
{
    json_t *v = sq_json_own(a, json_object());
    const char *cur = json_string_value(json_object_get(d, "currency"));
    json_t *mu = json_object_get(d, "minor_units");
    int exp = json_is_integer(mu) ? (int)json_integer_value(mu) : 2;
    json_t *num = json_object_get(d, "order_number");
    set_str(v, "order.number", json_is_integer(num) ? sq_arena_printf(a, "%lld", (long long)json_integer_value(num)) : "");
    set_str(v, "order.id", json_string_value(json_object_get(d, "order_id")));
    set_str(v, "order.email", json_string_value(json_object_get(d, "email")));
    set_str(v, "order.total", money(a, json_object_get(d, "total"), exp, cur));
    char upper[8] = "";
    for (int i = 0; cur != NULL && cur[i] && i < 7; i++)
        upper[i] = (char)toupper((unsigned char)cur[i]), upper[i + 1] = '\0';
    set_str(v, "order.currency", upper);
    const char *first = json_string_value(json_object_get(d, "first_name"));
    set_str(v, "customer.first_name", first);
    set_str(v, "customer.last_name", json_string_value(json_object_get(d, "last_name")));
    set_str(v, "customer.name", first != NULL && first[0] ? first : "there");
    sq_buf_t items;
    sq_buf_init(&items, a, 256);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(d, "items"), i, it)
    {
        const char *title = json_string_value(json_object_get(it, "title"));
        const char *vt = json_string_value(json_object_get(it, "variant_title"));
        const char *line = sq_arena_printf(a, "%s%lld x %s%s%s%s  %s", i > 0 ? "\n" : "",
                                           (long long)json_integer_value(json_object_get(it, "quantity")), title ? title : "",
                                           vt && vt[0] ? " (" : "", vt && vt[0] ? vt : "", vt && vt[0] ? ")" : "",
                                           money(a, json_object_get(it, "total"), exp, cur));
        sq_buf_add(&items, line, strlen(line));
    }
    set_str(v, "order.items", items.p);
    set_str(v, "shipment.carrier", json_string_value(json_object_get(d, "carrier")));
    set_str(v, "shipment.tracking_number", json_string_value(json_object_get(d, "tracking_number")));
    /* only web links: a tracking "URL" of another scheme (javascript:) never reaches an href */
    const char *url = json_string_value(json_object_get(d, "tracking_url"));
    set_str(v, "shipment.tracking_url",
            url != NULL && (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) ? url : "");
    /* every parcel, one line each: "DHL JD014 https://..." (an order shipped in several parts) */
    sq_buf_t all;
    sq_buf_init(&all, a, 128);
    json_array_foreach(json_object_get(d, "tracking"), i, it)
    {
        const char *parts[3] = {json_string_value(json_object_get(it, "carrier")),
                                json_string_value(json_object_get(it, "tracking_number")),
                                json_string_value(json_object_get(it, "tracking_url"))};
        if (parts[2] != NULL && strncmp(parts[2], "https://", 8) != 0 && strncmp(parts[2], "http://", 7) != 0)
            parts[2] = NULL;
        if (all.len > 0)
            sq_buf_add(&all, "\n", 1);
        size_t start = all.len;
        for (int k = 0; k < 3; k++)
            if (parts[k] != NULL && parts[k][0] != '\0') {
                if (all.len > start)
                    sq_buf_add(&all, " ", 1);
                sq_buf_add(&all, parts[k], strlen(parts[k]));
            }
    }
    set_str(v, "shipment.all", all.p);
    set_str(v, "refund.amount", money(a, json_object_get(d, "refund_amount"), exp, cur));
    set_str(v, "refund.reason", json_string_value(json_object_get(d, "refund_reason")));
    set_str(v, "customer.email", json_string_value(json_object_get(d, "email")));
    set_str(v, "reset.token", json_string_value(json_object_get(d, "token")));
    set_str(v, "reset.expires_at", json_string_value(json_object_get(d, "expires_at")));
    set_str(v, "reset.url", "");
    return v;
}

char *sq_notify_reset_url(sq_arena_t *a, const char *url_template, const char *token)
{
    sq_buf_t b;
    sq_buf_init(&b, a, 256);
    const char *p = url_template, *at;
    while ((at = strstr(p, "{token}")) != NULL) {
        sq_buf_add(&b, p, (size_t)(at - p));
        for (const char *c = token; *c; c++) { /* percent-encode all but RFC 3986 unreserved characters */
            if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' ||
                *c == '.' || *c == '~')
                sq_buf_add(&b, c, 1);
            else {
                char hex[4];
                snprintf(hex, sizeof(hex), "%%%02X", (unsigned char)*c);
                sq_buf_add(&b, hex, 3);
            }
        }
        p = at + 7;
    }
    sq_buf_add(&b, p, strlen(p));
    return b.p;
}
