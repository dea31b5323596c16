/* plugin_sdk.c: tests of the plugin SDK additions in plugins/host (actions.c, kv.c): manifests with named actions (refused
 * with a clear message when malformed), running an action (input validated against its schema, defaults, errors),
 * souq.kv and souq.events without a database context, and plugins restricted to sales channels (the payment hook of
 * core/hooks.h). The store itself is tested through the server (tests/api/plugin_sdk.test.mjs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "core/hooks.h"
#include "plugins/host/internal.h"
#include "tests/unit/check.h"

static char root[] = "/tmp/souq-sdk-XXXXXX";

static void put(const char *dir, const char *file, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void rm(const char *dir)
{
    static const char *const files[] = {"manifest.json", "handler.lua", "README.md"};
    char path[512];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_action_manifests(void)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/bad", root);
    mkdir(dir, 0700);
    static const struct {
        const char *actions, *handler, *want;
    } cases[] = {
        {"[]", "return {}", "actions must be an object"},
        {"{\"Tag-It\":{\"description\":\"d\"}}", "return {}", "action name \"Tag-It\" must be 1-48 of a-z 0-9 _"},
        {"{\"tag\":{}}", "return {}", "actions.tag.description is required"},
        {"{\"tag\":\"x\"}", "return {}", "actions.tag must be an object"},
        {"{\"tag\":{\"description\":\"d\",\"run\":1}}", "return {}", "actions.tag: unknown key \"run\""},
        {"{\"tag\":{\"description\":\"d\",\"input\":{\"k\":{\"type\":\"float\",\"description\":\"d\"}}}}", "return {}",
         "actions.tag.input.k.type must be one of"},
        {"{\"tag\":{\"description\":\"d\",\"input\":{\"k\":{\"type\":\"string\",\"description\":\"d\",\"secret\":true}}}}",
         "return {}", "actions.tag.input.k: inputs cannot be secret"},
        {"{\"tag\":{\"description\":\"d\"}}", "return {}", "lists the action tag but handler.lua has no function action_tag"},
        {"{\"tag\":{\"description\":\"d\"}}", "return { action_tag = 42 }", "no function action_tag"},
    };
    char err[512], manifest[1024];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(manifest, sizeof(manifest), "{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[],\"actions\":%s}",
                 cases[i].actions);
        put(dir, "manifest.json", manifest);
        put(dir, "handler.lua", cases[i].handler);
        put(dir, "README.md", "# a\n");
        err[0] = '\0';
        sq_pdef_t *d = sq_pdef_load(dir, err, sizeof(err));
        CHECK(d == NULL);
        CHECK_CONTAINS(err, cases[i].want);
        sq_pdef_unref(d);
    }
    /* provides may be empty only for a plugin of actions */
    put(dir, "manifest.json", "{\"name\":\"a\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[]}");
    put(dir, "handler.lua", "return {}");
    CHECK(sq_pdef_load(dir, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "provides must be");
    rm(dir);
}

static json_t *last;
static sq_err_t last_err;
static int called;

static void on_done(json_t *out, const sq_err_t *err, void *data)
{
    (void)data;
    called++;
    json_decref(last);
    last = out ? json_deep_copy(out) : NULL;
    sq_err_clear(&last_err);
    if (err != NULL)
        sq_err_copy(&last_err, err);
}

static sq_code_t run(const char *plugin, const char *action, const char *input)
{
    json_t *in = input ? json_loads(input, 0, NULL) : NULL;
    called = 0;
    sq_plugin_run_action(NULL, plugin, action, in, on_done, NULL);
    json_decref(in);
    CHECK_INT(called, 1);
    return last_err.code;
}

