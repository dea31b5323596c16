/* plugin_host.c: tests of plugins/host: manifests, the sandbox (every escape of the fixture tests/plugins/faulty
 * fails as a sandbox violation), budgets (instructions, wall clock, memory) that pcall cannot swallow, states
 * rebuilt after a stop, the SDK, the payment bridge, the circuit breaker and reloads. Runs from the repository
 * root (make unit, make test). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/arena.h"
#include "core/base/log.h"
#include "core/base/util.h"
#include "core/hooks.h"
#include "plugins/host/internal.h"
#include "tests/unit/check.h"

static json_t *last;
static sq_err_t last_err;

static void on_call(json_t *out, const sq_err_t *err, void *data)
{
    int *called = data;
    (*called)++;
    json_decref(last);
    last = out ? json_deep_copy(out) : NULL;
    sq_err_clear(&last_err);
    if (err != NULL)
        sq_err_copy(&last_err, err);
}

/* Calls plugin.payment_authorize with data.mode = mode; returns the error code (SQ_OK on success). */
static sq_code_t authorize(const char *plugin, const char *mode)
{
    json_t *in = json_pack("{s:s, s:s, s:I, s:s, s:s, s:{s:s}}", "provider", plugin, "payment_id", "pay_1", "amount",
                           (json_int_t)100, "currency", "usd", "idempotency_key", "key_1", "data", "mode", mode);
    int called = 0;
    sq_plugin_call(plugin, "payment_authorize", in, false, on_call, &called);
    json_decref(in);
    CHECK_INT(called, 1);
    return last_err.code;
}

