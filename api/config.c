/* config.c: defaults -> file -> environment, then one validation pass that names the bad key. */
#include "api/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/base/util.h"
#include "core/jobs.h"
#include "plugins/host/host.h"

typedef enum { T_STR, T_INT, T_BOOL } type_t;

typedef struct {
    const char *key;
    type_t type;
    size_t off;
    const char *def;
    long min, max;            /* T_INT range */
    const char *const *oneof; /* T_STR allowed values */
    bool secret;
    bool restart; /* a change needs a restart (SIGHUP warns and keeps the old value in effect) */
    const char *help;
} spec_t;

static const char *const algs[] = {"HS256", "RS256", "ES256", NULL};
static const char *const durability[] = {"refuse", "warn", NULL};
static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const onoff[] = {"on", "off", NULL};

#define F(f) offsetof(sq_config_t, f)
static const spec_t specs[] = {
    {"database_url", T_STR, F(database_url), "postgresql:///souq", 0, 0, NULL, true, true, "libpq connection URL or keywords"},
    {"listen", T_STR, F(listen), "127.0.0.1:8080", 0, 0, NULL, false, true, "host:port to serve HTTP on"},
    {"threads", T_INT, F(threads), "0", 0, 256, NULL, false, true, "event-loop threads (0 = one per CPU)"},
    {"pool_threads", T_INT, F(pool_threads), "2", 1, 64, NULL, false, true, "threads for CPU-heavy work (password hashing)"},
    {"jwt_alg", T_STR, F(jwt_alg), "HS256", 0, 0, algs, false, false, "access-token algorithm: HS256, RS256 or ES256"},
    {"jwt_secret", T_STR, F(jwt_secret), "", 0, 0, NULL, true, false, "HS256 key, at least 32 bytes"},
    {"jwt_kid", T_STR, F(jwt_kid), "k1", 0, 0, NULL, false, false, "key id written into new tokens"},
    {"jwt_private_key_file", T_STR, F(jwt_private_key_file), "", 0, 0, NULL, false, false, "RS256/ES256 private key (PEM)"},
    {"jwt_public_key_file", T_STR, F(jwt_public_key_file), "", 0, 0, NULL, false, false, "RS256/ES256 public key (PEM)"},
    {"jwt_previous_kid", T_STR, F(jwt_previous_kid), "", 0, 0, NULL, false, false, "key id of the previous key (rotation)"},
    {"jwt_previous_secret", T_STR, F(jwt_previous_secret), "", 0, 0, NULL, true, false, "previous HS256 key, still accepted"},
    {"jwt_previous_public_key_file", T_STR, F(jwt_previous_public_key_file), "", 0, 0, NULL, false, false,
     "previous RS256/ES256 public key, still accepted"},
    {"jwt_issuer", T_STR, F(jwt_issuer), "souq", 0, 0, NULL, false, false, "iss claim of access tokens"},
    {"access_token_ttl", T_INT, F(access_token_ttl), "900", 60, 900, NULL, false, false, "access-token lifetime, seconds"},
    {"refresh_token_ttl", T_INT, F(refresh_token_ttl), "2592000", 300, 31536000, NULL, false, false,
     "refresh-token lifetime (sliding), seconds"},
    {"cart_ttl", T_INT, F(cart_ttl), "2592000", 3600, 31536000, NULL, false, false,
     "carts unchanged for this many seconds are expired"},
    {"db_commit_connections", T_INT, F(db_commit_connections), "4", 0, 32, NULL, false, true,
     "extra PostgreSQL connections per thread for durable commits (checkout), so their WAL flushes are shared"},
    {"checkout_reservation_ttl", T_INT, F(checkout_reservation_ttl), "900", 1, 86400, NULL, false, false,
     "stock a checkout waiting for payment action (3-D Secure) holds for this many seconds"},
    {"session_ttl", T_INT, F(session_ttl), "7776000", 300, 63072000, NULL, false, false, "absolute session lifetime, seconds"},
    {"cors_origins", T_STR, F(cors_origins), "", 0, 0, NULL, false, false, "storefront origins allowed by CORS, comma-separated"},
    {"request_timeout_ms", T_INT, F(request_timeout_ms), "10000", 100, 600000, NULL, false, true, "per-request deadline"},
    {"statement_timeout_ms", T_INT, F(statement_timeout_ms), "5000", 100, 600000, NULL, false, true,
     "PostgreSQL statement_timeout"},
    {"lock_timeout_ms", T_INT, F(lock_timeout_ms), "3000", 10, 600000, NULL, false, true, "PostgreSQL lock_timeout"},
    {"max_body_bytes", T_INT, F(max_body_bytes), "1048576", 1024, 67108864, NULL, false, true, "request body limit"},
    {"max_auth_body_bytes", T_INT, F(max_auth_body_bytes), "16384", 1024, 1048576, NULL, false, false,
     "request body limit of auth endpoints"},
    {"max_import_bytes", T_INT, F(max_import_bytes), "8388608", 1024, 268435456, NULL, false, true,
     "request body limit of POST /v1/admin/imports (CSV or NDJSON files)"},
    {"durability_check", T_STR, F(durability_check), "refuse", 0, 0, durability, false, false,
     "refuse or warn when PostgreSQL runs with fsync=off or synchronous_commit=off"},
    {"log_level", T_STR, F(log_level), "info", 0, 0, levels, false, false, "debug, info, warn or error"},
    {"access_log", T_BOOL, F(access_log), "on", 0, 0, NULL, false, false, "one JSON line per request on stderr"},
    {"login_rate_account", T_INT, F(login_rate_account), "5", 1, 100000, NULL, false, false,
     "failed logins per account per minute"},
    {"login_rate_ip", T_INT, F(login_rate_ip), "20", 1, 100000, NULL, false, false, "failed logins per client address per minute"},
    {"gift_card_rate_ip", T_INT, F(gift_card_rate_ip), "30", 1, 100000, NULL, false, false,
     "gift card codes tried on carts per client address per minute"},
    {"gift_card_rate_cart", T_INT, F(gift_card_rate_cart), "10", 1, 100000, NULL, false, false,
     "gift card codes tried per cart per minute"},
    {"reset_rate_account", T_INT, F(reset_rate_account), "3", 1, 100000, NULL, false, false,
     "password-reset requests per account per hour"},
    {"reset_rate_ip", T_INT, F(reset_rate_ip), "10", 1, 100000, NULL, false, false,
     "password-reset requests per client address per hour"},
    {"password_hash_memory_kib", T_INT, F(password_hash_memory_kib), "19456", 1024, 1048576, NULL, false, false,
     "argon2id memory cost (OWASP minimum: 19456)"},
    {"password_hash_iterations", T_INT, F(password_hash_iterations), "2", 1, 16, NULL, false, false, "argon2id time cost"},
    {"store_cache_max_age_s", T_INT, F(store_cache_max_age_s), "5", 0, 3600, NULL, false, false,
     "storefront cache entries are recomputed at least this often (stock quantities of reservations); 0 = only on change"},
    {"store_cache_mb", T_INT, F(store_cache_mb), "64", 0, 4096, NULL, false, true,
     "storefront read cache per thread, MiB (0 = off)"},
    {"shutdown_timeout_ms", T_INT, F(shutdown_timeout_ms), "10000", 0, 600000, NULL, false, false,
     "how long SIGTERM waits for in-flight requests"},
    {"metrics_token", T_STR, F(metrics_token), "", 0, 0, NULL, true, false,
     "if set, /metrics requires Authorization: Bearer <token>"},
    {"problem_base_url", T_STR, F(problem_base_url), "https://docs.souq.dev/problems/", 0, 0, NULL, false, false,
     "prefix of problem type URIs"},
    {"trust_forwarded_for", T_STR, F(trust_forwarded_for), "off", 0, 0, onoff, false, false,
     "on: client address from X-Forwarded-For (only behind a trusted proxy)"},
    {"plugin_dirs", T_STR, F(plugin_dirs), "plugins", 0, 0, NULL, false, false,
     "comma-separated folders whose subfolders are Lua plugins (SIGHUP and POST /v1/admin/plugins/reload reread them)"},
    {"plugin_secrets_key", T_STR, F(plugin_secrets_key), "", 0, 0, NULL, true, false,
     "64 hex characters (32 bytes): seals plugin settings marked secret at rest (AES-256-GCM); empty: stored as given"},
    {"plugin_secrets_previous_key", T_STR, F(plugin_secrets_previous_key), "", 0, 0, NULL, true, false,
     "the key before a rotation: still opens secrets sealed with it until they are resealed"},
    {"outbound_allow_cidrs", T_STR, F(outbound_allow_cidrs), "", 0, 0, NULL, false, false,
     "comma-separated CIDRs that outbound HTTP (webhooks, plugins) may reach although private or loopback"},
    {"webhook_connect_timeout_ms", T_INT, F(webhook_connect_timeout_ms), "2000", 50, 60000, NULL, false, false,
     "webhook delivery and automation's call_webhook: connect timeout"},
    {"webhook_timeout_ms", T_INT, F(webhook_timeout_ms), "10000", 100, 120000, NULL, false, false,
     "webhook delivery and automation's call_webhook: total timeout of one attempt"},
    {"webhook_retry_base_ms", T_INT, F(webhook_retry_base_ms), "60000", 1, 3600000, NULL, false, false,
     "first retry delay of a failed webhook delivery; the schedule 1m 5m 30m 2h 6h 12h 24h 24h scales with it"},
    {"webhook_max_attempts", T_INT, F(webhook_max_attempts), "9", 1, 20, NULL, false, false,
     "attempts of one webhook delivery (the first included) before it is discarded and the endpoint disabled"},
    {"events_poll_ms", T_INT, F(events_poll_ms), "1000", 10, 60000, NULL, false, false,
     "the event dispatcher looks for due events and deliveries at least this often (NOTIFY wakes it at once)"},
    {"events_lease_ms", T_INT, F(events_lease_ms), "60000", 1000, 3600000, NULL, false, false,
     "a claimed delivery returns to the queue after this long when its node died; longer than webhook_timeout_ms"},
    {"events_dispatch", T_BOOL, F(events_dispatch), "on", 0, 0, NULL, false, true, "off: this node dispatches no events"},
    {"jobs_run", T_BOOL, F(jobs_run), "on", 0, 0, NULL, false, true, "off: this node runs no jobs (other nodes do)"},
    {"jobs_poll_ms", T_INT, F(jobs_poll_ms), "1000", 10, 60000, NULL, false, false,
     "the job runner looks for due jobs and schedules at least this often (NOTIFY wakes it at once for new jobs)"},
    {"jobs_lease_ms", T_INT, F(jobs_lease_ms), "300000", 500, 86400000, NULL, false, false,
     "a claimed job returns to the queue after this long when its node died; handlers finish well within it; longer than "
     "webhook_timeout_ms"},
    {"job_retry_base_ms", T_INT, F(job_retry_base_ms), "15000", 1, 3600000, NULL, false, false,
     "first retry delay of a failed job; doubles per failure (+-10 % jitter) up to job_retry_max_ms"},
    {"job_retry_max_ms", T_INT, F(job_retry_max_ms), "3600000", 1, 86400000, NULL, false, false, "the longest retry delay of a job"},
    {"jobs_test_kinds", T_BOOL, F(jobs_test_kinds), "off", 0, 0, NULL, false, true,
     "on: register the test.probe job kind (API tests only)"},
    {"abandoned_carts", T_BOOL, F(abandoned_carts), "on", 0, 0, NULL, false, true, "off: send no abandoned-cart reminders"},
    {"abandoned_cart_schedule", T_STR, F(abandoned_cart_schedule), "every 5 minutes", 0, 0, NULL, false, true,
     "how often the abandoned-cart scan runs: \"every N seconds|minutes|hours\" or \"daily at HH:MM\" (UTC)"},
    {"abandoned_cart_after_s", T_INT, F(abandoned_cart_after_s), "3600", 1, 31536000, NULL, false, false,
     "a cart with an email and items, unchanged for this many seconds, is abandoned"},
    {"abandoned_cart_max_reminders", T_INT, F(abandoned_cart_max_reminders), "2", 0, 10, NULL, false, false,
     "cart.abandoned reminders per cart at most (0: none)"},
    {"abandoned_cart_spacing_s", T_INT, F(abandoned_cart_spacing_s), "86400", 1, 31536000, NULL, false, false,
     "at least this many seconds between two reminders of one cart"},
    {"abandoned_cart_discount_bp", T_INT, F(abandoned_cart_discount_bp), "0", 0, 10000, NULL, false, false,
     "a one-time discount code (this many basis points off the order) in reminders from abandoned_cart_discount_from on (0: none)"},
    {"abandoned_cart_discount_from", T_INT, F(abandoned_cart_discount_from), "2", 1, 10, NULL, false, false,
     "the first reminder that carries a discount code"},
    {"abandoned_cart_discount_ttl_s", T_INT, F(abandoned_cart_discount_ttl_s), "604800", 3600, 31536000, NULL, false, false,
     "how long a reminder's discount code works"},
    {"payment_monitor", T_BOOL, F(payment_monitor), "on", 0, 0, NULL, false, true, "off: no payment failure-rate alerts"},
    {"payment_monitor_schedule", T_STR, F(payment_monitor_schedule), "every 1 minute", 0, 0, NULL, false, true,
     "how often the payment-failure monitor runs: \"every N seconds|minutes|hours\" or \"daily at HH:MM\" (UTC)"},
    {"payment_failure_window_s", T_INT, F(payment_failure_window_s), "900", 10, 86400, NULL, false, false,
     "the payment-failure monitor computes each provider's failure rate over the last this many seconds"},
    {"payment_failure_min_attempts", T_INT, F(payment_failure_min_attempts), "20", 1, 1000000, NULL, false, false,
     "a provider with fewer finished authorizations in the window never alerts"},
    {"payment_failure_threshold_pct", T_INT, F(payment_failure_threshold_pct), "20", 1, 100, NULL, false, false,
     "payment.failure_rate_high when declined or failed authorizations reach this percentage"},
    {"payment_failure_recover_pct", T_INT, F(payment_failure_recover_pct), "10", 0, 99, NULL, false, false,
     "an open alert recovers (payment.failure_rate_recovered) below this percentage; below the threshold"},
    {"purge", T_BOOL, F(purge), "on", 0, 0, NULL, false, true,
     "off: dispatched events, delivery attempts, finished jobs and notifications and the price ledger are kept"},
    {"purge_schedule", T_STR, F(purge_schedule), "every 10 minutes", 0, 0, NULL, false, true,
     "how often the purge runs: \"every N seconds|minutes|hours\" or \"daily at HH:MM\" (UTC)"},
    {"event_retention_s", T_INT, F(event_retention_s), "2592000", 3600, 31622400, NULL, false, false,
     "dispatched events (with their finished deliveries) are deleted this many seconds after they happened"},
    {"delivery_attempt_retention_s", T_INT, F(delivery_attempt_retention_s), "2592000", 3600, 31622400, NULL, false, false,
     "webhook delivery attempts (the delivery log) are deleted this many seconds after they started"},
    {"job_retention_s", T_INT, F(job_retention_s), "604800", 60, 604800, NULL, false, false,
     "completed and canceled jobs are deleted this many seconds after they finished (the runner's own 7-day limit stays)"},
    {"notification_retention_s", T_INT, F(notification_retention_s), "7776000", 3600, 94608000, NULL, false, false,
     "finished order notifications (sent, failed, skipped) are deleted this many seconds after they were created"},
    {"price_change_retention_s", T_INT, F(price_change_retention_s), "31536000", 2678400, 315360000, NULL, false, false,
     "price ledger entries (GET /v1/admin/price-changes) are deleted this many seconds after the change (at least 31 days)"},
    {"cart_retention_s", T_INT, F(cart_retention_s), "7776000", 3600, 315360000, NULL, false, false,
     "carts never completed (abandoned or merged) are deleted this many seconds after their last change (at least cart_ttl)"},
    {"purge_batch_size", T_INT, F(purge_batch_size), "500", 1, 10000, NULL, false, false, "rows one purge statement deletes at most"},
    {"purge_max_batches", T_INT, F(purge_max_batches), "20", 1, 1000, NULL, false, false,
     "batches of each kind one purge run deletes at most (the next run continues)"},
    {"notification_max_per_hour", T_INT, F(notification_max_per_hour), "10000", 0, 10000000, NULL, false, false,
     "order notifications sent per hour across the store at most, a spending cap on the email provider (0: no cap)"},
    {"password_reset_url", T_STR, F(password_reset_url), "", 0, 0, NULL, false, false,
     "the storefront's password-reset page, http(s) with {token} where the reset token goes; empty: no reset emails"},
};
#undef F

