/* plugin_tool.c: `souq plugin new NAME` (a working payment plugin with a spec, to start from) and `souq plugin test
 * DIR...` (its specs in the real sandbox: plugins/host/spec.c). The guide is sdk/lua/guide.md. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/plugin_tool.h"
#include "plugins/host/host.h"

/* The template: a card gateway reached over HTTP ("ACME Pay"), so the spec shows fakes and recorded requests.
 * @NAME@ is replaced by the plugin's name and @ID@ by its provider id (the name without "payment-"). */
static const char MANIFEST[] = "{\n"
                               "  \"name\": \"@NAME@\",\n"
                               "  \"version\": \"0.1.0\",\n"
                               "  \"sdk\": 1,\n"
                               "  \"priority\": 100,\n"
                               "  \"description\": \"Cards through a gateway's HTTP API (replace with what yours does).\",\n"
                               "  \"provides\": [\"payment:@ID@\"],\n"
                               "  \"config\": {\n"
                               "    \"secret_key\": { \"type\": \"string\", \"description\": \"The gateway's secret API key.\", "
                               "\"secret\": true, \"required\": true },\n"
                               "    \"base_url\": { \"type\": \"string\", \"description\": \"The gateway's API base URL.\", "
                               "\"default\": \"https://api.gateway.example\" }\n"
                               "  },\n"
                               "  \"payment_data\": {\n"
                               "    \"token\": { \"type\": \"string\", \"description\": \"The card token from the gateway's "
                               "browser library.\", \"required\": true, \"max_length\": 128 }\n"
                               "  }\n"
                               "}\n";

static const char HANDLER[] =
    "-- handler.lua of @NAME@: returns the table of hook functions (sdk/lua/reference.md has every hook's contract).\n"
    "local plugin = {}\n"
    "\n"
    "-- One call to the gateway: a JSON answer, or an error the host turns into a failed call (502 to the buyer).\n"
    "local function gateway(conf, method, path, body, idempotency_key)\n"
    "  local res = souq.http.request({\n"
    "    method = method,\n"
    "    url = conf.base_url .. path,\n"
    "    headers = {\n"
    "      [\"authorization\"] = \"Bearer \" .. conf.secret_key,\n"
    "      [\"content-type\"] = \"application/json\",\n"
    "      [\"idempotency-key\"] = idempotency_key,\n"
    "    },\n"
    "    body = body and souq.json.encode(body) or nil,\n"
    "    timeout_ms = 5000,\n"
    "  })\n"
    "  local answer = souq.json.decode(res.body)\n"
    "  if res.status >= 500 or type(answer) ~= \"table\" then\n"
    "    error(\"gateway answered \" .. res.status)\n"
    "  end\n"
    "  return res.status, answer\n"
    "end\n"
    "\n"
    "function plugin.payment_authorize(conf, req)\n"
    "  local status, charge = gateway(conf, \"POST\", \"/v1/charges\", {\n"
    "    amount = req.amount, currency = req.currency, token = req.data.token, capture = false,\n"
    "  }, req.idempotency_key)\n"
    "  if status == 402 then\n"
    "    return { status = \"declined\", decline_code = charge.decline_code or \"card_declined\" }\n"
    "  end\n"
    "  return { status = \"authorized\", provider_ref = charge.id }\n"
    "end\n"
    "\n"
    "function plugin.payment_capture(conf, req)\n"
    "  local _, charge = gateway(conf, \"POST\", \"/v1/charges/\" .. req.provider_ref .. \"/capture\", { amount = req.amount },\n"
    "                            req.idempotency_key)\n"
    "  return { status = \"captured\", provider_ref = charge.id }\n"
    "end\n"
    "\n"
    "function plugin.payment_cancel(conf, req)\n"
    "  local _, charge = gateway(conf, \"POST\", \"/v1/charges/\" .. req.provider_ref .. \"/void\", {}, req.idempotency_key)\n"
    "  return { status = \"voided\", provider_ref = charge.id }\n"
    "end\n"
    "\n"
    "function plugin.payment_refund(conf, req)\n"
    "  local _, refund = gateway(conf, \"POST\", \"/v1/refunds\", { charge = req.provider_ref, amount = req.amount },\n"
    "                            req.idempotency_key)\n"
    "  return { status = \"refunded\", provider_ref = refund.id }\n"
    "end\n"
    "\n"
    "return plugin\n";

