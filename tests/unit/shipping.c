/* shipping.c: tests of the shipping and tax bridges (plugins/host/shipping.c, tax.c) with the fixture plugins of
 * tests/plugins (every contract check of an answer), the cart's shipped weight (core/cart.c sq_cart_weight) and the
 * tracking statuses (core/label.c). Runs from the repository root (make unit, make test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/arena.h"
#include "core/base/log.h"
#include "core/cart.h"
#include "core/hooks.h"
#include "core/label.h"
#include "plugins/host/host.h"
#include "tests/unit/check.h"

static void test_weight(void)
{
    /* line JSON as PostgreSQL's json_build_object writes it (cart_db.c LINE_JSON) */
    sq_cart_line_t lines[] = {
        {.json = "{\"id\" : \"l0\", \"requires_shipping\" : true, \"weight_g\" : 250, \"quantity\" : 4}",
         .qty = 4,
         .sellable = true},
        {.json = "{\"id\" : \"l1\", \"requires_shipping\" : true, \"weight_g\" : null, \"quantity\" : 3}",
         .qty = 3,
         .sellable = true},
        {.json = "{\"id\" : \"l2\", \"requires_shipping\" : false, \"weight_g\" : 900, \"quantity\" : 1}",
         .qty = 1,
         .sellable = true},
        {.json = "{\"id\" : \"l3\", \"requires_shipping\" : true, \"weight_g\" : 5000, \"quantity\" : 2}",
         .qty = 2,
         .sellable = false},
        {.json = "{\"id\" : \"l4\", \"requires_shipping\" : true, \"weight_g\" : 1200, \"quantity\" : 2}",
         .qty = 2,
         .sellable = true},
    };
    sq_cart_totals_t t = {.lines = lines, .nlines = 5};
    CHECK_INT(sq_cart_weight(&t), 4 * 250 + 2 * 1200); /* no weight counts 0; digital and unsellable lines not at all */
    t.nlines = 0;
    CHECK_INT(sq_cart_weight(&t), 0);
}

static void test_statuses(void)
{
    CHECK(sq_tracking_status_valid("delivered"));
    CHECK(sq_tracking_status_valid("pre_transit"));
    CHECK(sq_tracking_status_valid("cancelled"));
    CHECK(!sq_tracking_status_valid("Delivered"));
    CHECK(!sq_tracking_status_valid("error"));
    CHECK(!sq_tracking_status_valid(""));
    CHECK(!sq_tracking_status_valid(NULL));
}

/* ---- the bridges -------------------------------------------------------------------------------------------- */

typedef struct {
    int called;
    sq_ship_rate_t rate;
    sq_code_t code;
} rate_out_t;

static void on_rate(const sq_ship_rate_t *res, const sq_err_t *err, void *data)
{
    rate_out_t *o = data;
    o->called++;
    o->code = err ? err->code : SQ_OK;
    if (res != NULL)
        o->rate = *res;
}

static rate_out_t rate(sq_arena_t *a, const char *provider, int64_t amount, const char *country, int64_t weight_g)
{
    sq_ctx_t cx = {.arena = a};
    sq_ship_req_t req = {.option_id = "so_1",
                         .currency = "eur",
                         .amount = amount,
                         .free_over = -1,
                         .country_code = country,
                         .item_total = 1000,
                         .item_count = 1,
                         .weight_g = weight_g,
                         .cart_json = "{\"id\":\"cart_x\"}",
                         .items_json = "[{\"variant_id\":\"var_1\",\"quantity\":1,\"weight_g\":250,\"requires_shipping\":true}]"};
    rate_out_t o = {0};
    const sq_shipping_provider_t *p = sq_shipping_provider(provider);
    CHECK(p != NULL);
    if (p != NULL)
        p->rates(&cx, &req, on_rate, &o);
    CHECK_INT(o.called, 1); /* no I/O: the answer comes before rates returns */
    return o;
}