static void test_actions(void)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/acts", root);
    mkdir(dir, 0700);
    put(dir, "manifest.json",
        "{\"name\":\"acts\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[],\"actions\":{"
        "\"greet\":{\"description\":\"Greets.\",\"input\":{"
        "\"name\":{\"type\":\"string\",\"description\":\"Who.\",\"required\":true,\"max_length\":5},"
        "\"times\":{\"type\":\"integer\",\"description\":\"How often.\",\"default\":2,\"min\":1,\"max\":3},"
        "\"tone\":{\"type\":\"string\",\"description\":\"How.\",\"enum\":[\"warm\",\"cold\"]}}},"
        "\"store\":{\"description\":\"Uses souq.kv and souq.events.\"},"
        "\"boom\":{\"description\":\"Fails.\"}}}");
    put(dir, "handler.lua",
        "local souq, pcall, string, tostring = souq, pcall, string, tostring\n"
        "return {\n"
        "  action_greet = function(conf, input) return { text = string.rep('hi ' .. input.name .. ' ', input.times), tone = "
        "input.tone } end,\n"
        "  action_store = function(conf, input)\n"
        "    local ok1, e1 = pcall(souq.kv.get, 'k')\n"
        "    local ok2, e2 = pcall(souq.events.emit, 'x', {})\n"
        "    return { kv = tostring(e1), events = tostring(e2), ok = ok1 or ok2 }\n"
        "  end,\n"
        "  action_boom = function() error('no') end,\n"
        "}\n");
    put(dir, "README.md", "# acts\n");
    CHECK_INT(sq_plugins_init(root), 1);

    /* input checked against the schema, defaults filled in */
    CHECK_INT(run("acts", "greet", "{\"name\":\"Ada\"}"), SQ_OK);
    CHECK_STR(json_string_value(json_object_get(last, "text")), "hi Ada hi Ada ");
    CHECK(json_object_get(last, "tone") == NULL);
    CHECK_INT(run("acts", "greet", "{\"name\":\"Ada\",\"times\":1,\"tone\":\"warm\"}"), SQ_OK);
    CHECK_STR(json_string_value(json_object_get(last, "text")), "hi Ada ");
    CHECK_INT(run("acts", "greet", NULL), SQ_E_VALIDATION);
    CHECK_INT(last_err.nfields, 1);
    CHECK_STR(last_err.fields[0].pointer, "/input/name");
    CHECK_STR(last_err.fields[0].code, "required");
    CHECK_INT(run("acts", "greet", "{\"name\":\"Adelheid\",\"times\":9,\"tone\":\"hot\"}"), SQ_E_VALIDATION);
    CHECK_INT(last_err.nfields, 3);
    CHECK_INT(run("acts", "greet", "{\"name\":\"Ada\",\"extra\":1}"), SQ_E_UNKNOWN_FIELD);
    CHECK_STR(last_err.fields[0].pointer, "/input");
    CHECK_INT(run("acts", "greet", "[1]"), SQ_E_VALIDATION);
    CHECK_STR(last_err.fields[0].pointer, "/input");
    CHECK_INT(run("acts", "nope", "{}"), SQ_E_NOT_FOUND);
    CHECK_INT(run("nobody", "greet", "{}"), SQ_E_NOT_FOUND);
    CHECK_INT(run("acts", "boom", NULL), SQ_E_PLUGIN_FAILED);

    /* souq.kv and souq.events need a context with a database: without one they raise, and pcall sees a clear message */
    CHECK_INT(run("acts", "store", NULL), SQ_OK);
    CHECK_CONTAINS(json_string_value(json_object_get(last, "kv")), "souq.kv.get: the store is unavailable in this context");
    CHECK_CONTAINS(json_string_value(json_object_get(last, "events")),
                   "souq.events.emit: the store is unavailable in this context");
    CHECK(json_is_false(json_object_get(last, "ok")));

    /* the admin view lists the actions with normalized input schemas */
    json_t *p = sq_plugins_describe("acts");
    json_t *acts = json_object_get(p, "actions");
    CHECK_INT((int)json_array_size(acts), 3);
    json_t *greet = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(acts, i, a) if (strcmp(json_string_value(json_object_get(a, "name")), "greet") == 0) greet = a;
    CHECK(greet != NULL);
    json_t *name = json_object_get(json_object_get(greet, "input_schema"), "name");
    CHECK(json_is_true(json_object_get(name, "required")));
    CHECK(json_is_false(json_object_get(name, "secret")));
    CHECK(json_is_null(json_object_get(p, "sales_channels")));
    json_decref(p);

    /* checked without running (a rule being saved), and listed for choosing */
    sq_err_t e;
    sq_err_clear(&e);
    json_t *in = json_pack("{s:s}", "name", "Adelheid");
    CHECK_INT(sq_plugin_action_check("acts", "greet", in, &e), -1);
    CHECK_STR(e.fields[0].pointer, "/input/name");
    json_decref(in);
    sq_err_clear(&e);
    in = json_pack("{s:s}", "name", "Ada");
    CHECK_INT(sq_plugin_action_check("acts", "greet", in, &e), 0);
    CHECK_INT(sq_plugin_action_check("acts", "nope", in, &e), -1);
    CHECK_INT(e.code, SQ_E_NOT_FOUND);
    json_decref(in);
    json_t *all = sq_plugin_actions_list();
    CHECK_INT((int)json_array_size(all), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(all, 0), "plugin")), "acts");
    json_decref(all);

    /* a disabled plugin's actions are not found */
    json_t *off = json_pack("{s:b}", "enabled", 0);
    sq_plugins_apply("acts", off);
    json_decref(off);
    CHECK_INT(run("acts", "greet", "{\"name\":\"Ada\"}"), SQ_E_NOT_FOUND);
    all = sq_plugin_actions_list();
    CHECK_INT((int)json_array_size(all), 0);
    json_decref(all);
    rm(dir);
}

