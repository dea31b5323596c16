/* config.c: tests of api/config.c: defaults, the file format, environment overrides and validation. */
#include "api/config.h"

#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/check.h"

#define SECRET "SOUQ_JWT_SECRET=0123456789abcdef0123456789abcdef"

static char errbuf[512];

static sq_config_t *load_env(char **env)
{
    errbuf[0] = '\0';
    return sq_config_load(NULL, env, errbuf, sizeof(errbuf));
}

/* Writes text to a temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/souq-config-test-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    ssize_t w = write(fd, text, strlen(text));
    (void)w;
    close(fd);
    return path;
}

static void test_defaults(void)
{
    char *env[] = {SECRET, NULL};
    sq_config_t *c = load_env(env);
    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_STR(c->listen_host, "127.0.0.1");
    CHECK_INT(c->listen_port, 8080);
    CHECK(c->threads >= 1);
    CHECK_STR(c->jwt_alg, "HS256");
    CHECK_INT(c->access_token_ttl, 900);
    CHECK_INT(c->max_body_bytes, 1048576);
    CHECK_INT(c->max_auth_body_bytes, 16384);
    CHECK_STR(c->durability_check, "refuse");
    CHECK(c->access_log);
    CHECK_INT(c->login_rate_account, 5);
    CHECK_INT(c->login_rate_ip, 20);
    CHECK_INT(c->notification_retention_s, 90 * 86400);
    CHECK_INT(c->price_change_retention_s, 365 * 86400);
    CHECK_INT(c->cart_retention_s, 90 * 86400);
    CHECK_INT(c->password_hash_memory_kib, 19456);
    sq_config_free(c);
}

static void test_file_and_env(void)
{
    const char *path = temp_file("# a comment\n\n  threads = 3  \nlog_level = \"debug\"\naccess_log = off\n"
                                 "cors_origins = https://a.example.com, http://localhost:3000\n");
    char *env[] = {SECRET, "SOUQ_THREADS=5", "SOUQ_NOT_A_KEY=1", "OTHER=1", NULL};
    sq_config_t *c = sq_config_load(path, env, errbuf, sizeof(errbuf));
    unlink(path);
    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_INT(c->threads, 5); /* the environment wins */
    CHECK_STR(c->log_level, "debug");
    CHECK(!c->access_log);
    CHECK(sq_config_cors_allowed(c, "https://a.example.com", strlen("https://a.example.com")));
    CHECK(sq_config_cors_allowed(c, "http://localhost:3000", strlen("http://localhost:3000")));
    CHECK(!sq_config_cors_allowed(c, "https://a.example.co", strlen("https://a.example.co")));
    CHECK(!sq_config_cors_allowed(c, "https://a.example.com.evil", strlen("https://a.example.com.evil")));
    CHECK(!sq_config_cors_allowed(c, "", 0));
    sq_config_free(c);
}

static void expect_file_error(const char *text, const char *needle)
{
    const char *path = temp_file(text);
    char *env[] = {SECRET, NULL};
    sq_config_t *c = sq_config_load(path, env, errbuf, sizeof(errbuf));
    unlink(path);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, needle);
    sq_config_free(c);
}

static void test_file_errors(void)
{
    expect_file_error("threads = 2\nbogus = 1\n", "unknown key \"bogus\"");
    expect_file_error("threads = 2\nbogus = 1\n", "line 2");
    expect_file_error("threads\n", "expected key = value");
    expect_file_error("threads = lots\n", "config threads");
    /* an over-long line is refused whole: its tail (here a setting hidden inside a comment) is never parsed */
    char *longline = malloc(4200);
    memset(longline, 'x', 4200);
    longline[0] = '#';
    snprintf(longline + 4095, 105, "listen = 0.0.0.0:1\n");
    expect_file_error(longline, "longer than");
    free(longline);
    char *env[] = {SECRET, NULL};
    CHECK(sq_config_load("/nonexistent/souq.conf", env, errbuf, sizeof(errbuf)) == NULL);
    CHECK_CONTAINS(errbuf, "/nonexistent/souq.conf");
}

static void expect_env_error(const char *kv, const char *needle)
{
    char *env[] = {SECRET, (char *)kv, NULL};
    sq_config_t *c = load_env(env);
    CHECK(c == NULL);
    CHECK_CONTAINS(errbuf, needle);
    sq_config_free(c);
}

