/* plugin_call.c: `make bench-plugins` (part of `make bench`): the cost of a pure request-path plugin hook. Calls
 * payment-manual's authorize through the payment bridge (coroutine, copies in and out, budgets armed) and the
 * built-in C manual provider the same number of times, and prints microseconds per call of each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/arena.h"
#include "core/base/log.h"
#include "core/base/util.h"
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
    sq_plugins_thread_exit();
    return 0;
}
