/* shipping.c: the bridge from core's shipping interface (core/hooks.h) to plugins providing shipping:<id>. Each id
 * gets a provider struct that lives as long as the process (carts and label purchases hold the pointer across their
 * steps), whose functions run the current plugin's shipping_rates / shipping_create_label / shipping_track in a
 * coroutine with the caller's context, so they may wait on souq.http.request. The interface passes no provider
 * pointer, so each of the SLOTS structs has its own small trampolines (as payment.c).
 *
 * Rates are an optional hook: a failing or malformed answer only takes the option off the cart (logged and
 * counted; checkout then refuses a cart whose chosen method is not shown). Labels and tracking are required hooks:
 * their failure is the caller's 502/504. The exact inputs and outputs are in sdk/lua/reference.md.
 *
 * A plugin whose manifest declares cache.rates_ttl_s gets its successful rate answers (a price, or "not offered")
 * reused for that long for an identical request: the key is everything its shipping_rates would receive plus its name,
 * version and the registry generation (a reload or a settings change starts afresh). Per thread, bounded in bytes
 * (core/base/cache.h), no locks; errors, timeouts and malformed answers are never kept. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/buf.h"
#include "core/base/cache.h"
#include "core/base/json.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/hooks.h"
#include "plugins/host/internal.h"

#define SLOTS 16
#define AMOUNT_MAX 1000000000000LL

typedef struct {
    char id[40];
    sq_shipping_provider_t prov;
} sslot_t;

static sslot_t sslots[SLOTS];
static int nsslots;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void rates(int slot, sq_ctx_t *cx, const sq_ship_req_t *req, sq_ship_rate_cb cb, void *data);
static void label(int slot, sq_ctx_t *cx, const sq_ship_label_req_t *req, sq_ship_label_cb cb, void *data);
static void track(int slot, sq_ctx_t *cx, const char *ref, sq_ship_track_cb cb, void *data);

#define TRAMP(n)                                                                                                                   \
    static void ship_rates_##n(sq_ctx_t *cx, const sq_ship_req_t *r, sq_ship_rate_cb cb, void *d)                                  \
    {                                                                                                                              \
        rates(n, cx, r, cb, d);                                                                                                    \
    }                                                                                                                              \
    static void ship_label_##n(sq_ctx_t *cx, const sq_ship_label_req_t *r, sq_ship_label_cb cb, void *d)                           \
    {                                                                                                                              \
        label(n, cx, r, cb, d);                                                                                                    \
    }                                                                                                                              \
    static void ship_track_##n(sq_ctx_t *cx, const char *ref, sq_ship_track_cb cb, void *d)                                        \
    {                                                                                                                              \
        track(n, cx, ref, cb, d);                                                                                                  \
    }
TRAMP(0)
TRAMP(1)
TRAMP(2)
TRAMP(3)
TRAMP(4)
TRAMP(5)
TRAMP(6)
TRAMP(7)
TRAMP(8)
TRAMP(9)
TRAMP(10)
TRAMP(11)
TRAMP(12)
TRAMP(13)
TRAMP(14)
TRAMP(15)

#define T(n)                                                                                                                       \
    {                                                                                                                              \
        ship_rates_##n, ship_label_##n, ship_track_##n                                                                             \
    }
static const struct {
    void (*rates)(sq_ctx_t *, const sq_ship_req_t *, sq_ship_rate_cb, void *);
    void (*label)(sq_ctx_t *, const sq_ship_label_req_t *, sq_ship_label_cb, void *);
    void (*track)(sq_ctx_t *, const char *, sq_ship_track_cb, void *);
} tramps[SLOTS] = {T(0), T(1), T(2), T(3), T(4), T(5), T(6), T(7), T(8), T(9), T(10), T(11), T(12), T(13), T(14), T(15)};
#undef T

/* shipping option providers are [a-z0-9_]{1,32} (migrations/0020) */
static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '_'))
            return false;
    return true;
}