static void test_channels(void)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/pay", root);
    mkdir(dir, 0700);
    put(dir, "manifest.json", "{\"name\":\"pay\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[\"payment:zz\"]}");
    put(dir, "handler.lua",
        "local f = function() return { status = 'captured' } end\n"
        "return { payment_authorize = f, payment_capture = f, payment_cancel = f, payment_refund = f }\n");
    put(dir, "README.md", "# pay\n");
    CHECK_INT(sq_plugins_init(root), 1);
    CHECK(sq_payment_provider("zz") != NULL);
    CHECK(sq_plugin_serves_channel("pay", "sc_a"));
    CHECK(sq_payment_provider_serves("zz", "sc_a"));
    json_t *s = json_pack("{s:b, s:[s, s]}", "enabled", 1, "sales_channels", "sc_a", "sc_b");
    sq_plugins_apply("pay", s);
    json_decref(s);
    CHECK(sq_plugin_serves_channel("pay", "sc_a"));
    CHECK(sq_plugin_serves_channel("pay", "sc_b"));
    CHECK(!sq_plugin_serves_channel("pay", "sc_c"));
    CHECK(!sq_payment_provider_serves("zz", "sc_c"));
    CHECK(sq_payment_provider_serves("zz", "sc_b"));
    CHECK(sq_payment_provider_serves("manual", "sc_c")); /* built-ins serve every channel */
    CHECK(!sq_plugin_serves_channel("nobody", "sc_a"));
    json_t *p = sq_plugins_describe("pay");
    CHECK_INT((int)json_array_size(json_object_get(p, "sales_channels")), 2);
    json_decref(p);
    /* the provides helper: payment ids of a plugin */
    json_t *ids = sq_plugin_provides("pay", "payment");
    CHECK_INT((int)json_array_size(ids), 1);
    CHECK_STR(json_string_value(json_array_get(ids, 0)), "zz");
    json_decref(ids);
    ids = sq_plugin_provides("pay", "shipping");
    CHECK_INT((int)json_array_size(ids), 0);
    json_decref(ids);
    /* null serves every channel again */
    s = json_pack("{s:b, s:n}", "enabled", 1, "sales_channels");
    sq_plugins_apply("pay", s);
    json_decref(s);
    CHECK(sq_plugin_serves_channel("pay", "sc_c"));
    rm(dir);
}

static sq_pdef_t *find(sq_preg_t *r, const char *name)
{
    for (int i = 0; r != NULL && i < r->n; i++)
        if (strcmp(r->defs[i]->name, name) == 0)
            return r->defs[i];
    return NULL;
}