/* The value of souq_plugin_failures_total{plugin, reason} in the metrics text. */
static long failures(const char *plugin, const char *reason)
{
    sq_arena_t *a = sq_arena_new();
    char *m = sq_plugins_metrics(a), key[160];
    snprintf(key, sizeof(key), "souq_plugin_failures_total{plugin=\"%s\",reason=\"%s\"} ", plugin, reason);
    char *p = strstr(m, key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : 0;
    sq_arena_unref(a);
    return v;
}

/* souq_plugin_memory_bytes{plugin} */
static long memory(const char *plugin)
{
    sq_arena_t *a = sq_arena_new();
    char *m = sq_plugins_metrics(a), key[160];
    snprintf(key, sizeof(key), "souq_plugin_memory_bytes{plugin=\"%s\"} ", plugin);
    char *p = strstr(m, key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : -1;
    sq_arena_unref(a);
    return v;
}

static const char *status(void)
{
    return json_string_value(json_object_get(last, "status"));
}

/* Each mode fails with code, counted under reason. */
static void expect_fail(const char *mode, sq_code_t code, const char *reason)
{
    long before = failures("faulty", reason);
    sq_code_t got = authorize("faulty", mode);
    if (got != code || failures("faulty", reason) != before + 1)
        fprintf(stderr, "mode %s: code %d (want %d), %s failures %ld -> %ld\n", mode, got, code, reason, before,
                failures("faulty", reason));
    CHECK_INT(got, code);
    CHECK_INT(failures("faulty", reason), before + 1);
    CHECK(strstr(last_err.detail, "secret plugin text") == NULL); /* clients never see plugin text */
}

/* The fixtures that must be refused (each for its own reason, checked by name below and in the API tests). */
static const char *const refused_fixtures[] = {"broken-manifest", "broken-syntax", NULL};

/* The plugin folders (subfolders with a manifest.json) of dir, less the fixtures that must be refused: what a load of
 * dir must publish. Counted from the tree, so adding a bundled plugin or a fixture does not break the tests. */
static int loadable_folders(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s/manifest.json", dir, e->d_name);
        bool refused = false;
        for (int i = 0; refused_fixtures[i] != NULL; i++)
            refused |= strcmp(e->d_name, refused_fixtures[i]) == 0;
        if (e->d_name[0] != '.' && !refused && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

static void test_load(void)
{
    int expected = loadable_folders("plugins") + loadable_folders("tests/plugins");
    CHECK(loadable_folders("plugins") > 0 && loadable_folders("tests/plugins") > 0); /* the tree was found: not 0 == 0 */
    /* every folder but the broken fixtures */
    CHECK_INT(sq_plugins_init("plugins,tests/plugins"), expected);
    char name[64];
    CHECK_STR(sq_plugin_provider_of("payment", "manual", name, sizeof(name)), "payment-manual");
    CHECK_STR(sq_plugin_provider_of("payment", "faulty", name, sizeof(name)), "faulty");
    CHECK(sq_plugin_provider_of("payment", "broken", name, sizeof(name)) == NULL);
    CHECK(sq_plugin_provider_of("payment", "broken_syntax", name, sizeof(name)) == NULL);
    CHECK(sq_plugin_provider_of("shipping", "manual", name, sizeof(name)) == NULL);
    CHECK(sq_plugin_provider_of("payment", "needs_config", name, sizeof(name)) == NULL); /* a required setting is missing */
}

static void test_manifests(void)
{
    char dir[] = "/tmp/souq-plugin-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512], err[512];
    static const struct {
        const char *manifest, *handler, *want;
    } cases[] = {
        {"{", "return {}", "manifest.json line"},
        {"[]", "return {}", "must be an object"},
        {"{\"name\":\"Bad Name\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "return {}", "name must be"},
        {"{\"name\":\"reload\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "return {}", "reserved"},
        {"{\"name\":\"a\",\"version\":\"1.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "return {}", "semantic version"},
        {"{\"name\":\"a\",\"version\":\"01.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "return {}", "semantic version"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":2,\"provides\":[\"payment:x\"]}", "return {}", "sdk 2 is not supported"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[]}", "return {}", "provides must be"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"teleport:x\"]}", "return {}", "unknown kind"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"],\"extra\":1}", "return {}", "unknown key"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"],\"config\":{\"k\":{\"type\":\"string\"}}}",
         "return {}", "description is required"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"],\"config\":{\"k\":{\"type\":\"float\","
         "\"description\":\"d\"}}}",
         "return {}", "type must be one of"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"],\"config\":{\"k\":{\"type\":\"integer\","
         "\"description\":\"d\",\"default\":\"five\"}}}",
         "return {}", "the default of config/k: Must be an integer."},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"],\"limits\":{\"memory_mb\":0}}", "return {}",
         "limits.memory_mb"},
        /* cache.rates_ttl_s: an integer of seconds 0..3600, only for shipping providers */
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{\"rates_ttl_s\":3601}}",
         "return {}", "cache.rates_ttl_s must be an integer from 0 to 3600"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{\"rates_ttl_s\":-1}}",
         "return {}", "cache.rates_ttl_s must be an integer from 0 to 3600"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{\"rates_ttl_s\":\"60\"}}",
         "return {}", "cache.rates_ttl_s must be an integer"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{\"rates_ttl_s\":1.5}}",
         "return {}", "cache.rates_ttl_s must be an integer"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":60}", "return {}",
         "cache must be an object"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{\"ttl\":60}}", "return {}",
         "cache: unknown key \"ttl\""},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"],\"cache\":{\"rates_ttl_s\":60}}",
         "return {}", "cache.rates_ttl_s needs a shipping provider"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "return {}",
         "no function payment_authorize"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"pricing:x\"]}", "return {}",
         "no function pricing_adjust"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "return 42",
         "must return the plugin's table"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "return {", "handler.lua"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "while true do end", "timeout"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "io.open('x')", "sandbox_violation"},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:x\"]}", "\x1bLua", "handler.lua"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), "%s/manifest.json", dir);
        FILE *f = fopen(path, "w");
        fputs(cases[i].manifest, f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/handler.lua", dir);
        f = fopen(path, "w");
        fputs(cases[i].handler, f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/README.md", dir);
        f = fopen(path, "w");
        fputs("# a\n", f);
        fclose(f);
        err[0] = '\0';
        sq_pdef_t *d = sq_pdef_load(dir, err, sizeof(err));
        CHECK(d == NULL);
        CHECK_CONTAINS(err, cases[i].want);
        sq_pdef_unref(d);
    }
    /* a shipping plugin may declare how long its rates are reused (0 and absent: never) */
    static const struct {
        const char *manifest;
        int ttl;
    } ok[] = {
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{\"rates_ttl_s\":300}}", 300},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{\"rates_ttl_s\":3600}}", 3600},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{\"rates_ttl_s\":0}}", 0},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"],\"cache\":{}}", 0},
        {"{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"shipping:x\"]}", 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(path, sizeof(path), "%s/manifest.json", dir);
        FILE *f = fopen(path, "w");
        fputs(ok[i].manifest, f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/handler.lua", dir);
        f = fopen(path, "w");
        fputs("return { shipping_rates = function(conf, req) return nil end }", f);
        fclose(f);
        err[0] = '\0';
        sq_pdef_t *d = sq_pdef_load(dir, err, sizeof(err));
        CHECK_STR(err, "");
        CHECK(d != NULL);
        if (d != NULL)
            CHECK_INT(d->rates_ttl_s, ok[i].ttl);
        sq_pdef_unref(d);
    }
    /* the bundled shipping plugins declare theirs */
    static const struct {
        const char *dir;
        int ttl;
    } bundled[] = {{"plugins/shipping-weight-table", 300}, {"plugins/shipping-easypost", 60}};
    for (size_t i = 0; i < sizeof(bundled) / sizeof(bundled[0]); i++) {
        sq_pdef_t *d = sq_pdef_load(bundled[i].dir, err, sizeof(err));
        CHECK(d != NULL);
        if (d != NULL)
            CHECK_INT(d->rates_ttl_s, bundled[i].ttl);
        sq_pdef_unref(d);
    }
    /* a README is required */
    snprintf(path, sizeof(path), "%s/README.md", dir);
    unlink(path);
    CHECK(sq_pdef_load(dir, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "README.md");
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/handler.lua", dir);
    unlink(path);
    rmdir(dir);
}

static void test_config(void)
{
    char err[512];
    sq_pdef_t *d = sq_pdef_load("tests/plugins/faulty", err, sizeof(err));
    CHECK(d != NULL);
    if (d == NULL)
        return;
    sq_err_t e;
    sq_err_clear(&e);
    json_t *c = sq_pdef_config(d, NULL, &e);
    CHECK_STR(json_string_value(json_object_get(c, "label")), "faulty"); /* defaults */
    json_decref(c);
    json_t *in = json_pack("{s:s}", "label", "mine");
    c = sq_pdef_config(d, in, &e);
    CHECK_STR(json_string_value(json_object_get(c, "label")), "mine");
    CHECK_STR(json_string_value(json_object_get(c, "secret_key")), "sk_fixture");
    json_decref(c);
    json_decref(in);
    in = json_pack("{s:i}", "label", 5);
    CHECK(sq_pdef_config(d, in, &e) == NULL);
    CHECK_INT(e.code, SQ_E_VALIDATION);
    CHECK_STR(e.fields[0].pointer, "/config/label");
    json_decref(in);
    sq_err_clear(&e);
    in = json_pack("{s:s}", "nope", "x");
    CHECK(sq_pdef_config(d, in, &e) == NULL);
    CHECK_INT(e.code, SQ_E_UNKNOWN_FIELD);
    json_decref(in);
    sq_pdef_unref(d);
}

static void test_sandbox(void)
{
    CHECK_INT(authorize("faulty", "ok"), SQ_OK);
    CHECK_STR(status(), "authorized");
    /* budgets: the instruction count, also inside pcall and coroutines */
    expect_fail("loop", SQ_E_PLUGIN_TIMEOUT, "timeout");
    expect_fail("pcall_loop", SQ_E_PLUGIN_TIMEOUT, "timeout");
    expect_fail("coroutine_loop", SQ_E_PLUGIN_TIMEOUT, "timeout");
    /* the Lua stack reaches the 8 MiB cap before its own limit (the fixture's wall_ms is 5 s, so that a loaded box
     * running this under ASan does not turn the memory stop into a timeout) */
    expect_fail("recursion", SQ_E_PLUGIN_FAILED, "memory");
    /* memory */
    expect_fail("oom", SQ_E_PLUGIN_FAILED, "memory");
    expect_fail("oom_pcall", SQ_E_PLUGIN_FAILED, "memory");
    expect_fail("rep_bomb", SQ_E_PLUGIN_FAILED, "memory");
    /* errors */
    expect_fail("error", SQ_E_PLUGIN_FAILED, "error");
    expect_fail("error_table", SQ_E_PLUGIN_FAILED, "error");
    expect_fail("error_nil", SQ_E_PLUGIN_FAILED, "error");
    expect_fail("yield", SQ_E_PLUGIN_FAILED, "error");
    expect_fail("pattern", SQ_E_PLUGIN_FAILED, "error"); /* subject over 64 KiB */
    /* escapes */
    static const char *const escapes[] = {"io",           "os_execute",    "os_getenv",           "require",
                                          "package",      "dofile",        "load_bytecode",       "string_dump",
                                          "method_dump",  "debug",         "setmetatable_shared", "rawset_shared",
                                          "global_write", "library_write", "souq_write",          "collectgarbage",
                                          "gc_metamethod"};
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++)
        expect_fail(escapes[i], SQ_E_PLUGIN_FAILED, "sandbox_violation");
    /* outputs the host cannot turn into JSON, or too large */
    expect_fail("huge_output", SQ_E_PLUGIN_FAILED, "output_too_large");
    expect_fail("nan", SQ_E_PLUGIN_FAILED, "error");
    expect_fail("cyclic", SQ_E_PLUGIN_FAILED, "error");
    expect_fail("function_value", SQ_E_PLUGIN_FAILED, "error");
    expect_fail("holes", SQ_E_PLUGIN_FAILED, "error");
    /* after all of that, the environment is pristine */
    CHECK_INT(authorize("faulty", "pristine"), SQ_OK);
    CHECK_STR(status(), "authorized");
    /* the state is rebuilt after a timeout or out-of-memory (its plugin-level counter starts again), and kept
     * after a plain error */
    CHECK_INT(authorize("faulty", "counter"), SQ_OK);
    CHECK_INT(authorize("faulty", "counter"), SQ_OK);
    CHECK_STR(json_string_value(json_object_get(last, "provider_ref")), "n2");
    CHECK_INT(authorize("faulty", "error"), SQ_E_PLUGIN_FAILED);
    CHECK_INT(authorize("faulty", "counter"), SQ_OK);
    CHECK_STR(json_string_value(json_object_get(last, "provider_ref")), "n3");
    CHECK_INT(authorize("faulty", "loop"), SQ_E_PLUGIN_TIMEOUT);
    CHECK_INT(authorize("faulty", "counter"), SQ_OK);
    CHECK_STR(json_string_value(json_object_get(last, "provider_ref")), "n1");
    CHECK_INT(authorize("faulty", "oom"), SQ_E_PLUGIN_FAILED);
    CHECK_INT(memory("faulty"), 0); /* the 8 MiB state was closed: its memory is back */
    CHECK_INT(authorize("faulty", "counter"), SQ_OK);
    CHECK(memory("faulty") > 0 && memory("faulty") < 1024 * 1024);
    CHECK_STR(json_string_value(json_object_get(last, "provider_ref")), "n1");
    /* the wall-clock budget (the slow fixture has a 1e9-instruction budget and 50 ms) */
    long before = failures("slow", "timeout");
    CHECK_INT(authorize("slow", "x"), SQ_E_PLUGIN_TIMEOUT);
    CHECK_INT(failures("slow", "timeout"), before + 1);
    /* unknown or refused plugins */
    CHECK_INT(authorize("nope", "ok"), SQ_E_PLUGIN_FAILED);
    CHECK_INT(authorize("broken-syntax", "ok"), SQ_E_PLUGIN_FAILED);
}

static void test_sdk(void)
{
    CHECK_INT(authorize("faulty", "sdk"), SQ_OK);
    CHECK_STR(json_string_value(json_object_get(last, "sdk")),
              "1.0|faulty|[1,2,3]|c|nil|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad|"
              "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8|truefalse|16|aGVsbG8/|hello?|aGVsbG8_|01ff|hexok|"
              "3,195,-3|34+33+33|false|true|1970-01-01T00:00:00Z|faulty|sk_fixture|false|sdk|100");
}

/* ---- the payment bridge ---------------------------------------------------------------------------------------- */

static sq_pay_res_t pay_res;
static sq_err_t pay_err;
static int pay_called;

static void on_pay(const sq_pay_res_t *res, const sq_err_t *err, void *data)
{
    sq_arena_t *a = data;
    pay_called++;
    sq_err_clear(&pay_err);
    memset(&pay_res, 0, sizeof(pay_res));
    if (err != NULL)
        sq_err_copy(&pay_err, err);
    else {
        pay_res = *res;
        pay_res.provider_ref = sq_arena_strdup(a, res->provider_ref);
        pay_res.next_action = sq_arena_strdup(a, res->next_action);
        pay_res.decline_code = sq_arena_strdup(a, res->decline_code);
    }
}

static void pay(sq_arena_t *a, const char *provider, const char *data)
{
    sq_ctx_t cx = {0};
    cx.arena = a;
    sq_pay_req_t req = {"pay_9", "co_key", "usd", 1250, data, "ref_1", "buyer@example.com"};
    const sq_payment_provider_t *p = sq_payment_provider(provider);
    CHECK(p != NULL);
    pay_called = 0;
    if (p != NULL)
        p->authorize(&cx, &req, on_pay, a);
    CHECK_INT(pay_called, 1);
}

static void test_bridge(void)
{
    sq_arena_t *a = sq_arena_new();
    const sq_payment_provider_t *manual = sq_payment_provider("manual");
    CHECK(manual != NULL && manual != &sq_payment_manual); /* the plugin, not the built-in */
    CHECK(sq_payment_provider("test") == &sq_payment_test);
    CHECK(sq_payment_provider("nope") == NULL);
    CHECK_CONTAINS(sq_payment_provider_ids(), "faulty");
    pay(a, "manual", NULL);
    CHECK_INT(pay_err.code, SQ_OK);
    CHECK_INT(pay_res.status, SQ_PAY_PENDING);
    CHECK_STR(pay_res.provider_ref, "pay_9");
    sq_ctx_t cx = {0};
    cx.arena = a;
    sq_pay_req_t req = {"pay_9", "co_key", "usd", 1250, NULL, "pay_9", NULL};
    manual->capture(&cx, &req, on_pay, a);
    CHECK_INT(pay_res.status, SQ_PAY_CAPTURED);
    manual->cancel(&cx, &req, on_pay, a);
    CHECK_INT(pay_res.status, SQ_PAY_VOIDED);
    manual->refund(&cx, &req, on_pay, a);
    CHECK_INT(pay_res.status, SQ_PAY_REFUNDED);
    /* the provider's payment data rules come from the manifest */
    const sq_payment_provider_t *faulty = sq_payment_provider("faulty");
    CHECK(faulty != NULL && faulty->data_fields != NULL && strcmp(faulty->data_fields[0].name, "mode") == 0);
    CHECK(faulty != NULL && (faulty->data_fields[0].flags & SQ_F_REQUIRED));
    pay(a, "faulty", "{\"mode\":\"echo\"}");
    CHECK_STR(pay_res.provider_ref, "co_key"); /* the checkout's idempotency key reaches the plugin */
    pay(a, "faulty", "{\"mode\":\"requires_action\"}");
    CHECK_INT(pay_res.status, SQ_PAY_REQUIRES_ACTION);
    CHECK_CONTAINS(pay_res.next_action, "\"redirect_to_url\"");
    CHECK_CONTAINS(pay_res.next_action, "https://bank.example/3ds/pay_9");
    pay(a, "faulty", "{\"mode\":\"declined\"}");
    CHECK_INT(pay_res.status, SQ_PAY_DECLINED);
    CHECK_STR(pay_res.decline_code, "card_declined");
    /* answers that break the contract */
    static const char *const bad[] = {"{\"mode\":\"bad_return\"}", "{\"mode\":\"bad_status\"}", "{\"mode\":\"no_next_action\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long before = failures("faulty", "error");
        pay(a, "faulty", bad[i]);
        CHECK_INT(pay_err.code, SQ_E_PLUGIN_FAILED);
        CHECK_INT(failures("faulty", "error"), before + 1);
    }
    pay(a, "faulty", "{\"mode\":\"loop\"}");
    CHECK_INT(pay_err.code, SQ_E_PLUGIN_TIMEOUT);
    sq_arena_unref(a);
}

static void test_breaker(void)
{
    for (int i = 0; i < 5; i++)
        CHECK_INT(authorize("flaky", "x"), SQ_E_PLUGIN_FAILED);
    CHECK_INT(failures("flaky", "error"), 5);
    CHECK_INT(authorize("flaky", "x"), SQ_E_PLUGIN_DEGRADED); /* fails fast while open */
    CHECK_INT(failures("flaky", "degraded"), 1);
    CHECK(last_err.retry_after == 30);
    sq_arena_t *a = sq_arena_new();
    CHECK_CONTAINS(sq_plugins_metrics(a), "souq_plugin_degraded{plugin=\"flaky\"} 1");
    CHECK_CONTAINS(sq_plugins_metrics(a), "souq_plugin_degraded{plugin=\"faulty\"} 0");
    sq_arena_unref(a);
}

/* ---- reloads ------------------------------------------------------------------------------------------------------ */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_reload(void)
{
    char root[] = "/tmp/souq-plugins-XXXXXX", dir[600];
    CHECK(mkdtemp(root) != NULL);
    snprintf(dir, sizeof(dir), "%s/greeter", root);
    mkdir(dir, 0755);
    write_file(dir, "README.md", "# greeter\n");
    write_file(dir, "manifest.json",
               "{\"name\":\"greeter\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"events:greet\"],"
               "\"config\":{\"word\":{\"type\":\"string\",\"description\":\"The greeting.\",\"default\":\"hello\"}}}");
    write_file(dir, "handler.lua", "return { on_event = function(conf, e) return { said = conf.word .. ' v1' } end }");
    json_t *rep = sq_plugins_reload(root);
    CHECK_INT(json_array_size(json_object_get(rep, "loaded")), 1);
    uint64_t gen = sq_preg_generation();
    json_decref(rep);
    int called = 0;
    json_t *in = json_object();
    sq_plugin_call("greeter", "on_event", in, true, on_call, &called);
    CHECK_STR(json_string_value(json_object_get(last, "said")), "hello v1");
    /* a new version is swapped in at the next call */
    write_file(dir, "handler.lua", "return { on_event = function(conf, e) return { said = conf.word .. ' v2' } end }");
    write_file(dir, "manifest.json",
               "{\"name\":\"greeter\",\"version\":\"1.1.0\",\"sdk\":1,\"provides\":[\"events:greet\"],"
               "\"config\":{\"word\":{\"type\":\"string\",\"description\":\"The greeting.\",\"default\":\"hello\"}}}");
    json_decref(sq_plugins_reload(root));
    CHECK(sq_preg_generation() == gen + 1);
    sq_plugin_call("greeter", "on_event", in, true, on_call, &called);
    CHECK_STR(json_string_value(json_object_get(last, "said")), "hello v2");
    /* a version that fails to load is reported and the previous one stays */
    write_file(dir, "handler.lua", "return { on_event = function(conf, e) return oops( end }");
    write_file(dir, "manifest.json",
               "{\"name\":\"greeter\",\"version\":\"1.2.0\",\"sdk\":1,\"provides\":[\"events:greet\"],"
               "\"config\":{\"word\":{\"type\":\"string\",\"description\":\"The greeting.\",\"default\":\"hello\"}}}");
    rep = sq_plugins_reload(root);
    CHECK_INT(json_array_size(json_object_get(rep, "loaded")), 0);
    json_t *r0 = json_array_get(json_object_get(rep, "refused"), 0);
    CHECK_STR(json_string_value(json_object_get(r0, "kept_version")), "1.1.0");
    CHECK_CONTAINS(json_string_value(json_object_get(r0, "error")), "handler.lua");
    json_decref(rep);
    sq_plugin_call("greeter", "on_event", in, true, on_call, &called);
    CHECK_STR(json_string_value(json_object_get(last, "said")), "hello v2");
    /* a plugin with a required setting and no value loads disabled */
    write_file(dir, "handler.lua", "return { on_event = function(conf, e) return { said = conf.word } end }");
    write_file(dir, "manifest.json",
               "{\"name\":\"greeter\",\"version\":\"2.0.0\",\"sdk\":1,\"provides\":[\"events:greet\"],"
               "\"config\":{\"word\":{\"type\":\"string\",\"description\":\"The greeting.\",\"required\":true}}}");
    json_decref(sq_plugins_reload(root));
    sq_err_clear(&last_err);
    sq_plugin_call("greeter", "on_event", in, true, on_call, &called);
    CHECK_INT(last_err.code, SQ_E_PLUGIN_FAILED);
    /* a setting applied by a PATCH is not undone by a reload that read the table before that PATCH committed */
    json_t *newer = json_pack("{s:b, s:{s:s}, s:I}", "enabled", 1, "config", "word", "newer", "updated_at", (json_int_t)200);
    sq_plugins_apply("greeter", newer);
    sq_plugin_call("greeter", "on_event", in, true, on_call, &called);
    CHECK_STR(json_string_value(json_object_get(last, "said")), "newer");
    json_t *older =
        json_pack("{s:{s:b, s:{s:s}, s:I}}", "greeter", "enabled", 1, "config", "word", "older", "updated_at", (json_int_t)100);
    sq_plugins_set_settings(older);
    json_decref(sq_plugins_reload(root));
    sq_plugin_call("greeter", "on_event", in, true, on_call, &called);
    CHECK_STR(json_string_value(json_object_get(last, "said")), "newer");
    json_decref(newer);
    json_decref(older);
    json_decref(in);
    CHECK_INT(called, 6);
    char path[700];
    static const char *const files[] = {"README.md", "manifest.json", "handler.lua"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    rmdir(root);
    /* back to the fixtures for whatever runs next */
    json_decref(sq_plugins_reload("plugins,tests/plugins"));
}

/* ---- souq.http through a fake client ------------------------------------------------------------------------- */

static struct {
    bool immediate;      /* answer inside the request call (no yield) */
    sq_http_error_t err; /* the answer's error */
    int count;
    sq_http_request_t rq; /* the last request (strings in the context's arena) */
    sq_http_cb cb;
    void *data;
} fake;

static void fake_http(sq_ctx_t *cx, const sq_http_request_t *rq, sq_http_cb cb, void *data)
{
    (void)cx;
    fake.count++;
    fake.rq = *rq;
    fake.cb = cb;
    fake.data = data;
    if (fake.immediate) {
        sq_http_response_t res = {fake.err, "refused by the fake", 0, NULL, 0, NULL, 0, 0, NULL};
        cb(&res, data);
    }
}

/* Answers the pending request: 201 with a header and a body. */
static void fake_answer(void)
{
    static const sq_http_header_t h[] = {{"X-Answer", "yes"}, {"content-type", "text/plain"}};
    sq_http_response_t res = {SQ_HTTP_OK, NULL, 201, h, 2, "paid", 4, 0, "192.0.2.1"};
    sq_http_cb cb = fake.cb;
    fake.cb = NULL;
    cb(&res, fake.data);
}

static sq_code_t authorize_cx(sq_ctx_t *cx, const char *mode, int *called)
{
    json_t *in = json_pack("{s:s, s:s, s:I, s:s, s:s, s:{s:s}}", "provider", "faulty", "payment_id", "pay_1", "amount",
                           (json_int_t)100, "currency", "usd", "idempotency_key", "key_1", "data", "mode", mode);
    *called = 0;
    sq_plugin_call_cx(cx, "faulty", "payment_authorize", in, false, on_call, called);
    json_decref(in);
    return last_err.code;
}

static void test_http(void)
{
    sq_arena_t *a = sq_arena_new();
    sq_ctx_t cx = {0};
    cx.arena = a;
    cx.http = fake_http;
    int called;
    /* the call suspends while the request is out, and resumes with the answer */
    memset(&fake, 0, sizeof(fake));
    authorize_cx(&cx, "http", &called);
    CHECK_INT(called, 0);
    CHECK_INT(fake.count, 1);
    CHECK_STR(fake.rq.method, "POST");
    CHECK_STR(fake.rq.url, "https://gw.example/pay");
    CHECK_INT((int)fake.rq.body_len, 10);
    CHECK(fake.rq.body != NULL && memcmp(fake.rq.body, "amount=100", 10) == 0);
    CHECK_INT(fake.rq.nheaders, 2);
    CHECK_INT(fake.rq.total_timeout_ms, 2000); /* 2500 rounded down to a step */
    CHECK_INT((int)fake.rq.max_response_bytes, SQ_PLUGIN_HTTP_RESPONSE_MAX);
    bool key_seen = false;
    for (int i = 0; i < fake.rq.nheaders; i++)
        key_seen |= strcmp(fake.rq.headers[i].name, "Idempotency-Key") == 0 && strcmp(fake.rq.headers[i].value, "key_1") == 0;
    CHECK(key_seen);
    /* meanwhile another call on the same state runs and finishes */
    CHECK_INT(authorize("faulty", "ok"), SQ_OK);
    usleep(250 * 1000); /* longer than the wall-clock budget (200 ms): waiting does not count against it */
    fake_answer();
    CHECK_INT(called, 1);
    CHECK_INT(last_err.code, SQ_OK);
    CHECK_STR(json_string_value(json_object_get(last, "provider_ref")), "201:yes:paid");
    /* a transport failure is an error table the plugin can pcall; answered at once (no yield) or later */
    for (int immediate = 0; immediate <= 1; immediate++) {
        memset(&fake, 0, sizeof(fake));
        fake.immediate = immediate;
        fake.err = SQ_HTTP_E_SSRF_BLOCKED;
        authorize_cx(&cx, "http_error", &called);
        if (!immediate) {
            CHECK_INT(called, 0);
            sq_http_response_t res = {SQ_HTTP_E_TIMEOUT, "total timeout", 0, NULL, 0, NULL, 0, 0, NULL};
            fake.cb(&res, fake.data);
        }
        CHECK_INT(called, 1);
        CHECK_STR(json_string_value(json_object_get(last, "decline_code")), immediate ? "ssrf_blocked" : "timeout");
    }
    /* without a context: unavailable */
    CHECK_INT(authorize("faulty", "http_error"), SQ_OK);
    CHECK_STR(json_string_value(json_object_get(last, "decline_code")), "unavailable");
    /* forbidden headers and calls from a plugin's own coroutine fail the call; nothing is sent */
    memset(&fake, 0, sizeof(fake));
    CHECK_INT(authorize_cx(&cx, "http_bad_header", &called), SQ_E_PLUGIN_FAILED);
    CHECK_INT(authorize_cx(&cx, "http_in_coroutine", &called), SQ_E_PLUGIN_FAILED);
    CHECK_INT(fake.count, 0);
    sq_arena_unref(a);
}

/* sdk/lua/souq.lua has a stub for every function the host installs under souq, and none for a function it does not */
static void test_stubs(void)
{
    char err[512];
    size_t len = 0;
    char *stubs = sq_plugin_read_file("sdk/lua/souq.lua", 1 << 20, &len, err, sizeof(err));
    CHECK(stubs != NULL);
    sq_pdef_t *d = sq_pdef_load("plugins/payment-manual", err, sizeof(err));
    sq_pstate_t *ps = d ? sq_pstate_new(d, err, sizeof(err)) : NULL;
    CHECK(ps != NULL);
    if (stubs == NULL || ps == NULL)
        return;
    static const char walk[] = "local out = {}\n"
                               "for lib, t in pairs(souq) do\n"
                               "  if type(t) == 'table' and lib ~= 'config' and lib ~= 'plugin' then\n"
                               "    for name, f in pairs(t) do\n"
                               "      if type(f) == 'function' then out[#out + 1] = 'souq.' .. lib .. '.' .. name end\n"
                               "    end\n"
                               "  end\n"
                               "end\n"
                               "return table.concat(out, ' ')\n";
    lua_State *L = ps->L;
    CHECK_INT(luaL_loadbufferx(L, walk, sizeof(walk) - 1, "=walk", "t"), LUA_OK);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ps->env_ref);
    lua_setupvalue(L, -2, 1);
    CHECK_INT(lua_pcall(L, 0, 1, 0), LUA_OK);
    const char *got = lua_tostring(L, -1) ? lua_tostring(L, -1) : "";
    size_t glen = strlen(got);
    char *all = sq_xmalloc(glen + 3), *names = sq_xstrdup(got); /* all: " a b c " for whole-word lookups */
    snprintf(all, glen + 3, " %s ", got);
    lua_pop(L, 1);
    int installed = 0;
    for (char *save = NULL, *n = strtok_r(names, " ", &save); n != NULL; n = strtok_r(NULL, " ", &save)) {
        char want[128];
        snprintf(want, sizeof(want), "function %s(", n);
        if (strstr(stubs, want) == NULL)
            fprintf(stderr, "sdk/lua/souq.lua has no stub for %s\n", n);
        CHECK(strstr(stubs, want) != NULL);
        installed++;
    }
    CHECK(installed >= 25);
    /* and every stub is a function the host installs */
    int stubbed = 0;
    for (const char *p = stubs; (p = strstr(p, "\nfunction souq.")) != NULL; p++) {
        const char *name = p + 10, *end = strchr(name, '(');
        char word[128];
        snprintf(word, sizeof(word), " %.*s ", end ? (int)(end - name) : 0, name);
        if (strstr(all, word) == NULL)
            fprintf(stderr, "sdk/lua/souq.lua stubs%sbut the host installs no such function\n", word);
        CHECK(strstr(all, word) != NULL);
        stubbed++;
    }
    CHECK_INT(stubbed, installed);
    free(all);
    free(names);
    sq_pstate_free(ps);
    sq_pdef_unref(d);
    free(stubs);
}

/* sq_lua_push_json_text under a protected call: 0 with the value on top, or -1 (it raised) */
static const char *jt_keep[] = {"a", "b", NULL};
static int jt_push(lua_State *L)
{
    size_t n;
    const char *t = lua_tolstring(L, 1, &n);
    sq_lua_push_json_text(L, t, n, lua_toboolean(L, 2) ? jt_keep : NULL, (int)lua_tointeger(L, 3));
    return 1;
}

/* the text decoder (the cart path's lines straight into Lua) agrees with jansson (an empty array reads back as {}: a
 * Lua table cannot tell, so none is compared), keeps only asked keys, raises on malformed input */
static void test_json_text(void)
{
    lua_State *L = luaL_newstate();
    static const char *same[] = {
        "{\"s\":\"plain\",\"e\":\"q\\\"b\\\\s\\/n\\nt\\tu\\u00e9\\u20ac\\ud83d\\ude00\",\"i\":-42,\"big\":9007199254740993,"
        "\"f\":1.5,\"x\":1e3,\"t\":true,\"n\":false,\"a\":[1,[2,{\"k\":\"v\"}],[3]],\"o\":{}}",
        "[ 1 , \"two\" ,\t{ \"three\" : 3 } ]",
        "\"just a string\"",
        "-0.25",
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(same); i++) {
        lua_pushcfunction(L, jt_push);
        lua_pushstring(L, same[i]);
        lua_pushboolean(L, 0);
        lua_pushinteger(L, 0);
        CHECK_INT(lua_pcall(L, 3, 1, 0), LUA_OK);
        size_t bytes = 0;
        char why[128];
        json_t *got = sq_lua_to_json(L, -1, 0, &bytes, why, sizeof(why)), *want = json_loads(same[i], JSON_DECODE_ANY, NULL);
        CHECK(got != NULL && want != NULL && json_equal(got, want));
        json_decref(got);
        json_decref(want);
        lua_settop(L, 0);
    }
    /* nulls in objects are left out; keep_depth 1 keeps a and b of each element */
    lua_pushcfunction(L, jt_push);
    lua_pushstring(L, "[{\"a\":1,\"b\":null,\"c\":{\"a\":2}},{\"b\":\"x\",\"z\":[1]}]");
    lua_pushboolean(L, 1);
    lua_pushinteger(L, 1);
    CHECK_INT(lua_pcall(L, 3, 1, 0), LUA_OK);
    size_t bytes = 0;
    char why[128];
    json_t *got = sq_lua_to_json(L, -1, 0, &bytes, why, sizeof(why)), *want = json_loads("[{\"a\":1},{\"b\":\"x\"}]", 0, NULL);
    CHECK(got != NULL && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    lua_settop(L, 0);
    /* an escaped key is compared decoded; a skipped value is still checked */
    lua_pushcfunction(L, jt_push);
    lua_pushstring(L, "[{\"\\u0061\":7,\"c\\u0063\":1}]");
    lua_pushboolean(L, 1);
    lua_pushinteger(L, 1);
    CHECK_INT(lua_pcall(L, 3, 1, 0), LUA_OK);
    got = sq_lua_to_json(L, -1, 0, &bytes, why, sizeof(why));
    want = json_loads("[{\"a\":7}]", 0, NULL);
    CHECK(got != NULL && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    lua_settop(L, 0);
    lua_pushcfunction(L, jt_push);
    lua_pushstring(L, "[{\"a\":1,\"c\":{\"x\" 1}}]");
    lua_pushboolean(L, 1);
    lua_pushinteger(L, 1);
    CHECK_INT(lua_pcall(L, 3, 1, 0), LUA_ERRRUN);
    lua_settop(L, 0);
    static const char *bad[] = {"", "{", "{\"a\" 1}", "[1,]", "\"open", "\"\\x\"", "\"\\u12\"", "tru", "1 2", "{\"a\":-}", "[1] x",
                                /* strict since the reader is sq_json_walk: what jansson refuses too */
                                "\"\\ud800\"", "\"a\x01b\"", "\"\xff\"", "01", "1.", "[1e400]", "\"\\u0041\\udc00\""};
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad); i++) {
        lua_pushcfunction(L, jt_push);
        lua_pushstring(L, bad[i]);
        lua_pushboolean(L, 0);
        lua_pushinteger(L, 0);
        CHECK_INT(lua_pcall(L, 3, 1, 0), LUA_ERRRUN);
        lua_settop(L, 0);
    }
    char deep[200];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    lua_pushcfunction(L, jt_push);
    lua_pushstring(L, deep);
    lua_pushboolean(L, 0);
    lua_pushinteger(L, 0);
    CHECK_INT(lua_pcall(L, 3, 1, 0), LUA_ERRRUN); /* nesting is capped */
    lua_settop(L, 0);
    /* a long text (its escaped strings decoded outside the C stack): the value alone is left on the stack */
    size_t n = 3 * 4096;
    char *big = malloc(n + 16), *o = big;
    o += sprintf(o, "[\"");
    while ((size_t)(o - big) < n)
        o += sprintf(o, "\\u00e9x");
    o += sprintf(o, "\",1]");
    lua_pushcfunction(L, jt_push);
    lua_pushlstring(L, big, (size_t)(o - big));
    lua_pushboolean(L, 0);
    lua_pushinteger(L, 0);
    CHECK_INT(lua_pcall(L, 3, 1, 0), LUA_OK);
    CHECK_INT(lua_gettop(L), 1);
    CHECK(lua_istable(L, 1) && lua_rawlen(L, 1) == 2);
    lua_rawgeti(L, 1, 1);
    size_t sn = 0;
    const char *str = lua_tolstring(L, -1, &sn);
    CHECK(str != NULL && sn == (size_t)(o - big - 6) / 7 * 3 && memcmp(str, "\xc3\xa9x\xc3\xa9x", 6) == 0);
    free(big);
    lua_close(L);
}

int main(void)
{
    sq_log_set_level(SQ_LOG_ERROR);
    test_load();
    test_manifests();
    test_config();
    test_sandbox();
    test_sdk();
    test_bridge();
    test_breaker();
    test_reload();
    test_http();
    test_stubs();
    test_json_text();
    json_decref(last);
    sq_plugins_thread_exit();
    return check_done("plugin_host");
}