static const sq_shipping_provider_t *lookup(const char *id)
{
    char name[64];
    if (!valid_id(id) || sq_plugin_provider_of("shipping", id, name, sizeof(name)) == NULL)
        return NULL;
    const sq_shipping_provider_t *out = NULL;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < nsslots && strcmp(sslots[i].id, id) != 0)
        i++;
    if (i == nsslots && nsslots < SLOTS) {
        sslot_t *s = &sslots[nsslots++];
        snprintf(s->id, sizeof(s->id), "%s", id);
        s->prov.id = s->id;
        s->prov.rates = tramps[i].rates;
        s->prov.create_label = tramps[i].label;
        s->prov.track = tramps[i].track;
    }
    if (i < nsslots)
        out = &sslots[i].prov;
    else
        sq_log(SQ_LOG_ERROR, "plugin", "shipping provider %s from plugin %s not registered: more than %d plugin shipping ids", id,
               name, SLOTS);
    pthread_mutex_unlock(&lock);
    return out;
}

static const sq_shipping_plugins_t hooks = {lookup};

void sq_shipping_plugins_install(void)
{
    __atomic_store_n(&sq_shipping_plugins, &hooks, __ATOMIC_RELEASE);
}

/* The plugin providing shipping:<id> now (its name in buf), or NULL after answering err through fail. */
static const char *current(const char *id, char *buf, size_t len, sq_err_t *e)
{
    if (sq_plugin_provider_of("shipping", id, buf, len) != NULL)
        return buf;
    sq_err_clear(e);
    sq_err_set(e, SQ_E_PLUGIN_FAILED, "The %s shipping provider is no longer available; nothing was done.", id);
    return NULL;
}

static bool amount_ok(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= AMOUNT_MAX;
}

typedef struct {
    sq_ctx_t *cx;
    const char *plugin;
    const char *key; /* rates: the cache key when the answer may be reused (in cx->arena), or NULL */
    size_t klen;
    uint64_t gen;
    int ttl_s;
    sq_ship_rate_cb rate_cb;
    sq_ship_label_cb label_cb;
    sq_ship_track_cb track_cb;
    void *data;
} call_t;

static call_t *new_call(sq_ctx_t *cx, const char *plugin, void *data)
{
    call_t *c = SQ_NEW(cx->arena, call_t);
    *c = (call_t){.cx = cx, .plugin = sq_arena_strdup(cx->arena, plugin), .data = data};
    return c;
}

/* ---- rates ---------------------------------------------------------------------------------------------------- */

/* What the plugin sees of the cart: its region, shipping address and lines (copies; never the cart's secrets). */
static const char *const item_keys[] = {"variant_id", "sku", "title", "quantity", "weight_g", "requires_shipping", NULL};
static const char *const cart_keys[] = {"shipping_address", NULL};

/* the reusable answers of plugins declaring cache.rates_ttl_s, this thread's (built at first use) */
typedef struct {
    int64_t expires_us; /* sq_mono_us */
    int64_t amount;
    int64_t available;
} cached_rate_t;

static __thread sq_cache_t *rate_cache;

void sq_shipping_rates_cache_free(void)
{
    sq_cache_free(rate_cache);
    rate_cache = NULL;
}

static void remember(const call_t *c, const sq_ship_rate_t *res)
{
    if (c->key == NULL)
        return;
    if (rate_cache == NULL)
        rate_cache = sq_cache_new(SQ_PLUGIN_RATES_CACHE_BYTES);
    cached_rate_t v = {sq_mono_us() + (int64_t)c->ttl_s * 1000000, res->amount, res->available};
    uint64_t evicted = sq_cache_evictions(rate_cache);
    sq_cache_put(rate_cache, c->gen, c->key, c->klen, &v, sizeof(v));
    evicted = sq_cache_evictions(rate_cache) - evicted;
    if (evicted > 0)
        sq_plugin_rate_cache_count(-1, false, evicted);
}

