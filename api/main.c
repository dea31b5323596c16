/* main.c: the `souq` command line. */
#include <getopt.h>
#include <libgen.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/config.h"
#include "api/plugin_tool.h"
#include "api/routes.h"
#include "api/server.h"
#include "core/apikey.h"
#include "core/auth.h"
#include "core/base/log.h"
#include "core/db/migrate.h"
#include "core/db/syncloop.h"
#include "core/import.h"
#include "core/seed.h"
#include "core/staff.h"

#define SOUQ_VERSION "0.1.0"

extern char **environ;

static const char usage[] =
    "usage: souq <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [--config FILE]            run the HTTP server (SIGTERM drains, SIGHUP reloads the config)\n"
    "  migrate [--config FILE]          apply pending database migrations\n"
    "  seed [--config FILE] [--demo | --bench N]\n"
    "                                   create currencies, the default sales channel and its publishable key,\n"
    "                                   and an owner (SOUQ_OWNER_EMAIL, SOUQ_OWNER_PASSWORD or a printed one);\n"
    "                                   --demo also adds a demo catalog (200 products in 17 categories, variants,\n"
    "                                   EUR and USD prices, a sale, stock in 2 warehouses, English and German),\n"
    "                                   --bench N a catalog of N products for benchmarks; either only when the\n"
    "                                   catalog is empty (make run seeds the demo unless SOUQ_DEMO=0)\n"
    "  admin create-user --email E --password P --role R [--first-name F] [--last-name L]\n"
    "  admin create-api-key --type publishable|secret [--title T] [--channel SALES_CHANNEL_ID]\n"
    "                       [--scopes a:read,b:write] [--json]\n"
    "  import FILE [--config FILE] [--format csv|ndjson]\n"
    "                                   import products from a CSV or NDJSON file (as POST /v1/admin/imports):\n"
    "                                   progress on stderr, per-row errors, exit code 1 if any row failed\n"
    "  plugin new NAME [DIR]            a payment plugin with a spec to start from, in DIR/NAME (DIR: plugins)\n"
    "  plugin test DIR...               run each plugin's specs (spec/NAME.lua) in the sandbox, with faked HTTP\n"
    "  config [--config FILE]           print the effective configuration (secrets redacted)\n"
    "  routes                           print the route table as JSON\n"
    "  version                          print the version\n"
    "\n"
    "Configuration: a `key = value` file and SOUQ_<KEY> environment variables (see README.md).\n";

typedef struct {
    const char *config, *email, *password, *role, *first_name, *last_name, *type, *title, *channel, *scopes, *bench, *format;
    const char *file; /* import: the one positional argument */
    bool json, demo;
} opts_t;

static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"email", required_argument, NULL, 'e'},
        {"password", required_argument, NULL, 'p'},
        {"role", required_argument, NULL, 'r'},
        {"first-name", required_argument, NULL, 'f'},
        {"last-name", required_argument, NULL, 'l'},
        {"type", required_argument, NULL, 't'},
        {"title", required_argument, NULL, 'T'},
        {"channel", required_argument, NULL, 'C'},
        {"scopes", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"demo", no_argument, NULL, 'd'},
        {"bench", required_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'e':
            o->email = optarg;
            break;
        case 'p':
            o->password = optarg;
            break;
        case 'r':
            o->role = optarg;
            break;
        case 'f':
            o->first_name = optarg;
            break;
        case 'l':
            o->last_name = optarg;
            break;
        case 't':
            o->type = optarg;
            break;
        case 'T':
            o->title = optarg;
            break;
        case 'C':
            o->channel = optarg;
            break;
        case 's':
            o->scopes = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'd':
            o->demo = true;
            break;
        case 'b':
            o->bench = optarg;
            break;
        case 'F':
            o->format = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            fputs(usage, stderr);
            return -1;
        }
    }
    if (o->file == NULL && optind == argc - 1 && argv[optind][0] != '-' && strcmp(argv[0], "import") == 0) {
        o->file = argv[optind];
        return 0;
    }
    if (optind < argc) {
        fprintf(stderr, "souq: unexpected argument \"%s\"\n%s", argv[optind], usage);
        return -1;
    }
    return 0;
}

static sq_config_t *tools_config(const opts_t *o)
{
    char errbuf[512];
    sq_config_t *c = sq_config_load_for_tools(o->config, environ, errbuf, sizeof(errbuf));
    if (c == NULL)
        fprintf(stderr, "souq: %s\n", errbuf);
    else
        sq_password_set_cost((uint32_t)c->password_hash_memory_kib, (uint32_t)c->password_hash_iterations);
    return c;
}