static void test_shipping_bridge(void)
{
    sq_arena_t *a = sq_arena_new();
    CHECK(sq_shipping_provider("flat_rate") == &sq_shipping_flat_rate);
    CHECK(sq_shipping_builtin("fixture") == NULL);
    const sq_shipping_provider_t *p = sq_shipping_provider("fixture");
    CHECK(p != NULL && p != &sq_shipping_flat_rate);
    CHECK(p == sq_shipping_provider("fixture")); /* one struct per id, for the life of the process */
    CHECK(p != NULL && p->create_label != NULL && p->track != NULL);
    CHECK(sq_shipping_provider("weight_table") == NULL); /* unconfigured: disabled */
    CHECK(sq_shipping_provider("Bad-Id") == NULL);
    CHECK(sq_shipping_provider("nope") == NULL);

    rate_out_t o = rate(a, "fixture", 100, "de", 250);
    CHECK_INT(o.code, SQ_OK);
    CHECK(o.rate.available);
    CHECK_INT(o.rate.amount, 2 * 100 + 3); /* 250 g: 3 started hundreds */
    o = rate(a, "fixture", 100, "fr", 0);
    CHECK_INT(o.code, SQ_OK);
    CHECK(!o.rate.available); /* nil: not offered */
    o = rate(a, "fixture", 8, "de", 0);
    CHECK_INT(o.code, SQ_OK);
    CHECK(!o.rate.available);                                             /* {available = false} */
    CHECK_INT(rate(a, "fixture", 666, "de", 0).code, SQ_E_PLUGIN_FAILED); /* raises */
    CHECK_INT(rate(a, "fixture", 7, "de", 0).code, SQ_E_PLUGIN_FAILED);   /* a number, not a table */
    CHECK_INT(rate(a, "fixture", 9, "de", 0).code, SQ_E_PLUGIN_FAILED);   /* a negative amount */
    CHECK_INT(rate(a, "fixture", 13, "de", 0).code, SQ_E_PLUGIN_TIMEOUT); /* spins */
    sq_arena_unref(a);
}

typedef struct {
    int called;
    sq_code_t code;
    int nlines;
    sq_tax_line_t lines[8];
    const char *provider; /* who computed the lines, and whether it records orders (tax_commit) */
    bool commits;
} tax_out_t;

static void on_tax(const sq_tax_res_t *res, const sq_err_t *err, void *data)
{
    tax_out_t *o = data;
    o->called++;
    o->code = err ? err->code : SQ_OK;
    o->nlines = res ? res->nlines : -1;
    o->provider = res ? res->provider : NULL;
    o->commits = res ? res->commits : false;
    for (int i = 0; res != NULL && i < res->nlines && i < 8; i++)
        o->lines[i] = res->lines[i];
}

static tax_out_t tax(sq_arena_t *a, bool inclusive)
{
    sq_ctx_t cx = {.arena = a};
    sq_tax_item_t items[] = {{"standard", 1000, 2}, {"shipping", 495, 1}};
    sq_tax_rate_t rates[] = {{"txr_1", "\"VAT\"", "\"VAT 19%\"", 1900, "standard", 1}};
    sq_tax_req_t req = {"eur", inclusive, "reg_1", "de", NULL, rates, 1, items, 2};
    tax_out_t o = {0};
    sq_tax_provider()->calculate(&cx, &req, on_tax, &o);
    CHECK_INT(o.called, 1);
    return o;
}

static void apply(const char *mode)
{
    json_t *s = json_pack("{s:b, s:{s:s}}", "enabled", 1, "config", "mode", mode);
    sq_plugins_apply("tax-fixture", s);
    json_decref(s);
}

static void test_tax_bridge(void)
{
    sq_arena_t *a = sq_arena_new();
    CHECK(sq_tax_provider() == &sq_tax_table); /* tax-fixture is unconfigured: the table */
    tax_out_t o = tax(a, false);
    CHECK_INT(o.nlines, 2);
    CHECK_STR(o.lines[0].rate_id, "txr_1");
    CHECK_INT(o.lines[0].amount, 190);
    CHECK_STR(o.provider, "table"); /* the table records nothing: no tax.commit job */
    CHECK(!o.commits);

    apply("ok");
    CHECK(sq_tax_provider() != &sq_tax_table);
    o = tax(a, false);
    CHECK_INT(o.code, SQ_OK);
    CHECK_INT(o.nlines, 2);
    CHECK_INT(o.lines[0].item, 0);
    CHECK_STR(o.lines[0].rate_id, "fx_standard");
    CHECK_STR(o.lines[0].code_json, "\"FX\"");
    CHECK_STR(o.lines[0].name_json, "\"Fixture tax\"");
    CHECK_INT(o.lines[0].rate_bp, 1000);
    CHECK_INT(o.lines[0].amount, 100);
    CHECK_STR(o.provider, "plugin:tax-fixture");
    CHECK(!o.commits); /* tax-fixture has no tax_commit */
    CHECK_INT(o.lines[1].item, 1);
    CHECK_STR(o.lines[1].rate_id, "fx_shipping");
    CHECK_INT(o.lines[1].amount, 50); /* 49.5 -> half away from zero */
    o = tax(a, true);
    CHECK_INT(o.lines[0].amount, 91); /* 1000 x 1000 / 11000 = 90.9 */

    apply("raise");
    CHECK_INT(tax(a, false).code, SQ_E_PLUGIN_FAILED);
    apply("wrong"); /* a line for an item that does not exist */
    CHECK_INT(tax(a, false).code, SQ_E_PLUGIN_FAILED);
    apply("spin");
    CHECK_INT(tax(a, false).code, SQ_E_PLUGIN_TIMEOUT);
    apply("http"); /* no context for I/O here: souq.http raises, the call fails */
    CHECK_INT(tax(a, false).code, SQ_E_PLUGIN_FAILED);

    json_t *off = json_pack("{s:b, s:{s:s}}", "enabled", 0, "config", "mode", "ok");
    sq_plugins_apply("tax-fixture", off);
    json_decref(off);
    CHECK(sq_tax_provider() == &sq_tax_table);
    sq_arena_unref(a);
}