/* The walk that copies a cart text into a cache key: compact (no whitespace), leaving out the members of objects at
 * nesting level keep_depth whose key is not in keep: the same selection sq_lua_push_json_text makes of the text, so
 * two carts whose plugin inputs are equal give equal keys. Strings and numbers are copied as written (an escape
 * spelled two ways only costs a reuse). */
typedef struct {
    char *o; /* where the next byte goes: the copy is never longer than the text, whose room is reserved up front */
    const char *const *keep;
    int keep_depth;
    uint64_t obj;  /* bit d: the container open at depth d is an object */
    uint64_t more; /* bit d: it has a member written already (the next one needs a comma) */
} key_walk_t;

_Static_assert(SQ_PLUGIN_DEPTH_MAX <= 64, "key_walk_t keeps a bit per depth");

static int key_on(void *ctx, const sq_jw_tok_t *t)
{
    key_walk_t *k = ctx;
    int up = t->depth - 1; /* the container holding the token */
    if (t->kind == SQ_JW_OBJECT_END || t->kind == SQ_JW_ARRAY_END) {
        *k->o++ = *t->raw;
        return 0;
    }
    if (t->kind == SQ_JW_KEY) {
        if (k->keep != NULL && up == k->keep_depth) {
            bool kept = false; /* compared decoded (the walk has an arena): the Lua reader keeps "\u0061" as "a" */
            for (const char *const *w = k->keep; *w != NULL && !kept; w++)
                kept = t->s != NULL && strlen(*w) == t->n && memcmp(*w, t->s, t->n) == 0;
            if (!kept)
                return SQ_JW_SKIP;
        }
    } else if (up < 0 || (k->obj >> up & 1) != 0) {
        goto Value; /* the top-level value, or a member's value: its key and comma are written */
    }
    if (k->more >> up & 1)
        *k->o++ = ',';
    k->more |= 1ull << up;
    if (t->kind == SQ_JW_KEY) {
        memcpy(k->o, t->raw, t->rawn);
        k->o += t->rawn;
        *k->o++ = ':';
        return 0;
    }
Value:
    if (t->kind == SQ_JW_OBJECT || t->kind == SQ_JW_ARRAY) {
        uint64_t bit = 1ull << t->depth;
        k->obj = t->kind == SQ_JW_OBJECT ? k->obj | bit : k->obj & ~bit;
        k->more &= ~bit;
    }
    memcpy(k->o, t->raw, t->rawn);
    k->o += t->rawn;
    return 0;
}

/* Appends the filtered copy of text to b; -1 when it is malformed (or too deep). */
static int key_text(sq_arena_t *a, sq_buf_t *b, const char *text, const char *const *keep, int keep_depth)
{
    size_t len = strlen(text);
    key_walk_t k = {sq_buf_reserve(b, len), keep, keep_depth, 0, 0};
    sq_jw_t w = {.fn = key_on, .ctx = &k, .max_depth = SQ_PLUGIN_DEPTH_MAX, .arena = a};
    if (sq_json_walk(&w, text, len) != 0)
        return -1;
    assert(k.o <= b->p + b->len + len);
    b->len = (size_t)(k.o - b->p);
    b->p[b->len] = '\0';
    return 0;
}

/* key parts without printf (a third of a cache hit's time was vfprintf) */
static void key_int(sq_buf_t *b, int64_t v)
{
    char d[24];
    int n = sizeof(d);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    d[--n] = '|';
    do
        d[--n] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        d[--n] = '-';
    sq_buf_add(b, d + n, sizeof(d) - (size_t)n);
}

static void key_str(sq_buf_t *b, const char *s)
{
    if (s == NULL) {
        sq_buf_add(b, "-|", 2);
        return;
    }
    size_t n = strlen(s);
    key_int(b, (int64_t)n); /* length-prefixed: no value can forge the next field */
    sq_buf_add(b, s, n);
}