static void test_validation(void)
{
    expect_env_error("SOUQ_THREADS=abc", "threads");
    expect_env_error("SOUQ_THREADS=257", "threads");
    expect_env_error("SOUQ_THREADS=-1", "threads");
    expect_env_error("SOUQ_THREADS=4x", "threads");
    expect_env_error("SOUQ_JWT_SECRET=short", "jwt_secret");
    expect_env_error("SOUQ_LISTEN=localhost", "listen");
    expect_env_error("SOUQ_LISTEN=:8080", "listen");
    expect_env_error("SOUQ_LISTEN=127.0.0.1:0", "listen");
    expect_env_error("SOUQ_LISTEN=127.0.0.1:65536", "listen");
    expect_env_error("SOUQ_ACCESS_LOG=maybe", "access_log");
    expect_env_error("SOUQ_JWT_ALG=HS512", "jwt_alg");
    expect_env_error("SOUQ_JWT_ALG=RS256", "jwt_private_key_file");
    expect_env_error("SOUQ_JWT_PREVIOUS_SECRET=0123456789abcdef0123456789abcdefXX", "jwt_previous_kid");
    expect_env_error("SOUQ_JWT_KID=bad/kid", "jwt_kid");
    expect_env_error("SOUQ_CORS_ORIGINS=shop.example.com", "cors_origins");
    expect_env_error("SOUQ_CORS_ORIGINS=https://shop.example.com/", "cors_origins");
    expect_env_error("SOUQ_CORS_ORIGINS=https://shop.example.com/path", "cors_origins");
    expect_env_error("SOUQ_ACCESS_TOKEN_TTL=3600", "access_token_ttl");
    expect_env_error("SOUQ_DURABILITY_CHECK=ignore", "durability_check");
    expect_env_error("SOUQ_DATABASE_URL=", "database_url");
    expect_env_error("SOUQ_MAX_AUTH_BODY_BYTES=2000000", "max_auth_body_bytes");
    expect_env_error("SOUQ_PAYMENT_MONITOR_SCHEDULE=often", "payment_monitor_schedule");
    expect_env_error("SOUQ_PURGE_SCHEDULE=every 0 minutes", "purge_schedule");
    expect_env_error("SOUQ_PAYMENT_FAILURE_RECOVER_PCT=20", "payment_failure_recover_pct"); /* not below the 20 % threshold */
    expect_env_error("SOUQ_PAYMENT_FAILURE_THRESHOLD_PCT=101", "payment_failure_threshold_pct");
    expect_env_error("SOUQ_JOB_RETENTION_S=604801", "job_retention_s");
    expect_env_error("SOUQ_PURGE_BATCH_SIZE=0", "purge_batch_size");
    expect_env_error("SOUQ_NOTIFICATION_RETENTION_S=0", "notification_retention_s");
    /* 30 days: the EU's lowest-price rule looks back 30 days, so the ledger keeps at least 31 */
    expect_env_error("SOUQ_PRICE_CHANGE_RETENTION_S=2592000", "price_change_retention_s");
    /* a cart is never deleted while its buyer can still use it (cart_ttl, 30 days by default) */
    expect_env_error("SOUQ_CART_RETENTION_S=2591999", "cart_retention_s");
    {
        char *env[] = {SECRET, "SOUQ_CART_TTL=7200", "SOUQ_CART_RETENTION_S=7200", NULL};
        sq_config_t *c = load_env(env);
        CHECK(c != NULL && c->cart_retention_s == 7200);
        sq_config_free(c);
        char *short_env[] = {SECRET, "SOUQ_CART_TTL=7200", "SOUQ_CART_RETENTION_S=7199", NULL};
        CHECK(load_env(short_env) == NULL);
        CHECK_CONTAINS(errbuf, "at least cart_ttl (7200)");
    }
    char *none[] = {NULL};
    CHECK(load_env(none) == NULL);
    CHECK_CONTAINS(errbuf, "SOUQ_JWT_SECRET");
    char *star[] = {SECRET, "SOUQ_CORS_ORIGINS=*", NULL};
    sq_config_t *c = load_env(star);
    CHECK(c != NULL && sq_config_cors_allowed(c, "https://anything.example", 24));
    sq_config_free(c);
    /* a previous kid without its secret would accept tokens MACed with an empty key */
    char *kid_only[] = {SECRET, "SOUQ_JWT_PREVIOUS_KID=k0", NULL};
    CHECK(load_env(kid_only) == NULL);
    CHECK_CONTAINS(errbuf, "jwt_previous_secret");
    char *rs_kid_only[] = {SECRET, "SOUQ_JWT_ALG=RS256", "SOUQ_JWT_PRIVATE_KEY_FILE=/k.pem", "SOUQ_JWT_PUBLIC_KEY_FILE=/p.pem",
                           "SOUQ_JWT_PREVIOUS_KID=k0", NULL};
    CHECK(load_env(rs_kid_only) == NULL);
    CHECK_CONTAINS(errbuf, "jwt_previous_public_key_file");
    /* an empty entry in the origin list allows nothing */
    char *trailing[] = {SECRET, "SOUQ_CORS_ORIGINS=https://a.example,", NULL};
    c = load_env(trailing);
    CHECK(c != NULL && !sq_config_cors_allowed(c, "", 0) && sq_config_cors_allowed(c, "https://a.example", 17));
    sq_config_free(c);
    char *rot[] = {SECRET, "SOUQ_JWT_PREVIOUS_KID=k0", "SOUQ_JWT_PREVIOUS_SECRET=abcdefabcdefabcdefabcdefabcdefabcdef", NULL};
    c = load_env(rot);
    CHECK(c != NULL);
    sq_config_free(c);
}

