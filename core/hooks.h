/* hooks.h: the extension points core calls. Each is a table of functions a provider fills: the built-in C
 * providers here (core/payment_*.c ...) now, Lua plugins through the plugin host later (issue 5), with the
 * same inputs and outputs. Every call is asynchronous (it answers through its callback, possibly before it
 * returns) and never holds a database row lock of the caller: checkout commits its preparation first, calls
 * the provider, then commits the result (ARCHITECTURE.md, decision 2).
 *
 * Inputs are copies the provider may keep until its callback runs (they live in the caller's arena); outputs
 * are copied by the caller before the callback returns. */
#ifndef SQ_HOOKS_H
#define SQ_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/json.h"
#include "core/ctx.h"

/* ---- named plugin actions ------------------------------------------------------------------------------- */

/** An action's answer: out (borrowed, alive until the callback returns) or err. */
typedef void (*sq_action_answer_cb)(json_t *out, const sq_err_t *err, void *data);

/** Set once at start-up by the plugin host (plugins/host/actions.c) for automation rules' run_plugin_action; NULL
 * (tools, unit tests): no plugin actions. exists: an enabled plugin of that name has the action. check: input fits
 * the action's input schema (0, or -1 with err: SQ_E_NOT_FOUND, SQ_E_UNKNOWN_FIELD, SQ_E_VALIDATION at
 * /input/<field>). run: the plugin's action_<name>(conf, input) under its background budgets. */
typedef struct {
    bool (*exists)(const char *plugin, const char *action);
    int (*check)(const char *plugin, const char *action, const json_t *input, sq_err_t *err);
    void (*run)(sq_ctx_t *cx, const char *plugin, const char *action, const json_t *input, sq_action_answer_cb cb, void *data);
} sq_plugin_action_hooks_t;
extern const sq_plugin_action_hooks_t *sq_plugin_action_hooks;

/* ---- payment ------------------------------------------------------------------------------------------- */

/** Where a payment stands at its provider after a call. */
typedef enum {
    SQ_PAY_AUTHORIZED,      /* the amount is held; capture takes it */
    SQ_PAY_CAPTURED,        /* the amount is taken (a provider that captures at once, or after capture) */
    SQ_PAY_PENDING,         /* paid outside Souq later (bank transfer, cash on delivery): staff capture it */
    SQ_PAY_REQUIRES_ACTION, /* the buyer must act (3-D Secure, a redirect); next_action says how */
    SQ_PAY_DECLINED,        /* refused for good (card declined): the buyer may try another method */
    SQ_PAY_VOIDED,          /* an authorization released */
    SQ_PAY_REFUNDED,        /* a refund went through (refund calls) */
} sq_pay_status_t;

/** A call to a payment provider. */
typedef struct {
    const char *payment_id;      /* Souq's payment (pay_...) */
    const char *idempotency_key; /* the same for every retry of one logical call: authorize passes the checkout's
                                  * key (scoped per cart), refund the refund's id; providers pass it to the gateway */
    const char *currency;        /* lower-case ISO 4217 */
    int64_t amount;              /* minor units: to authorize, capture or refund */
    const char *data;            /* authorize: the buyer's payment data (JSON object: token, return_url...), or NULL */
    const char *provider_ref;    /* the gateway's id of the payment from authorize (capture, void, refund, status) */
    const char *email;           /* the buyer's email, or NULL */
} sq_pay_req_t;

/** A provider's answer. Strings live in the arena of the call. */
typedef struct {
    sq_pay_status_t status;
    const char *provider_ref; /* the gateway's id of the payment (authorize) or of the refund */
    const char *next_action;  /* SQ_PAY_REQUIRES_ACTION: JSON object ({"type":"redirect_to_url","url":...}) */
    const char *decline_code; /* SQ_PAY_DECLINED: the gateway's reason (card_declined, insufficient_funds...) */
} sq_pay_res_t;

/** err set: the provider could not be reached or failed (502/504 to the client; nothing was charged as far as
 * Souq knows, and a retry with the same idempotency key is safe). */
typedef void (*sq_pay_cb)(const sq_pay_res_t *res, const sq_err_t *err, void *data);