static void on_recorded(json_t *out, const sq_err_t *err, void *data)
{
    (void)out;
    *(sq_code_t *)data = err ? err->code : SQ_OK;
}

/* The recording side of the bridge (core/tax_commit_db.c's jobs): which plugins define the optional functions, the
 * provider a recording plugin answers with, and a call without a context for I/O failing (never crashing). */
static void test_tax_recording(void)
{
    sq_arena_t *a = sq_arena_new();
    CHECK(sq_tax_plugins != NULL);
    CHECK_INT(sq_tax_plugins->defines("avatax-fixture", "tax_commit"), 1);
    CHECK_INT(sq_tax_plugins->defines("avatax-fixture", "tax_void"), 1);
    CHECK_INT(sq_tax_plugins->defines("avatax-fixture", "tax_refund"), 1);
    CHECK_INT(sq_tax_plugins->defines("tax-fixture", "tax_commit"), 0);
    CHECK_INT(sq_tax_plugins->defines("tax-fixture", "tax_calculate"), 0); /* not an optional function */
    CHECK_INT(sq_tax_plugins->defines("no-such-plugin", "tax_commit"), -1);

    json_t *on = json_pack("{s:b, s:{s:s, s:s, s:s, s:s}}", "enabled", 1, "config", "base_url", "http://127.0.0.1:9", "account_id",
                           "1", "license_key", "k", "company_code", "C");
    sq_plugins_apply("avatax-fixture", on);
    json_decref(on);
    tax_out_t o = tax(a, false);
    CHECK_INT(o.code, SQ_OK);
    CHECK_INT(o.lines[0].amount, 80); /* 8% of 1000 */
    CHECK_STR(o.provider, "plugin:avatax-fixture");
    CHECK(o.commits);

    sq_ctx_t cx = {.arena = a};
    json_t *doc = json_pack("{s:{s:s, s:s, s:i, s:[]}}", "order", "id", "order_1", "currency_code", "eur", "total", 100, "items");
    sq_code_t code = SQ_OK;
    sq_tax_plugins->record(&cx, "avatax-fixture", "tax_void", doc, on_recorded, &code);
    CHECK_INT(code, SQ_E_PLUGIN_FAILED); /* no context for I/O: souq.http raises, the job would retry */
    sq_tax_plugins->record(&cx, "no-such-plugin", "tax_commit", doc, on_recorded, &code);
    CHECK(code != SQ_OK);
    json_decref(doc);

    json_t *off = json_pack("{s:b}", "enabled", 0);
    sq_plugins_apply("avatax-fixture", off);
    json_decref(off);
    CHECK(sq_tax_provider() == &sq_tax_table);
    sq_arena_unref(a);
}

/* ---- the rate cache's key (plugins/host/shipping.c): built from the texts with the same walk as the plugin's input ---- */

/* a shipping plugin declaring cache.rates_ttl_s whose rate is the number of times it was asked, plus 1000 when the
 * first line's sku is "B": a reused answer shows as an unchanged count */
static char counter_dir[64];