/* ---- commands that run core operations on a blocking loop ----------------------------------------------- */

typedef struct {
    bool done;
    int rc;
    bool json;
} wait_t;

static void print_err(const sq_err_t *err)
{
    fprintf(stderr, "souq: %s\n", err->detail);
    for (int i = 0; i < err->nfields; i++)
        fprintf(stderr, "  %s: %s\n", err->fields[i].pointer, err->fields[i].detail);
    if (err->internal[0])
        fprintf(stderr, "  (%s)\n", err->internal);
}

static void on_json(const char *json, const sq_err_t *err, void *data)
{
    wait_t *w = data;
    w->done = true;
    if (err != NULL) {
        print_err(err);
        w->rc = 1;
        return;
    }
    printf("%s\n", json);
}

static void on_key(const char *json, const sq_err_t *err, void *data)
{
    wait_t *w = data;
    if (err != NULL || w->json) {
        on_json(json, err, data);
        return;
    }
    w->done = true;
    const char *t = strstr(json, "\"token\": \"");
    if (t == NULL)
        t = strstr(json, "\"token\":\"");
    if (t == NULL) {
        fprintf(stderr, "souq: no token in the answer\n");
        w->rc = 1;
        return;
    }
    t = strchr(t + 8, '"') + 1;
    printf("%.*s\n", (int)strcspn(t, "\""), t);
}

static void on_seed(const sq_seed_result_t *r, const sq_err_t *err, void *data)
{
    wait_t *w = data;
    w->done = true;
    if (err != NULL) {
        print_err(err);
        w->rc = 1;
        return;
    }
    printf("default sales channel: %s\n", r->channel_id);
    printf("publishable key:       %s\n", r->publishable_key ? r->publishable_key : "(none)");
    if (r->owner_created && r->owner_password != NULL)
        printf("owner account:         %s  password: %s  (shown once; change it)\n", r->owner_email, r->owner_password);
    else if (r->owner_created)
        printf("owner account:         %s  (password from SOUQ_OWNER_PASSWORD)\n", r->owner_email);
}

static int run_on_db(const sq_config_t *cfg, void (*start)(sq_ctx_t *cx, const opts_t *o, wait_t *w), const opts_t *o)
{
    sq_err_t err;
    sq_err_clear(&err);
    sq_syncdb_t *s = sq_syncdb_connect(cfg->database_url, 10000, &err);
    if (s == NULL) {
        print_err(&err);
        return 1;
    }
    sq_ctx_t *cx = sq_syncdb_ctx(s);
    wait_t w = {false, 0, o->json};
    start(cx, o, &w);
    if (sq_syncdb_wait(s, &w.done, 60000) != 0) {
        fprintf(stderr, "souq: timed out\n");
        w.rc = 1;
    }
    sq_syncdb_ctx_free(cx);
    sq_syncdb_close(s);
    return w.rc;
}

static void start_seed(sq_ctx_t *cx, const opts_t *o, wait_t *w)
{
    (void)o;
    sq_seed_input_t in = {getenv("SOUQ_OWNER_EMAIL"), getenv("SOUQ_OWNER_PASSWORD")};
    if (in.owner_email == NULL || in.owner_email[0] == '\0')
        in.owner_email = "owner@souq.local";
    if (in.owner_password != NULL && in.owner_password[0] == '\0')
        in.owner_password = NULL;
    sq_seed(cx, &in, on_seed, w);
}