typedef struct sq_payment_provider {
    const char *id;          /* "manual", "test": what a cart's payment names as its provider */
    const sq_field_t *data_fields; /* rules of the buyer's payment data at authorize (NULL: none accepted) */
    /* authorize: hold req->amount (a provider may capture at once and answer SQ_PAY_CAPTURED). Called again
     * with the same idempotency key after requires_action or a lost answer: answer the payment's current state. */
    void (*authorize)(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data);
    void (*capture)(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data); /* req->amount <= authorized */
    void (*cancel)(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data);  /* void an authorization */
    void (*refund)(sq_ctx_t *cx, const sq_pay_req_t *req, sq_pay_cb cb, void *data);  /* req->amount <= captured - refunded */
} sq_payment_provider_t;

/** The provider of an id, or NULL: a plugin's when an enabled plugin provides payment:<id> (sq_payment_plugins),
 * else the built-in of that id. The pointer stays valid for the life of the process. */
const sq_payment_provider_t *sq_payment_provider(const char *id);
/** The ids of the providers, comma-separated (for error messages; the calling thread's buffer). */
const char *sq_payment_provider_ids(void);
/** Whether the provider of id may take payments in the sales channel: false when a plugin provides it and its settings
 * restrict it to other channels (checkout refuses it: 422 at /payment/provider). Built-ins serve every channel. */
bool sq_payment_provider_serves(const char *id, const char *channel_id);
/** The payment provider ids a checkout in the sales channel may name (the built-ins and the plugins' payment:<id>,
 * without those sq_payment_provider_serves refuses there), sorted, as a new JSON array of strings. */
json_t *sq_payment_provider_ids_for(const char *channel_id);
/** The built-in provider of an id, ignoring plugins (a plugin provider whose plugin went away falls back to it). */
const sq_payment_provider_t *sq_payment_builtin(const char *id);

/** Set once at start-up by the plugin host (plugins/host/payment.c), so core consults plugins without knowing
 * Lua: lookup answers the provider a plugin gives for an id (NULL: none); ids appends the plugin ids,
 * comma-separated, to buf. NULL (tools, unit tests): only the built-ins answer. */
typedef struct {
    const sq_payment_provider_t *(*lookup)(const char *id);
    void (*ids)(char *buf, size_t len);
    /* whether the plugin providing id serves the sales channel (its sales_channels setting); NULL: always */
    bool (*serves)(const char *id, const char *channel_id);
} sq_payment_plugins_t;
extern const sq_payment_plugins_t *sq_payment_plugins;

/* The built-in payment providers (core/payment_builtin.c):
 *   manual  bank transfer / cash on delivery: authorize answers SQ_PAY_PENDING; capture is staff recording that
 *           the money arrived; cancel and refund are bookkeeping (the money moves outside Souq).
 *   test    a card-style gateway with a ledger table (test_gateway_charges, one row per idempotency key, so a
 *           retried authorize never charges twice). Tokens: tok_visa (authorized), tok_declined (card_declined),
 *           tok_insufficient_funds, tok_3ds (requires_action until POST /v1/hooks/test/charges/{ref}/authenticate),
 *           tok_error (the gateway fails: 502). */
extern const sq_payment_provider_t sq_payment_manual, sq_payment_test;
/** The test gateway's 3-D Secure page: the buyer passed (or failed) authentication of a charge. */
void sq_payment_test_authenticate(sq_ctx_t *cx, const char *charge_id, bool succeed, sq_json_cb cb, void *data);

/* ---- shipping ------------------------------------------------------------------------------------------ */