static void test_secrets(void)
{
    static const char K1[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    static const char K2[] = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
    CHECK(sq_plugin_secrets_key_valid(""));
    CHECK(sq_plugin_secrets_key_valid(K1));
    CHECK(!sq_plugin_secrets_key_valid("abc"));
    CHECK(!sq_plugin_secrets_key_valid("zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
    CHECK_INT(sq_plugins_set_secret_keys("nope", NULL), -1);
    char dir[600];
    static const char *const names[] = {"sa", "sb"};
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", root, names[i]);
        mkdir(dir, 0700);
        char m[400];
        snprintf(m, sizeof(m),
                 "{\"name\":\"%s\",\"version\":\"1.0.0\",\"sdk\":1,\"provides\":[],\"config\":{\"token\":{\"type\":\"string\","
                 "\"description\":\"d\",\"secret\":true},\"other\":{\"type\":\"string\",\"description\":\"d\"}},"
                 "\"actions\":{\"noop\":{\"description\":\"d\"}}}",
                 names[i]);
        put(dir, "manifest.json", m);
        put(dir, "handler.lua", "return { action_noop = function() return 1 end }");
        put(dir, "README.md", "# s\n");
    }
    CHECK_INT(sq_plugins_init(root), 2);
    CHECK_INT(sq_plugins_set_secret_keys(K1, NULL), 0);
    sq_err_t e;
    sq_err_clear(&e);
    json_t *set = json_pack("{s:s, s:s}", "token", "s3cret", "other", "plain");
    CHECK_INT(sq_plugins_seal_secrets("sa", set, &e), 0);
    const char *sealed = json_string_value(json_object_get(set, "token"));
    CHECK(sq_plugin_secret_sealed(sealed));
    CHECK(strncmp(sealed, "sq1:", 4) == 0 && strstr(sealed, "s3cret") == NULL);
    CHECK_STR(json_string_value(json_object_get(set, "other")), "plain"); /* only secret settings */
    sq_preg_t *r = sq_preg_acquire();
    sq_pdef_t *a = find(r, "sa"), *b = find(r, "sb");
    CHECK(a != NULL && b != NULL);
    json_t *open = sq_psecrets_open(a, set);
    CHECK_STR(json_string_value(json_object_get(open, "token")), "s3cret");
    json_decref(open);
    open = sq_psecrets_open(b, set); /* bound to its plugin: another's does not open it */
    CHECK(json_object_get(open, "token") == NULL);
    CHECK_STR(json_string_value(json_object_get(open, "other")), "plain");
    json_decref(open);
    char *tampered = sq_xstrdup(sealed);
    tampered[strlen(tampered) - 3] = tampered[strlen(tampered) - 3] == 'A' ? 'B' : 'A';
    json_t *t = json_pack("{s:s}", "token", tampered);
    open = sq_psecrets_open(a, t);
    CHECK(json_object_get(open, "token") == NULL);
    json_decref(open);
    json_decref(t);
    free(tampered);
    /* a rotation: the previous key opens; the current one does not open values of an unknown key id */
    CHECK_INT(sq_plugins_set_secret_keys(K2, K1), 0);
    open = sq_psecrets_open(a, set);
    CHECK_STR(json_string_value(json_object_get(open, "token")), "s3cret");
    json_decref(open);
    CHECK_INT(sq_plugins_set_secret_keys(K2, NULL), 0);
    open = sq_psecrets_open(a, set);
    CHECK(json_object_get(open, "token") == NULL);
    json_decref(open);
    /* a value that looks sealed is refused, with or without a key */
    json_t *bad = json_pack("{s:s}", "token", "sq1:00000000:abc");
    sq_err_clear(&e);
    CHECK_INT(sq_plugins_seal_secrets("sa", bad, &e), -1);
    CHECK_STR(e.fields[0].pointer, "/config/token");
    json_decref(bad);
    sq_preg_unref(r);
    json_decref(set);
    CHECK_INT(sq_plugins_set_secret_keys(NULL, NULL), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", root, names[i]);
        rm(dir);
    }
}

int main(void)
{
    sq_log_set_level(SQ_LOG_ERROR);
    CHECK(mkdtemp(root) != NULL);
    test_action_manifests();
    test_actions();
    test_channels();
    test_secrets();
    json_decref(last);
    sq_plugins_thread_exit();
    rmdir(root);
    return check_done("plugin_sdk");
}