/* seed, then the demo or bench catalog when asked for */
static int cmd_seed(const sq_config_t *cfg, const opts_t *o)
{
    long n = 0;
    if (o->bench != NULL) {
        char *end;
        n = strtol(o->bench, &end, 10);
        if (o->demo || *end != '\0' || n < 1 || n > SQ_SEED_BENCH_MAX) {
            fprintf(stderr, "souq: seed: --bench takes a number of products from 1 to %d, and not with --demo\n", SQ_SEED_BENCH_MAX);
            return 2;
        }
    }
    int rc = run_on_db(cfg, start_seed, o);
    if (rc != 0 || (!o->demo && o->bench == NULL))
        return rc;
    sq_err_t err;
    sq_err_clear(&err);
    char *out = sq_seed_catalog(cfg->database_url, o->demo, (int)n, &err);
    if (out == NULL) {
        fprintf(stderr, "souq: seed: catalog: %s\n", err.detail);
        return 1;
    }
    json_t *j = json_loads(out, 0, NULL);
    const char *what = o->demo ? "demo catalog:" : "bench catalog:";
    if (j != NULL && json_is_true(json_object_get(j, "seeded"))) {
        char *locales = json_dumps(json_object_get(j, "locales"), JSON_COMPACT);
        printf("%-23s%lld products, %lld variants, %lld categories, %lld collections, %lld prices, %lld stock "
               "locations, locales %s\n",
               what, json_integer_value(json_object_get(j, "products")), json_integer_value(json_object_get(j, "variants")),
               json_integer_value(json_object_get(j, "categories")), json_integer_value(json_object_get(j, "collections")),
               json_integer_value(json_object_get(j, "prices")), json_integer_value(json_object_get(j, "stock_locations")),
               locales ? locales : "?");
        free(locales);
    } else {
        printf("%-23sskipped, %s\n", what, j ? json_string_value(json_object_get(j, "reason")) : out);
    }
    json_decref(j);
    free(out);
    return 0;
}

/* Admin commands go through the same field rules as the API. */
static void start_create_user(sq_ctx_t *cx, const opts_t *o, wait_t *w)
{
    json_t *j = json_pack("{s:s*, s:s*, s:s*, s:s*, s:s*}", "email", o->email, "password", o->password, "role", o->role,
                          "first_name", o->first_name, "last_name", o->last_name);
    sq_json_own(cx->arena, j);
    sq_staff_create_t in = {0};
    sq_err_t err;
    sq_err_clear(&err);
    if (sq_json_decode(cx->arena, j, sq_staff_create_fields, &in, NULL, &err) != 0) {
        w->done = true;
        w->rc = 2;
        print_err(&err);
        return;
    }
    sq_staff_create(cx, SQ_ROLE_OWNER, &in, on_json, w);
}

static void start_create_key(sq_ctx_t *cx, const opts_t *o, wait_t *w)
{
    json_t *scopes = json_array();
    if (o->scopes != NULL) {
        char *copy = sq_arena_strdup(cx->arena, o->scopes), *save = NULL;
        for (char *t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save))
            json_array_append_new(scopes, json_string(t));
    }
    const char *title = o->title ? o->title : (o->type && strcmp(o->type, "secret") == 0 ? "Integration" : "Storefront");
    json_t *j =
        json_pack("{s:s*, s:s, s:s*, s:o}", "type", o->type, "title", title, "sales_channel_id", o->channel, "scopes", scopes);
    sq_json_own(cx->arena, j);
    sq_api_key_create_t in = {0};
    sq_err_t err;
    sq_err_clear(&err);
    if (sq_json_decode(cx->arena, j, sq_api_key_create_fields, &in, NULL, &err) != 0 || sq_api_key_check(&in, &err) != 0) {
        w->done = true;
        w->rc = 2;
        print_err(&err);
        return;
    }
    sq_api_key_create(cx, &in, "cli", on_key, w);
}

/* ---- souq import ------------------------------------------------------------------------------------- */

typedef struct {
    bool done;
    const char *json;
    sq_err_t err;
    bool failed;
} import_wait_t;

static void on_import_json(const char *json, const sq_err_t *err, void *data)
{
    import_wait_t *w = data;
    w->done = true;
    w->json = json;
    if (err != NULL) {
        w->failed = true;
        sq_err_copy(&w->err, err);
    }
}

/* Runs one core call on a fresh context and waits: its JSON parsed (caller owns it), or NULL (err set on failure). */
static json_t *import_call(sq_syncdb_t *s, void (*call)(sq_ctx_t *cx, const char *id, void *w), const char *id, sq_err_t *err)
{
    sq_ctx_t *cx = sq_syncdb_ctx(s);
    import_wait_t w = {0};
    call(cx, id, &w);
    json_t *j = NULL;
    if (sq_syncdb_wait(s, &w.done, 120000) != 0) {
        sq_err_set(err, SQ_E_TIMEOUT, "timed out waiting for the database");
    } else if (w.failed) {
        sq_err_copy(err, &w.err);
    } else if (w.json != NULL) {
        j = json_loads(w.json, 0, NULL);
    }
    sq_syncdb_ctx_free(cx);
    return j;
}

#define CLI_BATCH 100
#define CLI_BATCH_MS 2000 /* the CLI's own connection: bigger batches, fewer commits */

static void call_step(sq_ctx_t *cx, const char *id, void *w)
{
    sq_import_step(cx, id, CLI_BATCH, CLI_BATCH_MS, on_import_json, w);
}