/** A rate request: what one shipping option would cost for a cart. Amounts are minor units of currency. */
typedef struct {
    const char *option_id;    /* the shipping option (so_...) */
    const char *currency;     /* lower-case ISO 4217: the cart's, which is the option's region's */
    int64_t amount;           /* the option's configured amount (flat_rate: the price) */
    int64_t free_over;        /* the option's free-shipping threshold, or -1 for none */
    const char *config;       /* the option's settings as a JSON object, or NULL (carrier providers: service codes...) */
    const char *country_code; /* the shipping address, each NULL when unknown */
    const char *province, *postal_code;
    int64_t item_total;       /* the cart's items after discounts (item_subtotal - discount_total) */
    int64_t item_count;       /* units of the cart's sellable lines */
    int64_t weight_g;         /* grams of the sellable lines that require shipping (variants without a weight count 0) */
    const char *cart_json;    /* the cart's own fields as the store API shows them (region_id, shipping_address...), or
                               * NULL; built-ins ignore it */
    const char *region_id;    /* the region the cart ships in (souq_cart_region), or NULL */
    const char *items_json;   /* the sellable lines (JSON array of the API's line items without prices), or NULL: only
                               * given to providers that are not built-in */
    const char *channel_id;   /* the cart's sales channel (a plugin restricted to other channels offers nothing), or NULL */
} sq_ship_req_t;

/** A provider's rate. */
typedef struct {
    bool available; /* false: the provider cannot ship this cart with this option (it is not offered) */
    int64_t amount; /* minor units of req->currency */
} sq_ship_rate_t;

/** err set: the provider failed (the option is not offered; the cart still answers). */
typedef void (*sq_ship_rate_cb)(const sq_ship_rate_t *res, const sq_err_t *err, void *data);

/** A label to buy for a shipment (carriers): the flat-rate provider has none. */
typedef struct {
    const char *shipment_id, *option_id, *config;
    const char *from_json, *to_json; /* addresses as JSON objects */
    int64_t weight_g;
    /* added with the plugin bridge (plugins/host/shipping.c): */
    const char *order_id, *fulfillment_id;
    const char *service;         /* the carrier service staff asked for (e.g. "Priority"), or NULL: the provider picks */
    const char *currency;        /* lower-case ISO 4217 of the order (cost is in it when the carrier bills in it) */
    const char *idempotency_key; /* the same for every retry of one label purchase (the fulfilment's id + attempt) */
} sq_ship_label_req_t;
typedef struct {
    const char *tracking_number, *tracking_url, *label_url;
    int64_t cost; /* what the carrier charged, minor units */
    /* added with the plugin bridge: */
    const char *carrier;      /* the carrier that moves the parcel ("USPS"), shown on the shipment */
    const char *provider_ref; /* the provider's id of the shipment or tracker (what track is given), or NULL */
    const char *cost_currency; /* lower-case ISO 4217 of cost, or NULL when cost is 0/unknown */
} sq_ship_label_t;
typedef void (*sq_ship_label_cb)(const sq_ship_label_t *res, const sq_err_t *err, void *data);
typedef struct {
    const char *status; /* "in_transit", "delivered", "exception"... */
    int64_t delivered_at_us; /* 0 unless delivered */
} sq_ship_track_t;
typedef void (*sq_ship_track_cb)(const sq_ship_track_t *res, const sq_err_t *err, void *data);

typedef struct sq_shipping_provider {
    const char *id; /* what a shipping option names as its provider: "flat_rate" */
    /* rates: the price of req's option for the cart (carrier providers ask their API) */
    void (*rates)(sq_ctx_t *cx, const sq_ship_req_t *req, sq_ship_rate_cb cb, void *data);
    /* create_label / track: carriers only; NULL when the provider has none (flat_rate) */
    void (*create_label)(sq_ctx_t *cx, const sq_ship_label_req_t *req, sq_ship_label_cb cb, void *data);
    void (*track)(sq_ctx_t *cx, const char *tracking_number, sq_ship_track_cb cb, void *data);
} sq_shipping_provider_t;

/** The shipping provider of an id, or NULL: a plugin's when an enabled plugin provides shipping:<id>
 * (sq_shipping_plugins), else the built-in of that id. The pointer stays valid for the life of the process. */
const sq_shipping_provider_t *sq_shipping_provider(const char *id);
/** The built-in shipping provider of an id, ignoring plugins. */
const sq_shipping_provider_t *sq_shipping_builtin(const char *id);

