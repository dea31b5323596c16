/* config.h: server configuration from a `key = value` file plus SOUQ_<KEY> environment overrides,
 * validated as a whole before anything starts. */
#ifndef SQ_CONFIG_H
#define SQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/http.h"

typedef struct sq_config {
    char *database_url;
    char *listen; /* host:port */
    char listen_host[64];
    int listen_port;
    int threads;
    int pool_threads;
    char *jwt_alg;
    char *jwt_secret;
    char *jwt_kid;
    char *jwt_private_key_file;
    char *jwt_public_key_file;
    char *jwt_previous_kid;
    char *jwt_previous_secret;
    char *jwt_previous_public_key_file;
    char *jwt_issuer;
    int access_token_ttl;
    int refresh_token_ttl;
    int cart_ttl;
    int checkout_reservation_ttl;
    int db_commit_connections;
    int session_ttl;
    char *cors_origins; /* comma-separated origins, or empty */
    int request_timeout_ms;
    int statement_timeout_ms;
    int lock_timeout_ms;
    int max_body_bytes;
    int max_auth_body_bytes;
    int max_import_bytes;
    char *durability_check; /* refuse | warn */
    char *log_level;
    bool access_log;
    int login_rate_account;
    int login_rate_ip;
    int gift_card_rate_ip, gift_card_rate_cart;
    int reset_rate_account;
    int reset_rate_ip;
    int password_hash_memory_kib;
    int password_hash_iterations;
    int shutdown_timeout_ms;
    int store_cache_mb; /* per thread; 0 = no storefront read cache */
    int store_cache_max_age_s; /* thread 0 starts a new cache generation this often (0 = never) */
    char *metrics_token;
    char *problem_base_url;
    char *trust_forwarded_for; /* "on": take the client address from X-Forwarded-For (behind a proxy) */
    char *plugin_dirs;         /* comma-separated folders of plugin folders (plugins/host) */
    char *plugin_secrets_key, *plugin_secrets_previous_key; /* AES-256-GCM keys of secret plugin settings (hex) */
    /* outbound HTTP (webhooks, plugins) and the event dispatcher */
    char *outbound_allow_cidrs; /* comma-separated CIDRs exempt from the private-address refusal */
    sq_cidr_t allow_cidrs[16];  /* parsed from outbound_allow_cidrs */
    int nallow_cidrs;
    int webhook_connect_timeout_ms;
    int webhook_timeout_ms;    /* total, per attempt */
    int webhook_retry_base_ms; /* the first retry's delay; the schedule scales with it */
    int webhook_max_attempts;  /* attempts of one delivery, the first included */
    int events_poll_ms;        /* the dispatcher looks for due work at least this often (NOTIFY wakes it sooner) */
    int events_lease_ms;       /* a claimed delivery is another node's again after this long */
    bool events_dispatch;      /* off: this node does not dispatch (other nodes do) */
    /* durable jobs (api/jobs_runner.c) and the abandoned-cart automation */
    bool jobs_run;                     /* off: this node runs no jobs (other nodes do) */
    int jobs_poll_ms;                  /* the runner looks for due jobs at least this often (NOTIFY wakes it sooner) */
    int jobs_lease_ms;                 /* a claimed job is another node's again after this long */
    int job_retry_base_ms;             /* the first retry's delay; doubles per failure */
    int job_retry_max_ms;              /* the longest retry delay */
    bool jobs_test_kinds;              /* on: the test.probe kind the API tests drive */
    bool abandoned_carts;              /* off: no abandoned-cart reminders */
    char *abandoned_cart_schedule;     /* how often the scan runs (a schedule spec) */
    int abandoned_cart_after_s;        /* a cart unchanged this long is abandoned */
    int abandoned_cart_max_reminders;  /* reminders per cart */
    int abandoned_cart_spacing_s;      /* at least this long between two reminders of one cart */
    int abandoned_cart_discount_bp;    /* a one-time code this much off the order in reminders (0: none) */
    int abandoned_cart_discount_from;  /* from this reminder on */
    int abandoned_cart_discount_ttl_s; /* how long the code works */
    /* the payment-failure monitor and the purge (core/upkeep.h) */
    bool payment_monitor;              /* off: no failure-rate alerts */
    char *payment_monitor_schedule;    /* how often the monitor runs (a schedule spec) */
    int payment_failure_window_s;      /* the window the rate is computed over */
    int payment_failure_min_attempts;  /* fewer finished authorizations in the window never alert */
    int payment_failure_threshold_pct; /* alert at this failure rate or above */
    int payment_failure_recover_pct;   /* an open alert recovers below this rate */
    bool purge;                        /* off: nothing is purged */
    char *purge_schedule;              /* how often the purge runs (a schedule spec) */
    int event_retention_s, delivery_attempt_retention_s, job_retention_s;
    int notification_retention_s; /* finished order notifications (sent, failed, skipped) are deleted after this long */
    int price_change_retention_s; /* price ledger rows are deleted after this long (at least 31 days: the EU's 30-day rule) */
    int cart_retention_s;         /* carts never completed are deleted this long after their last change (>= cart_ttl) */
    int purge_batch_size, purge_max_batches;
    int notification_max_per_hour;     /* order notifications sent per hour across the store at most (0: no cap) */
    char *password_reset_url;          /* the storefront's reset page with {token}, or "": no password-reset emails */
} sq_config_t;

/** Loads defaults, then the file (if path is not NULL), then SOUQ_* variables from env (NULL-terminated
 * "KEY=VALUE" strings, like environ). On failure returns NULL and writes a message naming the bad key. */
sq_config_t *sq_config_load(const char *path, char *const *env, char *errbuf, size_t errlen);
/** Like sq_config_load without the checks only `serve` needs (keys): for migrate, seed and admin commands. */
sq_config_t *sq_config_load_for_tools(const char *path, char *const *env, char *errbuf, size_t errlen);
/** Frees a configuration (NULL is fine). */
void sq_config_free(sq_config_t *c);
/** Writes "key = value" lines for `souq config` (secrets redacted). */
void sq_config_print(const sq_config_t *c, void *file);
/** True if origin is in cors_origins (exact match, or "*"). */
bool sq_config_cors_allowed(const sq_config_t *c, const char *origin, size_t len);
/** Names of keys that differ and need a restart to take effect (comma-separated in buf). */
void sq_config_restart_keys(const sq_config_t *a, const sq_config_t *b, char *buf, size_t len);

#endif