static void call_get(sq_ctx_t *cx, const char *id, void *w)
{
    sq_resource_get(cx, &sq_res_import, id, on_import_json, w);
}

static void progress(const json_t *imp, bool tty, int *last_decile)
{
    long long done = json_integer_value(json_object_get(imp, "rows_done")),
              total = json_integer_value(json_object_get(imp, "rows_total"));
    int pct = total > 0 ? (int)(done * 100 / total) : 100;
    if (tty) {
        char bar[41];
        int fill = pct * 40 / 100;
        for (int i = 0; i < 40; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[40] = '\0';
        fprintf(stderr, "\r[%s] %lld/%lld rows %3d%%", bar, done, total, pct);
        fflush(stderr);
    } else if (pct / 10 != *last_decile) {
        *last_decile = pct / 10;
        fprintf(stderr, "progress: %lld/%lld rows (%d%%)\n", done, total, pct);
    }
}

static int cmd_import(const sq_config_t *cfg, const opts_t *o)
{
    if (o->file == NULL) {
        fprintf(stderr, "souq: import needs a file: souq import FILE [--format csv|ndjson]\n");
        return 2;
    }
    const char *ext = strrchr(o->file, '.');
    const char *fmtname = o->format                                                             ? o->format
                          : ext == NULL                                                         ? ""
                          : strcasecmp(ext, ".csv") == 0                                        ? "csv"
                          : (strcasecmp(ext, ".ndjson") == 0 || strcasecmp(ext, ".jsonl") == 0) ? "ndjson"
                                                                                                : "";
    if (strcmp(fmtname, "csv") != 0 && strcmp(fmtname, "ndjson") != 0) {
        fprintf(stderr, "souq: import: say --format csv or --format ndjson (the file name does not tell)\n");
        return 2;
    }
    FILE *f = fopen(o->file, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "souq: import: cannot read %s\n", o->file);
        if (f)
            fclose(f);
        return 2;
    }
    sq_arena_t *a = sq_arena_new();
    char *buf = sq_arena_alloc(a, (size_t)st.st_size + 1);
    size_t len = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    int rc = 2;
    sq_syncdb_t *s = NULL;
    json_t *imp = NULL;
    sq_import_parsed_t parsed;
    sq_err_t err;
    sq_err_clear(&err);
    if (sq_import_parse(a, strcmp(fmtname, "csv") == 0 ? SQ_IMPORT_CSV : SQ_IMPORT_NDJSON, buf, len, &parsed, &err) != 0) {
        print_err(&err);
        goto Exit;
    }
    rc = 1;
    s = sq_syncdb_connect(cfg->database_url, 10000, &err);
    if (s == NULL) {
        print_err(&err);
        goto Exit;
    }
    {
        sq_ctx_t *cx = sq_syncdb_ctx(s);
        import_wait_t w = {0};
        char *name = sq_arena_strdup(a, o->file);
        sq_import_create(cx, strcmp(fmtname, "csv") == 0 ? SQ_IMPORT_CSV : SQ_IMPORT_NDJSON, basename(name), &parsed, "cli",
                         on_import_json, &w);
        if (sq_syncdb_wait(s, &w.done, 120000) == 0 && !w.failed)
            imp = json_loads(w.json, 0, NULL);
        else
            sq_err_copy(&err, &w.err);
        sq_syncdb_ctx_free(cx);
    }
    if (imp == NULL) {
        print_err(&err);
        goto Exit;
    }
    const char *id = sq_arena_strdup(a, json_string_value(json_object_get(imp, "id")));
    bool tty = isatty(STDERR_FILENO);
    int decile = -1;
    fprintf(stderr, "import %s: %lld rows\n", id, (long long)json_integer_value(json_object_get(imp, "rows_total")));
    for (;;) {
        progress(imp, tty, &decile);
        const char *status = json_string_value(json_object_get(imp, "status"));
        if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
            break;
        json_t *next = import_call(s, call_step, id, &err);
        if (next == NULL && err.code == SQ_OK) {
            /* a server is working on it (or it just finished): look, and wait a little */
            struct timespec ts = {0, 200000000};
            nanosleep(&ts, NULL);
            next = import_call(s, call_get, id, &err);
        }
        if (next == NULL) {
            if (tty)
                fputc('\n', stderr);
            print_err(&err);
            goto Exit;
        }
        json_decref(imp);
        imp = next;
    }
    if (tty)
        fputc('\n', stderr);
    printf("import %s %s: %lld created, %lld updated, %lld unchanged, %lld failed (%lld of %lld rows)\n", id,
           json_string_value(json_object_get(imp, "status")),
           (long long)json_integer_value(json_object_get(imp, "products_created")),
           (long long)json_integer_value(json_object_get(imp, "products_updated")),
           (long long)json_integer_value(json_object_get(imp, "products_unchanged")),
           (long long)json_integer_value(json_object_get(imp, "products_failed")),
           (long long)json_integer_value(json_object_get(imp, "rows_done")),
           (long long)json_integer_value(json_object_get(imp, "rows_total")));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(imp, "errors"), i, e)
    {
        const char *col = json_string_value(json_object_get(e, "column")), *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        bool show_ptr = col == NULL && ptr != NULL && strncmp(msg, ptr, strlen(ptr)) != 0; /* SQL messages start with it */
        printf("  row %lld%s%s%s%s: %s\n", (long long)json_integer_value(json_object_get(e, "row")), col ? ", column " : "",
               col ? col : "", show_ptr ? " " : "", show_ptr ? ptr : "", msg);
    }
    long long total = json_integer_value(json_object_get(imp, "errors_total"));
    if (total > (long long)json_array_size(json_object_get(imp, "errors")))
        printf("  ... %lld errors in all (the first %zu are kept)\n", total, json_array_size(json_object_get(imp, "errors")));
    rc = total > 0 ? 1 : 0;