/** Set once at start-up by the plugin host (plugins/host/shipping.c), so core consults plugins without knowing
 * Lua: the provider a plugin gives for an id, or NULL. NULL (tools, unit tests): only the built-ins answer.
 * track takes the shipment's provider_ref (the carrier's tracker id) when it has one, else its tracking number.
 * Inbound carrier callbacks go through the plugin's handle_webhook on POST /v1/hooks/{plugin} (api/handlers/plugins.c),
 * not through this table: the callback names a plugin, not a provider id. */
typedef struct {
    const sq_shipping_provider_t *(*lookup)(const char *id);
} sq_shipping_plugins_t;
extern const sq_shipping_plugins_t *sq_shipping_plugins;

/* The built-in shipping provider (core/shipping.c):
 *   flat_rate  the option's amount, or 0 once item_total reaches free_over (free_over 0: always free). */
extern const sq_shipping_provider_t sq_shipping_flat_rate;

/* ---- tax ----------------------------------------------------------------------------------------------- */

/** A configured tax rate (the store's table, migrations/0020): what the table provider applies. */
typedef struct {
    const char *id;        /* txr_... */
    const char *code_json; /* the rate's code and name as JSON strings (quoted, escaped) */
    const char *name_json;
    int64_t rate_bp;       /* basis points: 1900 = 19% */
    const char *tax_class;
    int level;             /* where it applies: 2 the address's province, 1 its country, 0 the cart's region */
} sq_tax_rate_t;

/** A taxable item: a sellable line of the cart, or its shipping. */
typedef struct {
    const char *tax_class; /* the variant's ("standard" by default), or "shipping" */
    int64_t amount;        /* the taxed amount: subtotal - discount (shipping: shipping_total - shipping_discount_total),
                            * tax included when the request is inclusive */
    int64_t quantity;      /* units (1 for shipping) */
} sq_tax_item_t;

/** A tax request for a cart. */
typedef struct {
    const char *currency;
    bool inclusive;                         /* prices include tax (the region's setting) */
    const char *region_id;                  /* the cart's region (souq_cart_region), or NULL */
    const char *country_code, *province;    /* the shipping address, each NULL when unknown */
    const sq_tax_rate_t *rates;             /* the store's rates for this place (any level, any class) */
    int nrates;
    const sq_tax_item_t *items;
    int nitems;
} sq_tax_req_t;

/** One tax charged on one item. */
typedef struct {
    int item;              /* index in req->items */
    const char *rate_id;   /* the provider's id of the rate (the table's txr_...) */
    const char *code_json, *name_json; /* JSON strings */
    int64_t rate_bp;
    int64_t amount;        /* minor units */
} sq_tax_line_t;

typedef struct {
    const sq_tax_line_t *lines;
    int nlines;
    /* added with the tax jobs (migrations/0040): who computed the lines ("table", or "plugin:<name>"; NULL: the table),
     * and whether that provider records placed orders (a plugin with tax_commit): checkout snapshots both */
    const char *provider;
    bool commits;
} sq_tax_res_t;

/** err set: the provider failed (the cart cannot be totalled: 502/503 to the client). */
typedef void (*sq_tax_cb)(const sq_tax_res_t *res, const sq_err_t *err, void *data);

typedef struct sq_tax_provider {
    const char *id; /* "table" */
    void (*calculate)(sq_ctx_t *cx, const sq_tax_req_t *req, sq_tax_cb cb, void *data);
    /* commit: unused (NULL everywhere). Recording a placed order's tax is a durable job calling the plugin that
     * computed it, by name (sq_tax_plugins_t.record, core/tax_commit.h): the order outlives the provider pointer */
    void (*commit)(sq_ctx_t *cx, const char *order_id, const sq_tax_req_t *req, sq_done_cb cb, void *data);
} sq_tax_provider_t;

/** The tax provider carts use: the provider of the enabled plugin providing tax:<id> with the highest priority
 * (sq_tax_plugins), else the built-in table provider. The pointer stays valid for the life of the process. */
const sq_tax_provider_t *sq_tax_provider(void);

/** Set once at start-up by the plugin host (plugins/host/tax.c): the plugin tax provider now, or NULL for none.
 * NULL (tools, unit tests): the table provider. */
