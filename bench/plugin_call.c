/* plugin_call.c: `make bench-plugins` (part of `make bench`): the cost of a pure request-path plugin hook. Calls
 * payment-manual's authorize through the payment bridge (coroutine, copies in and out, budgets armed) and the
 * built-in C manual provider the same number of times, then the shipping rates of a three-line cart through
 * shipping-weight-table (the shipping bridge) and the built-in flat_rate, and a three-line cart's totals without the
 * pricing adjustments hook, with it and no pricing plugin enabled, and with pricing-bulk-discount enabled; prints
 * microseconds per call of each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/arena.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/cart.h"
#include "core/hooks.h"
#include "plugins/host/host.h"

static int answered;

static void on_pay(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    (void)data;
    if (err == NULL && res->status == SQ_PAY_PENDING)
        answered++;
}

static double run(const sq_payment_provider_t *p, int n)
{
    sq_pay_req_t req = {"pay_01jbenchbenchbenchbenchbenc", "co_0123456789abcdef", "eur", 12500, NULL, NULL, "buyer@example.com"};
    int64_t start = sq_mono_us();
    for (int i = 0; i < n; i++) {
        sq_arena_t *a = sq_arena_new(); /* one per call, as a request has */
        sq_ctx_t cx = {0};
        cx.arena = a;
        p->authorize(&cx, &req, on_pay, NULL);
        sq_arena_unref(a);
    }
    return (double)(sq_mono_us() - start) / n;
}

/* ---- shipping rates for a cart: shipping-weight-table (Lua, through the shipping bridge) against flat_rate (C) ---- */

static int rated;

static void on_rate(const sq_ship_rate_t *res, const sq_err_t *err, void *data)
{
    (void)data;
    if (err == NULL && res->available)
        rated++;
}

/* distinct: every request a different cart weight, so a plugin declaring cache.rates_ttl_s is called every time (its
 * cost before reuse); otherwise every request is the same and such a plugin is called once (the cost of a reuse) */
static double run_rates(const sq_shipping_provider_t *p, int n, bool distinct)
{
    /* a cart of three lines, as the cart view hands it to a plugin provider */
    sq_ship_req_t req = {.option_id = "so_01jbenchbenchbenchbenchbenc",
                         .currency = "eur",
                         .amount = 490,
                         .free_over = -1,
                         .country_code = "de",
                         .item_total = 12500,
                         .item_count = 4,
                         .weight_g = 1650,
                         .region_id = "reg_01jbenchbenchbenchbenchbenc",
                         .cart_json = "{\"id\":\"cart_x\",\"object\":\"cart\",\"shipping_address\":{\"city\":\"Berlin\",\"postal_code\":\"10117\","
                                      "\"country_code\":\"de\"}}",
                         .items_json = "[{\"variant_id\":\"var_1\",\"sku\":\"A\",\"quantity\":2,\"weight_g\":500,\"requires_shipping\":true},"
                                       "{\"variant_id\":\"var_2\",\"sku\":\"B\",\"quantity\":1,\"weight_g\":650,\"requires_shipping\":true},"
                                       "{\"variant_id\":\"var_3\",\"sku\":\"C\",\"quantity\":1,\"weight_g\":null,\"requires_shipping\":false}]"};
    int64_t start = sq_mono_us();
    for (int i = 0; i < n; i++) {
        sq_arena_t *a = sq_arena_new();
        sq_ctx_t cx = {0};
        cx.arena = a;
        if (distinct)
            req.weight_g = i; /* the plugin weighs the lines itself: the same answer, a new key */
        p->rates(&cx, &req, on_rate, NULL);
        sq_arena_unref(a);
    }
    return (double)(sq_mono_us() - start) / n;
}

static int ship_bench(int n)
{
    json_t *setting = json_loads("{\"enabled\":true,\"config\":{\"zones\":{\"de\":[{\"max_g\":1000,\"amount\":490},"
                                 "{\"max_g\":5000,\"amount\":790},{\"amount\":1890}]}}}",
                                 0, NULL);
    sq_plugins_apply("shipping-weight-table", setting);
    json_decref(setting);
    const sq_shipping_provider_t *lua = sq_shipping_provider("weight_table");
    if (lua == NULL) {
        fprintf(stderr, "bench-plugins: plugins/shipping-weight-table is not a shipping provider\n");
        return 1;
    }
    run_rates(lua, n / 10, true);
    run_rates(&sq_shipping_flat_rate, n / 10, false);
    rated = 0;
    double us_lua = run_rates(lua, n, true), us_hit = run_rates(lua, n, false), us_c = run_rates(&sq_shipping_flat_rate, n, false);
    if (rated != 3 * n) {
        fprintf(stderr, "bench-plugins: %d of %d rates answered\n", rated, 3 * n);
        return 1;
    }
    printf("shipping rates for a cart (shipping-weight-table, %d calls): %.2f us/call in Lua, %.2f us reusing an identical "
           "request's rate (cache.rates_ttl_s), %.3f us/call in C flat_rate\n",
           n, us_lua, us_hit, us_c);
    return 0;
}