static void test_tools_and_restart_keys(void)
{
    char *none[] = {NULL};
    sq_config_t *t = sq_config_load_for_tools(NULL, none, errbuf, sizeof(errbuf));
    CHECK(t != NULL); /* migrate, seed and admin commands need no JWT key */
    sq_config_free(t);
    char *a_env[] = {SECRET, "SOUQ_THREADS=2", NULL};
    char *b_env[] = {SECRET, "SOUQ_THREADS=3", "SOUQ_LOG_LEVEL=warn", "SOUQ_LISTEN=127.0.0.1:9999", NULL};
    sq_config_t *a = load_env(a_env), *b = load_env(b_env);
    CHECK(a != NULL && b != NULL);
    if (a != NULL && b != NULL) {
        char keys[256];
        sq_config_restart_keys(a, b, keys, sizeof(keys));
        CHECK_CONTAINS(keys, "threads");
        CHECK_CONTAINS(keys, "listen");
        CHECK(strstr(keys, "log_level") == NULL);
        sq_config_restart_keys(a, a, keys, sizeof(keys));
        CHECK_STR(keys, "");
    }
    sq_config_free(a);
    sq_config_free(b);
}

static void test_outbound(void)
{
    char *env[] = {SECRET, "SOUQ_OUTBOUND_ALLOW_CIDRS=127.0.0.1/32, 10.1.0.0/16,::1", NULL};
    sq_config_t *c = load_env(env);
    CHECK(c != NULL);
    if (c != NULL) {
        CHECK_INT(c->nallow_cidrs, 3);
        CHECK_INT(c->webhook_timeout_ms, 10000);
        CHECK_INT(c->webhook_connect_timeout_ms, 2000);
        CHECK_INT(c->webhook_max_attempts, 9);
        CHECK_INT(c->webhook_retry_base_ms, 60000);
        CHECK_INT(c->events_lease_ms, 60000);
        CHECK(c->events_dispatch);
    }
    sq_config_free(c);
    expect_file_error("outbound_allow_cidrs = 10.0.0.0/33\n", "config outbound_allow_cidrs");
    expect_file_error("outbound_allow_cidrs = intranet.example\n", "not an IPv4 or IPv6 address");
    /* a lease shorter than an attempt would let a second node deliver while the first still waits */
    expect_file_error("webhook_timeout_ms = 10000\nevents_lease_ms = 5000\n", "config events_lease_ms");
    expect_file_error("webhook_max_attempts = 0\n", "config webhook_max_attempts");
}

/* jobs_lease_ms against the longest wait of a job step: automation's call_webhook, which waits webhook_timeout_ms */
static void test_jobs_lease(void)
{
    expect_file_error("jobs_lease_ms = 10999\n", "config jobs_lease_ms"); /* the default webhook_timeout_ms is 10000 */
    expect_file_error("jobs_lease_ms = 10999\n", "webhook_timeout_ms");
    expect_file_error("webhook_timeout_ms = 1001\njobs_lease_ms = 2000\n", "config jobs_lease_ms");
    expect_file_error("webhook_timeout_ms = 120000\nevents_lease_ms = 200000\njobs_lease_ms = 120999\n", "config jobs_lease_ms");
    const char *ok[] = {"jobs_lease_ms = 11000\n", "webhook_timeout_ms = 1000\njobs_lease_ms = 2000\n",
                        "webhook_timeout_ms = 120000\nevents_lease_ms = 200000\njobs_lease_ms = 121000\n"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *path = temp_file(ok[i]);
        char *env[] = {SECRET, NULL};
        sq_config_t *c = sq_config_load(path, env, errbuf, sizeof(errbuf));
        unlink(path);
        CHECK(c != NULL);
        sq_config_free(c);
    }
    char *env[] = {SECRET, NULL};
    sq_config_t *c = load_env(env);
    CHECK(c != NULL && c->jobs_lease_ms == 300000 && c->jobs_lease_ms > c->webhook_timeout_ms + 1000); /* the defaults pass */
    sq_config_free(c);
}

int main(void)
{
    test_defaults();
    test_file_and_env();
    test_file_errors();
    test_jobs_lease();
    test_validation();
    test_tools_and_restart_keys();
    test_outbound();
    return check_done("config");
}