static void write_counter_plugin(void)
{
    snprintf(counter_dir, sizeof(counter_dir), "/tmp/souq-ratekey-XXXXXX");
    if (mkdtemp(counter_dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/ship-counter", counter_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/ship-counter/manifest.json", counter_dir);
    FILE *f = fopen(path, "w");
    fputs("{\"name\":\"ship-counter\",\"version\":\"0.1.0\",\"sdk\":1,\"provides\":[\"shipping:counter\"],"
          "\"cache\":{\"rates_ttl_s\":300}}",
          f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/ship-counter/README.md", counter_dir);
    f = fopen(path, "w");
    fputs("# ship-counter\n\nA unit-test fixture: the rate is how often it was asked.\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/ship-counter/handler.lua", counter_dir);
    f = fopen(path, "w");
    fputs("local n = 0\n"
          "return { shipping_rates = function(conf, req)\n"
          "  n = n + 1\n"
          "  return { amount = n + ((req.items[1].sku == 'B') and 1000 or 0) }\n"
          "end }\n",
          f);
    fclose(f);
}

static void remove_counter_plugin(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/ship-counter/manifest.json", counter_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ship-counter/handler.lua", counter_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ship-counter/README.md", counter_dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ship-counter", counter_dir);
    rmdir(path);
    rmdir(counter_dir);
}

static rate_out_t rate_items(sq_arena_t *a, const char *items)
{
    sq_ctx_t cx = {.arena = a};
    sq_ship_req_t req = {.option_id = "so_1",
                         .currency = "eur",
                         .free_over = -1,
                         .country_code = "de",
                         .item_total = 1000,
                         .item_count = 1,
                         .cart_json = "{\"id\":\"cart_x\",\"shipping_address\":{\"city\":\"Berlin\"}}",
                         .items_json = items};
    rate_out_t o = {0};
    const sq_shipping_provider_t *p = sq_shipping_provider("counter");
    CHECK(p != NULL);
    if (p != NULL)
        p->rates(&cx, &req, on_rate, &o);
    CHECK_INT(o.called, 1);
    return o;
}

static void test_rate_key(void)
{
    sq_arena_t *a = sq_arena_new();
    CHECK_INT(rate_items(a, "[{\"variant_id\":\"var_1\",\"quantity\":1}]").rate.amount, 1);
    /* the same lines as the plugin gets them: other fields, another line id, blanks between tokens: reused */
    CHECK_INT(rate_items(a, "[{\"variant_id\":\"var_1\",\"quantity\":1}]").rate.amount, 1);
    CHECK_INT(
        rate_items(a, "[ {\"id\" : \"cali_2\", \"variant_id\" : \"var_1\", \"unit_price\" : 5, \"quantity\" : 1} ]").rate.amount,
        1);
    /* a field the plugin gets, whose key is written with an escape: the plugin sees sku = "B", so it is asked (the old
     * key builder compared keys as written and left this member out of the key: the rate of the first cart came back) */
    CHECK_INT(rate_items(a, "[{\"variant_id\":\"var_1\",\"\\u0073ku\":\"B\",\"quantity\":1}]").rate.amount, 1002);
    CHECK_INT(rate_items(a, "[{\"variant_id\":\"var_1\",\"sku\":\"B\",\"quantity\":1}]").rate.amount, 1003);
    CHECK_INT(rate_items(a, "[{\"variant_id\":\"var_1\",\"\\u0073ku\":\"B\",\"quantity\":1}]").rate.amount, 1002);
    /* another quantity: asked */
    CHECK_INT(rate_items(a, "[{\"variant_id\":\"var_1\",\"quantity\":2}]").rate.amount, 4);
    /* a malformed text has no key: the plugin is called, and its input cannot be read either */
    rate_out_t o = rate_items(a, "[{\"variant_id\":\"var_1\",\"quantity\":1}");
    CHECK_INT(o.code, SQ_E_PLUGIN_FAILED);
    o = rate_items(a, "[{\"variant_id\":\"\\ud800\",\"quantity\":1}]");
    CHECK_INT(o.code, SQ_E_PLUGIN_FAILED);
    CHECK_INT(rate_items(a, "[{\"variant_id\":\"var_1\",\"quantity\":1}]").rate.amount, 1); /* still reused */
    sq_arena_unref(a);
}

int main(void)
{
    sq_log_set_level(SQ_LOG_ERROR);
    test_weight();
    test_statuses();
    write_counter_plugin();
    char dirs[256];
    snprintf(dirs, sizeof(dirs), "plugins,tests/plugins,tests/plugins-tax,%s", counter_dir);
    CHECK(sq_plugins_init(dirs) >= 5);
    remove_counter_plugin(); /* loaded: the files are no longer needed */
    test_shipping_bridge();
    test_rate_key();
    test_tax_bridge();
    test_tax_recording();
    sq_plugins_thread_exit();
    return check_done("shipping");
}