typedef struct {
    const sq_tax_provider_t *(*current)(void);
    /* The recording calls of the tax jobs (core/tax_commit.h), to the plugin named on the order (which computed its
     * tax, maybe no longer the current one). defines: 1 when the loaded plugin (enabled or not) has the function fn
     * (tax_commit, tax_void, tax_refund), 0 when not, -1 when no plugin of that name is loaded. record: runs
     * fn(conf, doc, ...) under the plugin's background budgets (doc: {order, refund}); cb gets the plugin's answer
     * (borrowed) or an error (a disabled plugin: SQ_E_PLUGIN_FAILED; the job retries). */
    int (*defines)(const char *plugin, const char *fn);
    void (*record)(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *doc, sq_action_answer_cb cb, void *data);
} sq_tax_plugins_t;
extern const sq_tax_plugins_t *sq_tax_plugins;

/* The built-in tax provider (core/tax.c):
 *   table  the store's rates (sq_tax_table_compute: choice of rates and rounding documented there). */
extern const sq_tax_provider_t sq_tax_table;

/* ---- notification -------------------------------------------------------------------------------------------- */

/** Where a message goes. */
typedef enum { SQ_NOTIFY_EMAIL, SQ_NOTIFY_SMS } sq_notify_channel_t;

/** A message to send: rendered content (subject, text, html), or a template the provider keeps (template_name +
 * template_data) for providers with their own templates. */
typedef struct {
    sq_notify_channel_t channel;
    const char *to;              /* an email address (email) or an E.164 number (sms) */
    const char *subject;         /* email: the rendered subject; NULL with template_name */
    const char *text;            /* the rendered plain-text body (sms: the message); NULL with template_name */
    const char *html;            /* email: the rendered HTML body, or NULL */
    const char *template_name;   /* a template at the provider (Postmark TemplateAlias), or NULL */
    const char *template_data;   /* JSON object for template_name, or NULL */
    const char *idempotency_key; /* the same for every retry of one logical message: providers pass it on */
    const char *tag;             /* what the message is (order_confirmation...), for the provider's statistics; may be NULL */
    const char *sales_channel_id; /* the sales channel it is sent for (the order's), or NULL: picks the provider */
} sq_notify_req_t;

/** A provider's answer (strings in the arena of the call). */
typedef struct {
    const char *provider;   /* who sent it (the plugin's name) */
    const char *message_id; /* the provider's id of the message */
} sq_notify_res_t;

/** err set: not sent. SQ_E_VALIDATION means the provider refused the message for good (invalid or inactive
 * recipient, a rejected sender): a retry would fail the same way. Any other error (provider down, a plugin
 * failure or timeout, no provider) may pass: retry later with the same idempotency key. */
typedef void (*sq_notify_cb)(const sq_notify_res_t *res, const sq_err_t *err, void *data);

typedef struct sq_notification_provider {
    const char *id; /* the channel it serves: "email", "sms" */
    void (*send)(sq_ctx_t *cx, const sq_notify_req_t *req, sq_notify_cb cb, void *data);
} sq_notification_provider_t;

/** Set once at start-up by the plugin host (plugins/host/notify.c): lookup answers the provider of a channel for a
 * sales channel (NULL: any) while an enabled plugin provides notification:<channel> and serves that sales channel,
 * else NULL. NULL (tools, unit tests): no provider. */
typedef struct {
    const sq_notification_provider_t *(*lookup)(sq_notify_channel_t channel, const char *sales_channel_id);
} sq_notification_plugins_t;
extern const sq_notification_plugins_t *sq_notification_plugins;

/** The provider of a channel for a sales channel (NULL: any) now, or NULL (there is no built-in one: without a plugin
 * nothing is sent). send picks the plugin again with req->sales_channel_id (a reload may have changed it). */
const sq_notification_provider_t *sq_notification_provider(sq_notify_channel_t channel, const char *sales_channel_id);

/* ---- cart pricing adjustments ------------------------------------------------------------------------------- */