Exit:
    json_decref(imp);
    if (s != NULL)
        sq_syncdb_close(s);
    sq_arena_unref(a);
    return rc;
}

static int cmd_routes(void)
{
    static const char *const auth[] = {"none", "store", "customer", "admin"};
    json_t *a = json_array();
    for (size_t i = 0; i < sq_routes_count; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:s, s:b, s:b}", "method", sq_routes[i].method, "path",
                                           sq_routes[i].path, "permission", sq_routes[i].perm, "auth", auth[sq_routes[i].auth],
                                           "upload", (sq_routes[i].flags & SQ_RT_UPLOAD) != 0, "idempotent",
                                           (sq_routes[i].flags & SQ_RT_IDEMPOTENT) != 0));
    char *s = json_dumps(a, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(a);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    opts_t o = {0};
    if (strcmp(cmd, "version") == 0) {
        printf("souq %s\n", SOUQ_VERSION);
        return 0;
    }
    if (strcmp(cmd, "routes") == 0)
        return cmd_routes();
    if (strcmp(cmd, "plugin") == 0)
        return sq_cmd_plugin(argc - 2, argv + 2);
    if (strcmp(cmd, "admin") == 0) {
        if (argc < 3) {
            fputs(usage, stderr);
            return 2;
        }
        const char *sub = argv[2];
        if (parse_opts(argc - 2, argv + 2, &o) != 0)
            return 2;
        sq_config_t *cfg = tools_config(&o);
        if (cfg == NULL)
            return 2;
        int rc;
        if (strcmp(sub, "create-user") == 0) {
            rc = run_on_db(cfg, start_create_user, &o);
        } else if (strcmp(sub, "create-api-key") == 0) {
            rc = run_on_db(cfg, start_create_key, &o);
        } else {
            fprintf(stderr, "souq: unknown admin command \"%s\"\n%s", sub, usage);
            rc = 2;
        }
        sq_config_free(cfg);
        return rc;
    }
    if (parse_opts(argc - 1, argv + 1, &o) != 0)
        return 2;
    if (strcmp(cmd, "serve") == 0)
        return sq_serve(o.config);
    sq_config_t *cfg = tools_config(&o);
    if (cfg == NULL)
        return 2;
    int rc = 0;
    if (strcmp(cmd, "migrate") == 0) {
        sq_err_t err;
        sq_err_clear(&err);
        if (sq_migrate(cfg->database_url, true, &err) != 0) {
            fprintf(stderr, "souq: migrate: %s\n", err.detail);
            rc = 1;
        } else {
            printf("database schema is current\n");
        }
    } else if (strcmp(cmd, "seed") == 0) {
        rc = cmd_seed(cfg, &o);
    } else if (strcmp(cmd, "import") == 0) {
        rc = cmd_import(cfg, &o);
    } else if (strcmp(cmd, "config") == 0) {
        sq_config_print(cfg, stdout);
    } else {
        fprintf(stderr, "souq: unknown command \"%s\"\n%s", cmd, usage);
        rc = 2;
    }
    sq_config_free(cfg);
    return rc;
}