static const char SPEC[] =
    "-- spec/payment_spec.lua: run with `souq plugin test .` (sdk/lua/guide.md, \"Testing\").\n"
    "local conf = { secret_key = \"sk_test_1\", base_url = \"https://gw.test\" }\n"
    "local req = { provider = \"@ID@\", payment_id = \"pay_1\", idempotency_key = \"key-1\", currency = \"eur\",\n"
    "              amount = 2500, data = { token = \"tok_visa\" } }\n"
    "\n"
    "spec.test(\"authorize holds the amount and passes the idempotency key\", function()\n"
    "  spec.http.respond(\"POST\", \"https://gw.test/v1/charges\", { status = 200, body = '{\"id\":\"ch_1\"}' })\n"
    "  local out = spec.call(\"payment_authorize\", req, conf)\n"
    "  spec.eq(out, { status = \"authorized\", provider_ref = \"ch_1\" })\n"
    "  local sent = spec.http.requests()[1]\n"
    "  spec.eq(sent.headers[\"idempotency-key\"], \"key-1\")\n"
    "  spec.eq(sent.headers[\"authorization\"], \"Bearer sk_test_1\")\n"
    "  spec.eq(souq.json.decode(sent.body).amount, 2500)\n"
    "end)\n"
    "\n"
    "spec.test(\"a declined card is declined, not an error\", function()\n"
    "  spec.http.respond(\"POST\", \"https://gw.test/v1/charges\", { status = 402, body = '{\"decline_code\":\"insufficient_funds\"}' })\n"
    "  local out = spec.call(\"payment_authorize\", req, conf)\n"
    "  spec.eq(out.status, \"declined\")\n"
    "  spec.eq(out.decline_code, \"insufficient_funds\")\n"
    "end)\n"
    "\n"
    "spec.test(\"the gateway down fails the call\", function()\n"
    "  spec.http.respond(\"POST\", \"https://gw.test/v1/charges\", { error = \"timeout\" })\n"
    "  local e = spec.fails(\"payment_authorize\", req, conf)\n"
    "  spec.eq(e.code, \"error\")\n"
    "end)\n"
    "\n"
    "spec.test(\"refund sends the amount for the charge\", function()\n"
    "  spec.http.respond(\"POST\", \"https://gw.test/v1/refunds\", { status = 200, body = '{\"id\":\"re_1\"}' })\n"
    "  local out = spec.call(\"payment_refund\", { provider_ref = \"ch_1\", amount = 500, currency = \"eur\", idempotency_key = "
    "\"ref_1\" }, conf)\n"
    "  spec.eq(out, { status = \"refunded\", provider_ref = \"re_1\" })\n"
    "  spec.eq(souq.json.decode(spec.http.requests()[1].body), { charge = \"ch_1\", amount = 500 })\n"
    "end)\n";

static const char README[] = "# @NAME@\n"
                             "\n"
                             "A Souq payment plugin (SDK 1), made by `souq plugin new`. Replace the gateway calls in "
                             "`handler.lua` with\n"
                             "your gateway's API; keep `spec/` passing (`souq plugin test .`).\n"
                             "\n"
                             "## Settings\n"
                             "\n"
                             "| field | meaning |\n"
                             "|---|---|\n"
                             "| `secret_key` | the gateway's secret API key (write-only) |\n"
                             "| `base_url` | the gateway's API base URL |\n";

/* Writes text with @NAME@ and @ID@ replaced to dir/file; refuses to overwrite. */
static int write_template(const char *dir, const char *file, const char *text, const char *name, const char *id)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "wx");
    if (f == NULL) {
        fprintf(stderr, "souq: plugin new: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (const char *p = text; *p;) {
        if (strncmp(p, "@NAME@", 6) == 0) {
            fputs(name, f);
            p += 6;
        } else if (strncmp(p, "@ID@", 4) == 0) {
            fputs(id, f);
            p += 4;
        } else
            fputc(*p++, f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* souq plugin new NAME [DIR]: the folder DIR/NAME (DIR defaults to plugins). */
static int cmd_new(const char *name, const char *parent)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 48 && name[0] >= 'a' && name[0] <= 'z';
    for (size_t i = 0; i < n; i++)
        ok = ok && ((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_');
    if (!ok || strcmp(name, "reload") == 0) {
        fprintf(stderr, "souq: plugin new: a name is 1-48 of a-z 0-9 - _, starting with a letter (not \"reload\")\n");
        return 2;
    }
    const char *id = strncmp(name, "payment-", 8) == 0 && name[8] != '\0' ? name + 8 : name;
    char dir[1100], spec[1110];
    snprintf(dir, sizeof(dir), "%s/%s", parent, name);
    snprintf(spec, sizeof(spec), "%s/spec", dir);
    if (mkdir(dir, 0755) != 0 || mkdir(spec, 0755) != 0) {
        fprintf(stderr, "souq: plugin new: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (write_template(dir, "manifest.json", MANIFEST, name, id) != 0 || write_template(dir, "handler.lua", HANDLER, name, id) != 0 ||
        write_template(dir, "README.md", README, name, id) != 0 || write_template(dir, "spec/payment_spec.lua", SPEC, name, id) != 0)
        return 1;
    printf("created %s: manifest.json, handler.lua, README.md, spec/payment_spec.lua\n"
           "next: souq plugin test %s\n",
           dir, dir);
    return 0;
}

int sq_cmd_plugin(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[0], "new") == 0 && argc <= 3)
        return cmd_new(argv[1], argc == 3 ? argv[2] : "plugins");
    if (argc >= 2 && strcmp(argv[0], "test") == 0) {
        int total_failed = 0, rc = 0;
        for (int i = 1; i < argc; i++) {
            int passed, failed;
            if (sq_plugin_spec_run(argv[i], stdout, &passed, &failed) != 0)
                rc = 1;
            total_failed += failed;
        }
        return rc != 0 || total_failed > 0 ? 1 : 0;
    }
    fprintf(stderr, "usage: souq plugin new NAME [DIR]   a payment plugin with a spec to start from, in DIR/NAME (DIR: plugins)\n"
                    "       souq plugin test DIR...      run each plugin's spec/NAME.lua in the sandbox (exit 1 on a failure)\n");
    return 2;
}