/* ---- a cart's totals: the pricing adjustments stage when no plugin provides pricing, and with one ---------------- */

static int totalled;

static void on_cart(const char *json, const sq_err_t *err, void *data)
{
    (void)data;
    if (err == NULL && json != NULL)
        totalled++;
}

static double run_cart(int n)
{
    sq_cart_row_t row = {"{\"id\":\"cart_x\",\"object\":\"cart\"}",
                         "3\tt\t{\"id\":\"cli_1\",\"variant_id\":\"var_1\",\"quantity\":3}\x1e"
                         "1\tt\t{\"id\":\"cli_2\",\"variant_id\":\"var_2\",\"quantity\":1}\x1e"
                         "12\tt\t{\"id\":\"cli_3\",\"variant_id\":\"var_3\",\"quantity\":12}",
                         "0\tp0\t1000\t0\t1\t\t\t0\t0\t0\t0\t\n1\tp1\t2500\t0\t1\t\t\t0\t0\t0\t0\t\n2\tp2\t300\t0\t1\t\t\t0\t0\t0\t0\t",
                         "eur",
                         "sc_web",
                         NULL,
                         NULL,
                         1800000000000000LL};
    int64_t start = sq_mono_us();
    for (int i = 0; i < n; i++) {
        sq_arena_t *a = sq_arena_new();
        sq_ctx_t cx = {0};
        cx.arena = a;
        sq_cart_compute(&cx, &row, on_cart, NULL);
        sq_arena_unref(a);
    }
    return (double)(sq_mono_us() - start) / n;
}

static int cart_bench(int n)
{
    const sq_pricing_plugins_t *hooks = sq_pricing_plugins;
    if (hooks == NULL || hooks->active()) {
        fprintf(stderr, "bench-plugins: the pricing hook is not installed, or a pricing plugin is enabled already\n");
        return 1;
    }
    run_cart(n / 10);
    totalled = 0;
    double us_none = 1e9, us_idle = 1e9; /* the best of three interleaved rounds each: the box is shared */
    for (int round = 0; round < 3; round++) {
        sq_pricing_plugins = NULL;
        double x = run_cart(n / 3);
        sq_pricing_plugins = hooks;
        double y = run_cart(n / 3);
        us_none = x < us_none ? x : us_none;
        us_idle = y < us_idle ? y : us_idle;
    }
    json_t *setting = json_loads("{\"enabled\":true,\"config\":{\"min_quantity\":10,\"percent_bp\":1000}}", 0, NULL);
    sq_plugins_apply("pricing-bulk-discount", setting);
    json_decref(setting);
    if (!hooks->active()) {
        fprintf(stderr, "bench-plugins: plugins/pricing-bulk-discount did not become active\n");
        return 1;
    }
    run_cart(n / 10);
    double us_lua = run_cart(n);
    if (totalled != 6 * (n / 3) + n / 10 + n) {
        fprintf(stderr, "bench-plugins: %d of %d carts totalled\n", totalled, 6 * (n / 3) + n / 10 + n);
        return 1;
    }
    printf("cart totals, 3 lines (%d carts): %.2f us without the pricing hook, %.2f us with it and no pricing plugin enabled "
           "(%+.3f us), %.2f us with pricing-bulk-discount (+%.2f us)\n",
           n, us_none, us_idle, us_idle - us_none, us_lua, us_lua - us_none);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    sq_log_set_level(SQ_LOG_ERROR);
    if (sq_plugins_init("plugins") < 1) {
        fprintf(stderr, "bench-plugins: plugins/payment-manual did not load\n");
        return 1;
    }
    const sq_payment_provider_t *lua = sq_payment_provider("manual");
    if (lua == &sq_payment_manual) {
        fprintf(stderr, "bench-plugins: the manual provider is not the plugin\n");
        return 1;
    }
    run(lua, n / 10); /* warm-up: the thread's state is built at the first call */
    run(&sq_payment_manual, n / 10);
    answered = 0;
    double us_lua = run(lua, n), us_c = run(&sq_payment_manual, n);
    if (answered != 2 * n) {
        fprintf(stderr, "bench-plugins: %d of %d calls answered pending\n", answered, 2 * n);
        return 1;
    }
    printf("plugin hook (payment-manual authorize, %d calls): %.2f us/call in Lua, %.3f us/call in C (+%.2f us)\n", n, us_lua, us_c,
           us_lua - us_c);
    if (ship_bench(n) != 0 || cart_bench(n) != 0)
        return 1;
    sq_plugins_thread_exit();
    return 0;
}