/* The cache key of a rate request (everything the plugin's shipping_rates gets, and who answers it), in the arena;
 * NULL when the cart's texts cannot be read (the plugin is then simply called). */
static const char *rate_key(sq_arena_t *a, const char *plugin, const char *id, const sq_ship_req_t *req, size_t *klen)
{
    sq_buf_t b;
    sq_buf_init(&b, a, 512 + (req->items_json ? strlen(req->items_json) : 0));
    key_str(&b, plugin);
    key_str(&b, id);
    key_str(&b, req->option_id);
    key_str(&b, req->region_id);
    key_str(&b, req->currency);
    key_str(&b, req->channel_id);
    key_str(&b, req->country_code);
    key_str(&b, req->province);
    key_str(&b, req->postal_code);
    key_str(&b, req->config);
    key_int(&b, req->amount);
    key_int(&b, req->free_over);
    key_int(&b, req->item_total);
    key_int(&b, req->item_count);
    key_int(&b, req->weight_g);
    if (req->items_json != NULL && key_text(a, &b, req->items_json, item_keys, 1) != 0)
        return NULL;
    sq_buf_str(&b, "|");
    if (req->cart_json != NULL && key_text(a, &b, req->cart_json, cart_keys, 0) != 0)
        return NULL;
    *klen = b.len;
    return b.p;
}

static void on_rate(json_t *out, const sq_err_t *err, void *data)
{
    call_t *c = data;
    sq_ship_rate_cb cb = c->rate_cb;
    if (err != NULL) {
        cb(NULL, err, c->data);
        return;
    }
    sq_ship_rate_t res = {false, 0};
    if (json_is_null(out) || json_is_false(out)) {
        remember(c, &res);
        cb(&res, NULL, c->data); /* nil or false: this option is not offered for this cart */
        return;
    }
    json_t *amount = json_object_get(out, "amount"), *available = json_object_get(out, "available");
    const char *why = NULL;
    if (!json_is_object(out))
        why = "the answer is not a table (or nil)";
    else if (available != NULL && !json_is_boolean(available))
        why = "available must be a boolean";
    else if (!json_is_false(available) && !amount_ok(amount))
        why = "amount must be an integer of minor units from 0 to 10^12";
    if (why != NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_plugin_reject(c->plugin, "shipping_rates", why, &e);
        cb(NULL, &e, c->data);
        return;
    }
    res.available = !json_is_false(available);
    res.amount = res.available ? json_integer_value(amount) : 0;
    remember(c, &res);
    cb(&res, NULL, c->data);
}