static void *field(sq_config_t *c, const spec_t *s)
{
    return (char *)c + s->off;
}

static int fail(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Sets one key from its text form; `where` names the source for the message. */
static int set(sq_config_t *c, const spec_t *s, const char *val, const char *where, char *errbuf, size_t errlen)
{
    switch (s->type) {
    case T_STR: {
        if (s->oneof != NULL) {
            bool ok = false;
            for (const char *const *o = s->oneof; *o; o++)
                ok |= strcmp(*o, val) == 0;
            if (!ok) {
                char allowed[128] = "";
                for (const char *const *o = s->oneof; *o; o++)
                    snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s", o == s->oneof ? "" : ", ", *o);
                return fail(errbuf, errlen, "config %s (%s): must be one of %s", s->key, where, allowed);
            }
        }
        char **p = field(c, s);
        free(*p);
        *p = sq_xstrdup(val);
        return 0;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno != 0 || end == val || *end != '\0' || v < s->min || v > s->max)
            return fail(errbuf, errlen, "config %s (%s): must be an integer from %ld to %ld, got \"%.40s\"", s->key, where, s->min,
                        s->max, val);
        *(int *)field(c, s) = (int)v;
        return 0;
    }
    case T_BOOL:
        if (strcmp(val, "on") == 0 || strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
            *(bool *)field(c, s) = true;
        else if (strcmp(val, "off") == 0 || strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
            *(bool *)field(c, s) = false;
        else
            return fail(errbuf, errlen, "config %s (%s): must be on or off, got \"%.40s\"", s->key, where, val);
        return 0;
    }
    return -1;
}

static const spec_t *find(const char *key, size_t len)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(specs); i++)
        if (strlen(specs[i].key) == len && strncmp(specs[i].key, key, len) == 0)
            return &specs[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(sq_config_t *c, const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(errbuf, errlen, "config file %s: %s", path, strerror(errno));
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t ll = strlen(line);
        if (ll == sizeof(line) - 1 && line[ll - 1] != '\n' && fgetc(f) != EOF) {
            /* never parse the tail of an over-long line (inside a comment, say) as a line of its own */
            rc = fail(errbuf, errlen, "config file %s line %d: longer than %zu bytes", path, lineno, sizeof(line) - 2);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            rc = fail(errbuf, errlen, "config file %s line %d: expected key = value", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        const spec_t *sp = find(key, strlen(key));
        if (sp == NULL) {
            rc = fail(errbuf, errlen, "config file %s line %d: unknown key \"%.60s\"", path, lineno, key);
            break;
        }
        char where[300];
        snprintf(where, sizeof(where), "%s line %d", path, lineno);
        rc = set(c, sp, val, where, errbuf, errlen);
    }
    fclose(f);
    return rc;
}

static int load_env(sq_config_t *c, char *const *env, char *errbuf, size_t errlen)
{
    for (; env != NULL && *env != NULL; env++) {
        const char *e = *env;
        if (strncmp(e, "SOUQ_", 5) != 0)
            continue;
        const char *eq = strchr(e, '=');
        if (eq == NULL)
            continue;
        char key[64];
        size_t kl = (size_t)(eq - e - 5);
        if (kl == 0 || kl >= sizeof(key))
            continue;
        for (size_t i = 0; i < kl; i++)
            key[i] = (char)tolower((unsigned char)e[5 + i]);
        key[kl] = '\0';
        const spec_t *sp = find(key, kl);
        if (sp == NULL)
            continue; /* other SOUQ_* variables (SOUQ_OWNER_PASSWORD, ...) belong to commands, not to the server config */
        char where[80];
        snprintf(where, sizeof(where), "environment SOUQ_%.*s", (int)kl, e + 5);
        if (set(c, sp, eq + 1, where, errbuf, errlen) != 0)
            return -1;
    }
    return 0;
}

static int validate(sq_config_t *c, bool serve, char *errbuf, size_t errlen)
{
    /* listen = host:port */
    const char *colon = strrchr(c->listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || colon == c->listen || (size_t)(colon - c->listen) >= sizeof(c->listen_host) || end == colon + 1 ||
        *end != '\0' || port < 1 || port > 65535)
        return fail(errbuf, errlen, "config listen: must be host:port with a port from 1 to 65535, got \"%.60s\"", c->listen);
    snprintf(c->listen_host, sizeof(c->listen_host), "%.*s", (int)(colon - c->listen), c->listen);
    c->listen_port = (int)port;
    if (c->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n > 0 ? (int)(n > 64 ? 64 : n) : 1;
    }
    if (c->database_url[0] == '\0')
        return fail(errbuf, errlen, "config database_url: must not be empty");
    if (!serve) {
        /* tools never mint or check tokens */
    } else if (strcmp(c->jwt_alg, "HS256") == 0) {
        if (strlen(c->jwt_secret) < 32)
            return fail(errbuf, errlen,
                        "config jwt_secret: HS256 needs a secret of at least 32 bytes (RFC 7518 3.2); set SOUQ_JWT_SECRET");
        /* also when only the kid is set: an empty previous secret would accept tokens MACed with an empty key */
        if ((c->jwt_previous_secret[0] != '\0' || c->jwt_previous_kid[0] != '\0') && strlen(c->jwt_previous_secret) < 32)
            return fail(errbuf, errlen, "config jwt_previous_secret: must be at least 32 bytes (required with jwt_previous_kid)");
    } else {
        if (c->jwt_private_key_file[0] == '\0' || c->jwt_public_key_file[0] == '\0')
            return fail(errbuf, errlen, "config jwt_private_key_file: %s needs jwt_private_key_file and jwt_public_key_file",
                        c->jwt_alg);
        if (c->jwt_previous_kid[0] != '\0' && c->jwt_previous_public_key_file[0] == '\0')
            return fail(errbuf, errlen, "config jwt_previous_public_key_file: required when jwt_previous_kid is set");
    }
    if ((c->jwt_previous_secret[0] != '\0' || c->jwt_previous_public_key_file[0] != '\0') && c->jwt_previous_kid[0] == '\0')
        return fail(errbuf, errlen, "config jwt_previous_kid: required when a previous key is configured");
    if (c->jwt_previous_kid[0] != '\0' && strcmp(c->jwt_previous_kid, c->jwt_kid) == 0)
        return fail(errbuf, errlen, "config jwt_previous_kid: must differ from jwt_kid");
    for (const char *k = c->jwt_kid; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '-' && *k != '_' && *k != '.')
            return fail(errbuf, errlen, "config jwt_kid: only letters, digits, '-', '_' and '.'");
    if (strlen(c->jwt_kid) == 0 || strlen(c->jwt_kid) > 60)
        return fail(errbuf, errlen, "config jwt_kid: must be 1 to 60 characters");
    if (!sq_plugin_secrets_key_valid(c->plugin_secrets_key))
        return fail(errbuf, errlen,
                    "config plugin_secrets_key: must be 64 hex characters (32 bytes; openssl rand -hex 32) or empty");
    if (!sq_plugin_secrets_key_valid(c->plugin_secrets_previous_key))
        return fail(errbuf, errlen, "config plugin_secrets_previous_key: must be 64 hex characters or empty");
    if (c->plugin_secrets_previous_key[0] != '\0' && strcasecmp(c->plugin_secrets_previous_key, c->plugin_secrets_key) == 0)
        return fail(errbuf, errlen, "config plugin_secrets_previous_key: must differ from plugin_secrets_key");
    if (c->password_reset_url[0] != '\0' &&
        ((strncmp(c->password_reset_url, "https://", 8) != 0 && strncmp(c->password_reset_url, "http://", 7) != 0) ||
         strstr(c->password_reset_url, "{token}") == NULL || strlen(c->password_reset_url) > 1024))
        return fail(errbuf, errlen, "config password_reset_url: must be an http(s) URL containing {token} (or empty)");
    if (c->session_ttl < c->access_token_ttl)
        return fail(errbuf, errlen, "config session_ttl: must be at least access_token_ttl");
    if (c->max_auth_body_bytes > c->max_body_bytes)
        return fail(errbuf, errlen, "config max_auth_body_bytes: must not exceed max_body_bytes");
    if (c->cart_retention_s < c->cart_ttl) /* never delete a cart its buyer can still use */
        return fail(errbuf, errlen, "config cart_retention_s: must be at least cart_ttl (%d)", c->cart_ttl);
    {
        sq_schedule_spec_t ps;
        const char *why;
        if (sq_schedule_parse(c->abandoned_cart_schedule, &ps, &why) != 0)
            return fail(errbuf, errlen, "config abandoned_cart_schedule: %s", why);
        if (sq_schedule_parse(c->payment_monitor_schedule, &ps, &why) != 0)
            return fail(errbuf, errlen, "config payment_monitor_schedule: %s", why);
        if (sq_schedule_parse(c->purge_schedule, &ps, &why) != 0)
            return fail(errbuf, errlen, "config purge_schedule: %s", why);
    }
    if (c->payment_failure_recover_pct >= c->payment_failure_threshold_pct)
        return fail(errbuf, errlen, "config payment_failure_recover_pct: must be below payment_failure_threshold_pct");
    if (c->job_retry_max_ms < c->job_retry_base_ms)
        return fail(errbuf, errlen, "config job_retry_max_ms: must be at least job_retry_base_ms");
    if (c->events_lease_ms < c->webhook_timeout_ms + 1000)
        return fail(errbuf, errlen, "config events_lease_ms: must exceed webhook_timeout_ms by at least 1000");
    /* a job step that waits on the network (automation's call_webhook, with the webhook timeouts) must end before its
     * lease does, or another node runs the job again while the first still waits */
    if (c->jobs_lease_ms < c->webhook_timeout_ms + 1000)
        return fail(errbuf, errlen,
                    "config jobs_lease_ms: must exceed webhook_timeout_ms (the longest wait of a job step: automation's "
                    "call_webhook) by at least 1000");
    {
        char why[128];
        c->nallow_cidrs = sq_cidr_parse_list(c->outbound_allow_cidrs, c->allow_cidrs, SQ_ARRAY_LEN(c->allow_cidrs), why, sizeof(why));
        if (c->nallow_cidrs < 0)
            return fail(errbuf, errlen, "config outbound_allow_cidrs: %s", why);
    }
    /* origins: scheme://host[:port] each, or "*" */
    char *copy = sq_xstrdup(c->cors_origins), *save = NULL;
    int rc = 0;
    for (char *o = strtok_r(copy, ",", &save); o != NULL && rc == 0; o = strtok_r(NULL, ",", &save)) {
        o = trim(o);
        if (strcmp(o, "*") == 0)
            continue;
        if ((strncmp(o, "http://", 7) != 0 && strncmp(o, "https://", 8) != 0) || o[strlen(o) - 1] == '/' ||
            strchr(strchr(o, ':') + 3, '/') != NULL)
            rc = fail(errbuf, errlen, "config cors_origins: \"%.60s\" is not an origin like https://shop.example.com", o);
    }
    free(copy);
    return rc;
}

static sq_config_t *load(const char *path, char *const *env, bool serve, char *errbuf, size_t errlen)
{
    sq_config_t *c = sq_xcalloc(1, sizeof(*c));
    for (size_t i = 0; i < SQ_ARRAY_LEN(specs); i++)
        if (set(c, &specs[i], specs[i].def, "default", errbuf, errlen) != 0)
            goto Error;
    if (path != NULL && load_file(c, path, errbuf, errlen) != 0)
        goto Error;
    if (load_env(c, env, errbuf, errlen) != 0)
        goto Error;
    if (validate(c, serve, errbuf, errlen) != 0)
        goto Error;
    return c;
Error:
    sq_config_free(c);
    return NULL;
}

sq_config_t *sq_config_load(const char *path, char *const *env, char *errbuf, size_t errlen)
{
    return load(path, env, true, errbuf, errlen);
}

sq_config_t *sq_config_load_for_tools(const char *path, char *const *env, char *errbuf, size_t errlen)
{
    return load(path, env, false, errbuf, errlen);
}

void sq_config_free(sq_config_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < SQ_ARRAY_LEN(specs); i++)
        if (specs[i].type == T_STR)
            free(*(char **)field(c, &specs[i]));
    free(c);
}

void sq_config_print(const sq_config_t *c, void *file)
{
    FILE *f = file;
    for (size_t i = 0; i < SQ_ARRAY_LEN(specs); i++) {
        const spec_t *s = &specs[i];
        const void *p = (const char *)c + s->off;
        fprintf(f, "# %s\n", s->help);
        switch (s->type) {
        case T_STR:
            fprintf(f, "%s = %s\n", s->key, s->secret && **(char *const *)p ? "<redacted>" : *(char *const *)p);
            break;
        case T_INT:
            fprintf(f, "%s = %d\n", s->key, *(const int *)p);
            break;
        case T_BOOL:
            fprintf(f, "%s = %s\n", s->key, *(const bool *)p ? "on" : "off");
            break;
        }
    }
}

bool sq_config_cors_allowed(const sq_config_t *c, const char *origin, size_t len)
{
    const char *p = c->cors_origins;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && isspace((unsigned char)t[-1]))
            t--;
        size_t n = (size_t)(t - p);
        if (n > 0 && ((n == 1 && *p == '*') || (n == len && memcmp(p, origin, len) == 0)))
            return true;
        p = e;
    }
    return false;
}

void sq_config_restart_keys(const sq_config_t *a, const sq_config_t *b, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < SQ_ARRAY_LEN(specs); i++) {
        const spec_t *s = &specs[i];
        if (!s->restart)
            continue;
        const void *pa = (const char *)a + s->off, *pb = (const char *)b + s->off;
        bool differ = s->type == T_STR ? strcmp(*(char *const *)pa, *(char *const *)pb) != 0
                                       : memcmp(pa, pb, s->type == T_INT ? sizeof(int) : sizeof(bool)) != 0;
        if (differ)
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? ", " : "", s->key);
    }
}