/* Plugins providing pricing:<id> take amounts off a cart's lines (bulk, bundle, loyalty-tier or B2B discounts a store
 * computes in its own code). Core runs them in its totals pipeline (core/cart.c): pricing -> discounts (promotions,
 * loyalty) -> pricing adjustments -> shipping -> tax -> gift cards, so shipping thresholds and tax see the adjusted
 * amounts as they see promotions'. Every enabled plugin providing pricing that serves the cart's sales channel is
 * asked in turn, highest priority first (ties: by name), each with the cart as it stands after the plugins before it.
 *
 * An OPTIONAL hook: a failure, a timeout, an open breaker or an answer that breaks the contract skips that plugin's
 * adjustments for this computation (logged and counted in souq_plugin_failures_total by the host); the cart still
 * answers, and checkout charges what that computation says (no discount is ever invented, none is guaranteed).
 * Clamping (sq_cart_apply_adjustments): an adjustment never takes a line below zero: it is cut to what is left of the
 * line after the discounts before it (earlier promotions, points, plugins and adjustments of the same answer), and
 * one cut to 0 is not shown. An amount above the line's subtotal is a contract error (the whole answer is skipped). */

/** A line a pricing plugin may adjust: a sellable line that does not sell a gift card, as it stands. */
typedef struct {
    int line;               /* index in the cart's lines (sq_cart_totals_t.lines), not shown to plugins */
    const char *json;       /* the line's catalog JSON (id, variant_id, product_id, sku, title, quantity...) */
    int64_t quantity, unit_price, subtotal; /* subtotal = unit_price x quantity */
    int64_t discount_total; /* taken off the line so far (promotions, points, earlier plugins) */
} sq_adjust_line_t;

/** A pricing request: the cart as it stands. Amounts in minor units of currency. Strings may be NULL when unknown. */
typedef struct {
    const char *currency;    /* lower-case ISO 4217 */
    const char *region_id;   /* the cart's region (souq_cart_region) */
    const char *channel_id;  /* the cart's sales channel */
    const char *cart_json;   /* the cart's own fields (id, customer_id, email...): the host copies what plugins see */
    const char *groups;      /* the customer's group ids, comma-separated, or NULL */
    const sq_adjust_line_t *lines;
    int nlines;
    int64_t item_subtotal;   /* the sellable lines' subtotal (gift card lines included, as the cart shows it) */
    int64_t discount_total;  /* the lines' discounts so far */
} sq_adjust_req_t;

/** One adjustment of a plugin's answer (checked by the host: item in range, 0 < amount <= that line's subtotal). */
typedef struct {
    int item;                /* index in req->lines */
    int64_t amount;          /* minor units off the line, before clamping */
    const char *code_json;   /* JSON string literals (quoted, escaped) */
    const char *description_json;
} sq_adjustment_t;

/** A plugin's answer. Strings live in the arena of the call. */
typedef struct {
    const char *plugin; /* the plugin's name (shown on the line's adjustment as "plugin") */
    const sq_adjustment_t *adjs;
    int nadjs;
} sq_adjust_res_t;

/** res NULL: the plugin failed or broke the contract (logged and counted): its adjustments are skipped. */
typedef void (*sq_adjust_cb)(const sq_adjust_res_t *res, void *data);

/** Set once at start-up by the plugin host (plugins/host/adjust.c). NULL (tools, unit tests): no adjustments.
 * active: whether any enabled plugin provides pricing now; called for every cart computation, so it takes no lock
 * and allocates nothing (a thread-local answer per registry generation). providers: the names of the enabled plugins
 * providing pricing that serve channel_id (NULL: any), highest priority first, as a NULL-terminated array in a.
 * adjust: runs the named plugin's pricing_adjust(conf, cart) under its request budgets with cx for its I/O; cb may
 * run before it returns. */
typedef struct {
    bool (*active)(void);
    const char **(*providers)(sq_arena_t *a, const char *channel_id);
    void (*adjust)(sq_ctx_t *cx, const char *plugin, const sq_adjust_req_t *req, sq_adjust_cb cb, void *data);
} sq_pricing_plugins_t;
extern const sq_pricing_plugins_t *sq_pricing_plugins;

#endif