static void rates(int slot, sq_ctx_t *cx, const sq_ship_req_t *req, sq_ship_rate_cb cb, void *data)
{
    const char *id = sslots[slot].id;
    char name[64];
    sq_err_t e;
    if (current(id, name, sizeof(name), &e) == NULL) {
        const sq_shipping_provider_t *b = sq_shipping_builtin(id); /* the plugin went away meanwhile */
        if (b != NULL)
            b->rates(cx, req, cb, data);
        else
            cb(NULL, &e, data);
        return;
    }
    if (req->channel_id != NULL && !sq_plugin_serves_channel(name, req->channel_id)) {
        sq_ship_rate_t no = {false, 0}; /* restricted to other sales channels (plugin_settings.sales_channels) */
        cb(&no, NULL, data);
        return;
    }
    uint64_t gen = 0;
    int stats = -1;
    int ttl = sq_plugin_rates_ttl(name, &gen, &stats);
    const char *key = NULL;
    size_t klen = 0;
    if (ttl > 0 && (key = rate_key(cx->arena, name, id, req, &klen)) != NULL && rate_cache != NULL) {
        size_t vlen = 0;
        const void *hit = sq_cache_get(rate_cache, gen, key, klen, &vlen);
        cached_rate_t v; /* stored right after the key: not aligned */
        if (hit != NULL && vlen == sizeof(v) && (memcpy(&v, hit, sizeof(v)), v.expires_us > sq_mono_us())) {
            sq_ship_rate_t res = {v.available != 0, v.amount};
            sq_plugin_rate_cache_count(stats, true, 0);
            cb(&res, NULL, data);
            return;
        }
    }
    if (ttl > 0) /* a caching plugin called: nothing stored yet, expired, another generation, or a key it cannot have */
        sq_plugin_rate_cache_count(stats, false, 0);
    json_t *in =
        json_pack("{s:s, s:s?, s:s?, s:s?, s:I, s:I, s:I, s:I, s:s?, s:s?, s:s?}", "provider", id, "option_id", req->option_id,
                  "region_id", req->region_id, "currency", req->currency, "amount", (json_int_t)req->amount, "item_total",
                  (json_int_t)req->item_total, "item_count", (json_int_t)req->item_count, "weight_g", (json_int_t)req->weight_g,
                  "country_code", req->country_code, "province", req->province, "postal_code", req->postal_code);
    if (req->free_over >= 0)
        json_object_set_new(in, "free_over", json_integer(req->free_over));
    if (req->config != NULL) {
        json_t *conf = json_loads(req->config, 0, NULL);
        if (conf != NULL)
            json_object_set_new(in, "config", conf);
    }
    /* the cart's lines and address go into Lua straight from their JSON text: parsing them into jansson first was a
     * third of the cart endpoint's time with a shipping plugin (make bench-plugins) */
    json_object_set_new(in, "items", json_array());
    sq_plugin_text_t texts[] = {{"items", req->items_json, NULL, item_keys, 1},
                                {"address", req->cart_json, "shipping_address", cart_keys, 0}};
    call_t *c = new_call(cx, name, data);
    c->rate_cb = cb;
    c->key = key;
    c->klen = klen;
    c->gen = gen;
    c->ttl_s = ttl;
    sq_plugin_call_texts(cx, name, "shipping_rates", in, texts, 2, false, on_rate, c);
    json_decref(in);
}

/* ---- labels --------------------------------------------------------------------------------------------------- */

static const char *opt_dup(sq_arena_t *a, json_t *v)
{
    return v != NULL && json_is_string(v) ? sq_arena_strdup(a, json_string_value(v)) : NULL;
}

static bool lower3(json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == 3 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z' && s[2] >= 'a' && s[2] <= 'z';
}

static void on_label(json_t *out, const sq_err_t *err, void *data)
{
    call_t *c = data;
    sq_ship_label_cb cb = c->label_cb;
    if (err != NULL) {
        cb(NULL, err, c->data);
        return;
    }
    json_t *tn = json_object_get(out, "tracking_number"), *carrier = json_object_get(out, "carrier");
    json_t *turl = json_object_get(out, "tracking_url"), *lurl = json_object_get(out, "label_url");
    json_t *cost = json_object_get(out, "cost"), *cur = json_object_get(out, "cost_currency"),
           *ref = json_object_get(out, "provider_ref");
    const char *why = NULL;
    if (!json_is_object(out))
        why = "the answer is not a table";
    else if (!sq_plugin_short_string(tn, 128))
        why = "tracking_number must be a string of 1-128 bytes";
    else if (!sq_plugin_short_string(carrier, 64))
        why = "carrier must be a string of 1-64 bytes";
    else if (!sq_plugin_short_string(lurl, 2048))
        why = "label_url must be a string of 1-2048 bytes";
    else if (turl != NULL && !sq_plugin_short_string(turl, 2048))
        why = "tracking_url must be a string of 1-2048 bytes";
    else if (ref != NULL && !sq_plugin_short_string(ref, 255))
        why = "provider_ref must be a string of 1-255 bytes";
    else if (cost != NULL && !amount_ok(cost))
        why = "cost must be an integer of minor units from 0 to 10^12";
    else if (cur != NULL && !lower3(cur))
        why = "cost_currency must be a lower-case ISO 4217 code";
    if (why != NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_plugin_reject(c->plugin, "shipping_create_label", why, &e);
        cb(NULL, &e, c->data);
        return;
    }
    sq_arena_t *a = c->cx->arena;
    sq_ship_label_t res = {opt_dup(a, tn),      opt_dup(a, turl), opt_dup(a, lurl), cost ? json_integer_value(cost) : 0,
                           opt_dup(a, carrier), opt_dup(a, ref),  opt_dup(a, cur)};
    cb(&res, NULL, c->data);
}

static json_t *loads_or_null(const char *s)
{
    json_t *j = s != NULL ? json_loads(s, 0, NULL) : NULL;
    return j != NULL ? j : json_null();
}

static void label(int slot, sq_ctx_t *cx, const sq_ship_label_req_t *req, sq_ship_label_cb cb, void *data)
{
    const char *id = sslots[slot].id;
    char name[64];
    sq_err_t e;
    if (current(id, name, sizeof(name), &e) == NULL) {
        cb(NULL, &e, data);
        return;
    }
    json_t *in = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:o, s:o}", "provider", id, "order_id", req->order_id,
                           "fulfillment_id", req->fulfillment_id, "option_id", req->option_id, "service", req->service, "currency",
                           req->currency, "idempotency_key", req->idempotency_key, "weight_g", (json_int_t)req->weight_g, "from",
                           loads_or_null(req->from_json), "to", loads_or_null(req->to_json));
    call_t *c = new_call(cx, name, data);
    c->label_cb = cb;
    sq_plugin_call_cx(cx, name, "shipping_create_label", in, false, on_label, c);
    json_decref(in);
}

/* ---- tracking ------------------------------------------------------------------------------------------------- */

static const char *const track_statuses[] = {
    "unknown", "pre_transit", "in_transit", "out_for_delivery", "delivered", "available_for_pickup", "return_to_sender",
    "failure", "cancelled",   NULL};

/* A tracking status the contract knows, or NULL. */
static const char *known_status(json_t *v)
{
    const char *s = json_string_value(v);
    for (int i = 0; s != NULL && track_statuses[i]; i++)
        if (strcmp(track_statuses[i], s) == 0)
            return track_statuses[i];
    return NULL;
}

static void on_track(json_t *out, const sq_err_t *err, void *data)
{
    call_t *c = data;
    sq_ship_track_cb cb = c->track_cb;
    if (err != NULL) {
        cb(NULL, err, c->data);
        return;
    }
    json_t *at = json_object_get(out, "delivered_at");
    const char *st = known_status(json_object_get(out, "status"));
    const char *why = NULL;
    if (!json_is_object(out))
        why = "the answer is not a table";
    else if (st == NULL)
        why = "status must be one of unknown, pre_transit, in_transit, out_for_delivery, delivered, available_for_pickup, "
              "return_to_sender, failure, cancelled";
    else if (at != NULL && (!json_is_integer(at) || json_integer_value(at) <= 0 || json_integer_value(at) > 32503680000LL))
        why = "delivered_at must be unix seconds";
    if (why != NULL) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_plugin_reject(c->plugin, "shipping_track", why, &e);
        cb(NULL, &e, c->data);
        return;
    }
    sq_ship_track_t res = {st, strcmp(st, "delivered") == 0 && at != NULL ? json_integer_value(at) * 1000000 : 0};
    cb(&res, NULL, c->data);
}

static void track(int slot, sq_ctx_t *cx, const char *ref, sq_ship_track_cb cb, void *data)
{
    const char *id = sslots[slot].id;
    char name[64];
    sq_err_t e;
    if (current(id, name, sizeof(name), &e) == NULL) {
        cb(NULL, &e, data);
        return;
    }
    json_t *in = json_pack("{s:s, s:s?}", "provider", id, "ref", ref);
    call_t *c = new_call(cx, name, data);
    c->track_cb = cb;
    sq_plugin_call_cx(cx, name, "shipping_track", in, false, on_track, c);
    json_decref(in);
}
