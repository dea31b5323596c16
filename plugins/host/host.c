/* host.c: the plugin registry (manifests, swap on reload), the per-thread states, the call path with its
 * logging, counters and circuit breaker. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/log.h"
#include "core/base/util.h"
#include "plugins/host/internal.h"

#define MANIFEST_MAX (256 * 1024)
#define SOURCE_MAX (1024 * 1024)

const char *sq_preason_name(sq_preason_t r)
{
    static const char *const names[] = {"none",     "timeout",    "memory", "error", "sandbox_violation", "output_too_large",
                                        "degraded", "unavailable"};
    return (unsigned)r < SQ_PR__COUNT ? names[r] : "error";
}

/* ---- stats slots and the circuit breaker -------------------------------------------------------------------- */

#define BREAKER_RING 64

typedef struct {
    char name[64];
    uint64_t calls;
    uint64_t failures[SQ_PR__COUNT];
    pthread_mutex_t lock;       /* the failure ring (failures are rare; the fast path reads degraded_until only) */
    int64_t ring[BREAKER_RING]; /* monotonic us of recent failures */
    int nring, head;
    int64_t degraded_until; /* monotonic us; 0 = closed */
    int64_t memory;         /* bytes held by the plugin's states on every thread (updated after each call) */
    /* shipping_rates answered from the reuse cache, or not (plugins declaring cache.rates_ttl_s only) */
    uint64_t rate_hits, rate_misses;
} slot_t;

static uint64_t rate_evictions; /* reusable rates dropped because a thread's cache was full (all plugins) */

static slot_t slots[SQ_PLUGIN_MAX];
static int nslots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot of a plugin name, created on first sight; -1 when the table is full. */
static int slot_of(const char *name)
{
    pthread_mutex_lock(&slots_lock);
    int i;
    for (i = 0; i < nslots; i++)
        if (strcmp(slots[i].name, name) == 0)
            break;
    if (i == nslots) {
        if (nslots == SQ_PLUGIN_MAX) {
            i = -1;
        } else {
            snprintf(slots[i].name, sizeof(slots[i].name), "%s", name);
            pthread_mutex_init(&slots[i].lock, NULL);
            __atomic_store_n(&nslots, nslots + 1, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&slots_lock);
    return i;
}

void sq_pstate_account(sq_pstate_t *ps, size_t now_used)
{
    if (ps->def->slot < 0)
        return;
    __atomic_add_fetch(&slots[ps->def->slot].memory, (int64_t)now_used - (int64_t)ps->reported, __ATOMIC_RELAXED);
    ps->reported = now_used;
}

static bool degraded(const sq_pdef_t *d, int64_t now)
{
    return __atomic_load_n(&slots[d->slot].degraded_until, __ATOMIC_RELAXED) > now;
}

/* Counts a failure; opens the breaker after breaker_failures within breaker_window_s. */
static void count_failure(const sq_pdef_t *d, sq_preason_t r, int64_t now)
{
    slot_t *s = &slots[d->slot];
    __atomic_add_fetch(&s->failures[r], 1, __ATOMIC_RELAXED);
    if (r == SQ_PR_DEGRADED || r == SQ_PR_UNAVAILABLE)
        return;
    int n = d->breaker_failures < BREAKER_RING ? d->breaker_failures : BREAKER_RING;
    pthread_mutex_lock(&s->lock);
    s->ring[s->head] = now;
    s->head = (s->head + 1) % BREAKER_RING;
    if (s->nring < BREAKER_RING)
        s->nring++;
    if (n > 0 && s->nring >= n) {
        int64_t nth = s->ring[(s->head - n + BREAKER_RING) % BREAKER_RING]; /* the n-th most recent failure */
        if (now - nth <= (int64_t)d->breaker_window_s * 1000000 && s->degraded_until <= now) {
            __atomic_store_n(&s->degraded_until, now + (int64_t)d->breaker_open_s * 1000000, __ATOMIC_RELAXED);
            s->nring = 0; /* after the open period the plugin starts with a clean record */
            sq_log(SQ_LOG_ERROR, "plugin", "plugin=%s degraded: %d failures within %d s; failing fast for %d s", d->name, n,
                   d->breaker_window_s, d->breaker_open_s);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

char *sq_plugins_metrics(sq_arena_t *a)
{
    size_t cap = 4096, len = 0;
    char *buf = sq_arena_alloc(a, cap);
    int n = __atomic_load_n(&nslots, __ATOMIC_ACQUIRE);
    int64_t now = sq_mono_us();
#define PUT(...)                                                                                                                   \
    do {                                                                                                                           \
        int w_ = snprintf(buf + len, cap - len, __VA_ARGS__);                                                                      \
        if (w_ >= 0 && (size_t)w_ >= cap - len) {                                                                                  \
            size_t ncap_ = cap * 2 + (size_t)w_;                                                                                   \
            char *nb_ = sq_arena_alloc(a, ncap_);                                                                                  \
            memcpy(nb_, buf, len);                                                                                                 \
            buf = nb_;                                                                                                             \
            cap = ncap_;                                                                                                           \
            snprintf(buf + len, cap - len, __VA_ARGS__);                                                                           \
        }                                                                                                                          \
        if (w_ > 0)                                                                                                                \
            len += (size_t)w_;                                                                                                     \
    } while (0)
    PUT("# HELP souq_plugin_calls_total Calls into plugins.\n# TYPE souq_plugin_calls_total counter\n");
    for (int i = 0; i < n; i++)
        PUT("souq_plugin_calls_total{plugin=\"%s\"} %llu\n", slots[i].name,
            (unsigned long long)__atomic_load_n(&slots[i].calls, __ATOMIC_RELAXED));
    PUT("# HELP souq_plugin_failures_total Failed plugin calls by reason.\n# TYPE souq_plugin_failures_total counter\n");
    for (int i = 0; i < n; i++)
        for (int r = 1; r < SQ_PR__COUNT; r++) {
            uint64_t v = __atomic_load_n(&slots[i].failures[r], __ATOMIC_RELAXED);
            if (v > 0)
                PUT("souq_plugin_failures_total{plugin=\"%s\",reason=\"%s\"} %llu\n", slots[i].name,
                    sq_preason_name((sq_preason_t)r), (unsigned long long)v);
        }
    PUT("# HELP souq_plugin_degraded 1 while the plugin's circuit breaker is open.\n# TYPE souq_plugin_degraded gauge\n");
    for (int i = 0; i < n; i++)
        PUT("souq_plugin_degraded{plugin=\"%s\"} %d\n", slots[i].name,
            __atomic_load_n(&slots[i].degraded_until, __ATOMIC_RELAXED) > now);
    PUT("# HELP souq_plugin_memory_bytes Bytes held by the plugin's Lua states on all threads.\n"
        "# TYPE souq_plugin_memory_bytes gauge\n");
    for (int i = 0; i < n; i++)
        PUT("souq_plugin_memory_bytes{plugin=\"%s\"} %lld\n", slots[i].name,
            (long long)__atomic_load_n(&slots[i].memory, __ATOMIC_RELAXED));
    PUT("# HELP souq_plugin_rate_cache_hits_total Shipping rate requests answered from the reuse cache (manifest "
        "cache.rates_ttl_s).\n# TYPE souq_plugin_rate_cache_hits_total counter\n");
    for (int i = 0; i < n; i++)
        PUT("souq_plugin_rate_cache_hits_total{plugin=\"%s\"} %llu\n", slots[i].name,
            (unsigned long long)__atomic_load_n(&slots[i].rate_hits, __ATOMIC_RELAXED));
    PUT("# HELP souq_plugin_rate_cache_misses_total Shipping rate requests of a caching plugin that called it (nothing "
        "reusable).\n# TYPE souq_plugin_rate_cache_misses_total counter\n");
    for (int i = 0; i < n; i++)
        PUT("souq_plugin_rate_cache_misses_total{plugin=\"%s\"} %llu\n", slots[i].name,
            (unsigned long long)__atomic_load_n(&slots[i].rate_misses, __ATOMIC_RELAXED));
    PUT("# HELP souq_plugin_rate_cache_evictions_total Reusable shipping rates dropped because a thread's cache was full.\n"
        "# TYPE souq_plugin_rate_cache_evictions_total counter\nsouq_plugin_rate_cache_evictions_total %llu\n",
        (unsigned long long)__atomic_load_n(&rate_evictions, __ATOMIC_RELAXED));
#undef PUT
    return buf;
}

void sq_plugin_rate_cache_count(int slot, bool hit, uint64_t evicted)
{
    if (slot >= 0 && slot < SQ_PLUGIN_MAX)
        __atomic_add_fetch(hit ? &slots[slot].rate_hits : &slots[slot].rate_misses, 1, __ATOMIC_RELAXED);
    if (evicted > 0)
        __atomic_add_fetch(&rate_evictions, evicted, __ATOMIC_RELAXED);
}

/* ---- definitions ----------------------------------------------------------------------------------------------- */

void sq_pdef_ref(sq_pdef_t *d)
{
    __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
}

void sq_pdef_unref(sq_pdef_t *d)
{
    if (d == NULL || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(d->name);
    free(d->version);
    free(d->description);
    free(d->dir);
    for (int i = 0; i < d->nprovides; i++)
        free(d->provides[i]);
    free(d->provides);
    free(d->source);
    json_decref(d->schema);
    json_decref(d->config);
    json_decref(d->stored);
    json_decref(d->payment_data);
    json_decref(d->actions);
    json_decref(d->channels);
    json_decref(d->events);
    free(d);
}

char *sq_plugin_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = sq_xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (n > max) {
        free(buf);
        snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* name: lower-case letters, digits and dashes, starting with a letter, at most 48 characters */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 48 || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* semver 2.0: MAJOR.MINOR.PATCH with optional -prerelease and +build */
static bool valid_semver(const char *s)
{
    for (int part = 0; part < 3; part++) {
        if (!(*s >= '0' && *s <= '9'))
            return false;
        if (*s == '0' && s[1] >= '0' && s[1] <= '9')
            return false; /* no leading zeros */
        while (*s >= '0' && *s <= '9')
            s++;
        if (part < 2 && *s++ != '.')
            return false;
    }
    if (*s == '-' || *s == '+') {
        s++;
        if (*s == '\0')
            return false;
        for (; *s; s++)
            if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '.' || *s == '-' ||
                  *s == '+'))
                return false;
    }
    return *s == '\0';
}

static const char *const kinds[] = {"payment", "shipping", "tax", "notification", "events", "pricing", NULL};
static const char *const field_types[] = {"string", "integer", "boolean", "string[]", "object", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* Checks one field of a config (or payment_data) schema: {type, description, required?, secret?, default?,
 * enum?, min?, max?, max_length?}. */
static int check_field(const char *what, const char *key, json_t *f, char *err, size_t errlen)
{
    static const char *const allowed[] = {"type", "description", "required", "secret",     "default",
                                          "enum", "min",         "max",      "max_length", NULL};
    if (!json_is_object(f))
        return snprintf(err, errlen, "%s.%s must be an object", what, key), -1;
    const char *k;
    json_t *v;
    json_object_foreach(f, k, v) if (!in_list(k, allowed)) return snprintf(err, errlen, "%s.%s: unknown key \"%s\"", what, key, k),
        -1;
    const char *type = json_string_value(json_object_get(f, "type"));
    if (type == NULL || !in_list(type, field_types))
        return snprintf(err, errlen, "%s.%s.type must be one of string, integer, boolean, string[], object", what, key), -1;
    const char *desc = json_string_value(json_object_get(f, "description"));
    if (desc == NULL || desc[0] == '\0')
        return snprintf(err, errlen, "%s.%s.description is required (say what the field is for)", what, key), -1;
    json_t *b;
    if ((b = json_object_get(f, "required")) != NULL && !json_is_boolean(b))
        return snprintf(err, errlen, "%s.%s.required must be a boolean", what, key), -1;
    if ((b = json_object_get(f, "secret")) != NULL && !json_is_boolean(b))
        return snprintf(err, errlen, "%s.%s.secret must be a boolean", what, key), -1;
    if ((b = json_object_get(f, "secret")) != NULL && json_is_true(b) && strcmp(type, "string") != 0)
        return snprintf(err, errlen, "%s.%s: only strings can be secret", what, key), -1;
    json_t *e = json_object_get(f, "enum");
    if (e != NULL && (!json_is_array(e) || json_array_size(e) == 0 || strcmp(type, "string") != 0))
        return snprintf(err, errlen, "%s.%s.enum must be a non-empty array of strings on a string field", what, key), -1;
    static const char *const ints[] = {"min", "max", "max_length", NULL};
    for (int i = 0; ints[i]; i++)
        if ((b = json_object_get(f, ints[i])) != NULL && !json_is_integer(b))
            return snprintf(err, errlen, "%s.%s.%s must be an integer", what, key, ints[i]), -1;
    return 0;
}

/* Reads an optional positive integer limit from the manifest's "limits". */
static int limit(json_t *limits, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(limits, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return snprintf(err, errlen, "limits.%s must be an integer from %lld to %lld", key, (long long)lo, (long long)hi), -1;
    *out = json_integer_value(v);
    return 0;
}

static int check_schema(const char *what, json_t *schema, char *err, size_t errlen)
{
    if (!json_is_object(schema))
        return snprintf(err, errlen, "%s must be an object of field -> {type, description, ...}", what), -1;
    if (json_object_size(schema) > 64)
        return snprintf(err, errlen, "%s has more than 64 fields", what), -1;
    const char *k;
    json_t *f;
    json_object_foreach(schema, k, f)
    {
        if (!valid_name(k))
            return snprintf(err, errlen, "%s: field name \"%.40s\" must be lower-case letters, digits, - or _", what, k), -1;
        if (check_field(what, k, f, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Applies a stored setting ({"enabled", "config"}, or NULL for none) to d: its effective config and whether it is
 * enabled. Stored values that no longer fit the manifest (a new version changed its schema) leave it disabled. */
static void apply_setting(sq_pdef_t *d, const json_t *setting)
{
    json_t *stored = json_object_get(setting, "config");
    json_t *en = json_object_get(setting, "enabled");
    json_decref(d->config);
    json_decref(d->stored);
    d->stored = stored ? json_deep_copy(stored) : json_object();
    d->wanted = en == NULL || json_is_true(en);
    json_t *ch = json_object_get(setting, "sales_channels");
    json_decref(d->channels);
    d->channels = json_is_array(ch) ? json_deep_copy(ch) : NULL;
    sq_err_t e;
    sq_err_clear(&e);
    json_t *opened = sq_psecrets_open(d, d->stored); /* sealed secret values, opened in memory only (secrets.c) */
    d->config = sq_pdef_config(d, opened, &e);
    json_decref(opened);
    d->configured = d->config != NULL; /* a plugin with required settings waits until they are set */
    if (d->config == NULL) {
        d->config = json_object();
        if (setting != NULL)
            sq_log(SQ_LOG_WARN, "plugin", "plugin %s: its stored settings do not fit its schema (%s %s); it stays disabled",
                   d->name, e.nfields ? e.fields[0].pointer : "", e.detail);
    }
    d->enabled = d->wanted && d->configured;
}

/* The manifest's "actions": name -> {description, input}, where input is a schema like config's. Each action is the
 * handler's function action_<name> (checked when the state is built). */
static int load_actions(sq_pdef_t *d, json_t *actions, char *err, size_t errlen)
{
    if (actions == NULL)
        return 0;
    if (!json_is_object(actions) || json_object_size(actions) > 32)
        return snprintf(err, errlen, "manifest.json: actions must be an object of at most 32 name -> {description, input}"), -1;
    const char *k;
    json_t *a;
    json_object_foreach(actions, k, a)
    {
        size_t n = strlen(k);
        bool ok = n >= 1 && n <= 48 && k[0] >= 'a' && k[0] <= 'z';
        for (size_t i = 0; ok && i < n; i++)
            ok = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_';
        if (!ok)
            return snprintf(err, errlen, "manifest.json: action name \"%.40s\" must be 1-48 of a-z 0-9 _, starting with a letter",
                            k),
                   -1;
        if (!json_is_object(a))
            return snprintf(err, errlen, "manifest.json: actions.%s must be an object {description, input}", k), -1;
        const char *ak;
        json_t *av;
        json_object_foreach(a, ak, av) if (strcmp(ak, "description") != 0 && strcmp(ak, "input") != 0) return snprintf(
            err, errlen, "manifest.json: actions.%s: unknown key \"%.40s\"", k, ak),
            -1;
        const char *desc = json_string_value(json_object_get(a, "description"));
        if (desc == NULL || desc[0] == '\0')
            return snprintf(err, errlen, "manifest.json: actions.%s.description is required (say what the action does)", k), -1;
        char what[80];
        snprintf(what, sizeof(what), "actions.%s.input", k);
        json_t *in = json_object_get(a, "input");
        if (in != NULL && check_schema(what, in, err, errlen) != 0)
            return -1;
        json_t *f;
        const char *fk;
        json_object_foreach(in, fk, f) if (json_is_true(json_object_get(f, "secret"))) return snprintf(
            err, errlen, "manifest.json: %s.%s: inputs cannot be secret", what, fk),
            -1;
    }
    d->actions = json_incref(actions);
    return 0;
}

/* The manifest's "cache": {"rates_ttl_s": 0..3600}, how long the host may reuse a successful shipping_rates answer for
 * an identical request (shipping.c). Absent or 0: every rate request calls the plugin. */
static int load_cache(sq_pdef_t *d, json_t *cache, char *err, size_t errlen)
{
    if (cache == NULL)
        return 0;
    if (!json_is_object(cache))
        return snprintf(err, errlen, "manifest.json: cache must be an object {\"rates_ttl_s\": seconds}"), -1;
    const char *k;
    json_t *v;
    json_object_foreach(cache, k, v) if (strcmp(k, "rates_ttl_s") != 0) return snprintf(
        err, errlen, "manifest.json: cache: unknown key \"%.40s\" (rates_ttl_s)", k),
        -1;
    v = json_object_get(cache, "rates_ttl_s");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > SQ_PLUGIN_RATES_TTL_MAX_S))
        return snprintf(err, errlen, "manifest.json: cache.rates_ttl_s must be an integer from 0 to %d (seconds)",
                        SQ_PLUGIN_RATES_TTL_MAX_S),
               -1;
    if (v != NULL && !sq_pdef_provides_kind(d, "shipping") && json_integer_value(v) > 0)
        return snprintf(err, errlen, "manifest.json: cache.rates_ttl_s needs a shipping provider in provides"), -1;
    d->rates_ttl_s = v != NULL ? (int)json_integer_value(v) : 0;
    return 0;
}

sq_pdef_t *sq_pdef_load(const char *dir, char *err, size_t errlen)
{
    static const char *const top[] = {"name",   "version",      "sdk",     "priority", "provides", "description", "config",
                                      "limits", "payment_data", "actions", "events",   "cache",    NULL};
    char path[PATH_MAX];
    size_t len = 0;
    json_t *m = NULL;
    sq_pdef_t *d = NULL;
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    char *text = sq_plugin_read_file(path, MANIFEST_MAX, &len, err, errlen);
    if (text == NULL)
        goto Error;
    json_error_t je;
    m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (m == NULL) {
        snprintf(err, errlen, "manifest.json line %d: %s", je.line, je.text);
        goto Error;
    }
    if (!json_is_object(m)) {
        snprintf(err, errlen, "manifest.json must be an object");
        goto Error;
    }
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) if (!in_list(k, top))
    {
        snprintf(err, errlen, "manifest.json: unknown key \"%.40s\"", k);
        goto Error;
    }
    d = sq_xcalloc(1, sizeof(*d));
    d->refs = 1;
    d->dir = sq_xstrdup(dir);
    const char *name = json_string_value(json_object_get(m, "name"));
    if (name == NULL || !valid_name(name)) {
        snprintf(err, errlen, "manifest.json: name must be 1-48 lower-case letters, digits, - or _, starting with a letter");
        goto Error;
    }
    if (strcmp(name, "reload") == 0) { /* POST /v1/admin/plugins/reload */
        snprintf(err, errlen, "manifest.json: the name reload is reserved");
        goto Error;
    }
    d->name = sq_xstrdup(name);
    const char *version = json_string_value(json_object_get(m, "version"));
    if (version == NULL || !valid_semver(version)) {
        snprintf(err, errlen, "manifest.json: version must be a semantic version (1.2.3)");
        goto Error;
    }
    d->version = sq_xstrdup(version);
    json_t *sdk = json_object_get(m, "sdk");
    if (!json_is_integer(sdk)) {
        snprintf(err, errlen, "manifest.json: sdk must be the SDK major version the plugin targets (an integer)");
        goto Error;
    }
    if (json_integer_value(sdk) != SQ_PLUGIN_SDK_MAJOR) {
        snprintf(err, errlen, "manifest.json: sdk %lld is not supported by this host (SDK %s)", (long long)json_integer_value(sdk),
                 SQ_PLUGIN_SDK_VERSION);
        goto Error;
    }
    d->sdk = (int)json_integer_value(sdk);
    json_t *prio = json_object_get(m, "priority");
    if (prio != NULL && (!json_is_integer(prio) || json_integer_value(prio) < 0 || json_integer_value(prio) > 1000000)) {
        snprintf(err, errlen, "manifest.json: priority must be an integer from 0 to 1000000");
        goto Error;
    }
    d->priority = prio ? (int)json_integer_value(prio) : 100;
    const char *desc = json_string_value(json_object_get(m, "description"));
    d->description = sq_xstrdup(desc ? desc : "");
    json_t *prov = json_object_get(m, "provides");
    if (!json_is_array(prov) || json_array_size(prov) > 32 ||
        (json_array_size(prov) == 0 && json_object_get(m, "actions") == NULL)) { /* a plugin of actions only provides nothing */
        snprintf(err, errlen, "manifest.json: provides must be a non-empty array of \"kind:id\" (payment:manual)");
        goto Error;
    }
    d->provides = sq_xcalloc(json_array_size(prov), sizeof(char *));
    size_t i;
    json_array_foreach(prov, i, v)
    {
        const char *p = json_string_value(v);
        const char *colon = p ? strchr(p, ':') : NULL;
        char kind[32];
        if (colon == NULL || colon - p >= (long)sizeof(kind) || !valid_name(colon + 1)) {
            snprintf(err, errlen, "manifest.json: provides[%zu] must be \"kind:id\" with a lower-case id", i);
            goto Error;
        }
        snprintf(kind, sizeof(kind), "%.*s", (int)(colon - p), p);
        if (!in_list(kind, kinds)) {
            snprintf(err, errlen,
                     "manifest.json: provides[%zu]: unknown kind \"%s\" (payment, shipping, tax, notification, events, pricing)", i, kind);
            goto Error;
        }
        d->provides[d->nprovides++] = sq_xstrdup(p);
    }
    d->schema = json_object_get(m, "config");
    d->schema = d->schema ? json_incref(d->schema) : json_object();
    if (check_schema("config", d->schema, err, errlen) != 0)
        goto Error;
    json_t *pd = json_object_get(m, "payment_data");
    if (pd != NULL) {
        if (check_schema("payment_data", pd, err, errlen) != 0)
            goto Error;
        d->payment_data = json_incref(pd);
    }
    if (load_actions(d, json_object_get(m, "actions"), err, errlen) != 0)
        goto Error;
    if (sq_pdef_load_events(d, json_object_get(m, "events"), err, errlen) != 0) /* notify.c */
        goto Error;
    json_t *limits = json_object_get(m, "limits");
    if (limits != NULL && !json_is_object(limits)) {
        snprintf(err, errlen, "manifest.json: limits must be an object");
        goto Error;
    }
    int64_t mem_mb, bf, bw, bo;
    if (limit(limits, "instructions", 1000000, 1000, 1000000000, &d->instr_request, err, errlen) != 0 ||
        limit(limits, "background_instructions", 10000000, 1000, 10000000000LL, &d->instr_background, err, errlen) != 0 ||
        limit(limits, "wall_ms", 200, 1, 60000, &d->wall_request_ms, err, errlen) != 0 ||
        limit(limits, "background_wall_ms", 5000, 1, 600000, &d->wall_background_ms, err, errlen) != 0 ||
        limit(limits, "deadline_ms", 8000, 100, 120000, &d->deadline_request_ms, err, errlen) != 0 ||
        limit(limits, "background_deadline_ms", 60000, 100, 600000, &d->deadline_background_ms, err, errlen) != 0 ||
        limit(limits, "memory_mb", 32, 1, 1024, &mem_mb, err, errlen) != 0 ||
        limit(limits, "breaker_failures", 5, 1, BREAKER_RING, &bf, err, errlen) != 0 ||
        limit(limits, "breaker_window_s", 60, 1, 86400, &bw, err, errlen) != 0 ||
        limit(limits, "breaker_open_s", 30, 1, 86400, &bo, err, errlen) != 0)
        goto Error;
    json_t *cache = json_object_get(m, "cache");
    if (load_cache(d, cache, err, errlen) != 0)
        goto Error;
    d->memory_bytes = mem_mb << 20;
    d->breaker_failures = (int)bf;
    d->breaker_window_s = (int)bw;
    d->breaker_open_s = (int)bo;
    snprintf(path, sizeof(path), "%s/handler.lua", dir);
    d->source = sq_plugin_read_file(path, SOURCE_MAX, &d->srclen, err, errlen);
    if (d->source == NULL)
        goto Error;
    snprintf(path, sizeof(path), "%s/README.md", dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "README.md is missing (every plugin documents itself)");
        goto Error;
    }
    apply_setting(d, NULL);
    sq_err_t e;
    sq_err_clear(&e);
    json_t *defaults = sq_pdef_config(d, NULL, &e); /* a default that breaks its own field's rules is a manifest error */
    json_decref(defaults);
    for (int i = 0; defaults == NULL && i < e.nfields; i++)
        if (strcmp(e.fields[i].code, "required") != 0) {
            snprintf(err, errlen, "manifest.json: the default of %s: %s", e.fields[i].pointer + 1, e.fields[i].detail);
            goto Error;
        }
    d->slot = slot_of(d->name);
    if (d->slot < 0) {
        snprintf(err, errlen, "too many plugins (at most %d names per process)", SQ_PLUGIN_MAX);
        goto Error;
    }
    /* compile and run handler.lua once in a scratch state: syntax errors and missing hook functions are load errors */
    sq_pstate_t *ps = sq_pstate_new(d, err, errlen);
    if (ps == NULL)
        goto Error;
    /* the optional hook functions: raw reads of the handler table (no metamethod runs outside a call's budget) */
    lua_rawgeti(ps->L, LUA_REGISTRYINDEX, ps->handler_ref);
    for (int i = 0; sq_pfn_names[i] != NULL; i++) {
        lua_pushstring(ps->L, sq_pfn_names[i]);
        if (lua_rawget(ps->L, -2) == LUA_TFUNCTION)
            d->optional_fns |= 1u << i;
        lua_pop(ps->L, 1);
    }
    lua_pop(ps->L, 1);
    sq_pstate_free(ps);
    json_decref(m);
    return d;
Error:
    json_decref(m);
    sq_pdef_unref(d);
    return NULL;
}

/* ---- configuration against the schema -------------------------------------------------------------------------- */

json_t *sq_pschema_check(const json_t *schema, const json_t *values, const char *at, const char *noun, const char *owner,
                         sq_err_t *err)
{
    json_t *out = json_object();
    if (values != NULL && !json_is_object(values)) {
        sq_err_set(err, SQ_E_VALIDATION, "%s must be an object.", at + 1);
        sq_err_field(err, at, "invalid_type", "Must be an object.");
        json_decref(out);
        return NULL;
    }
    const char *k;
    json_t *v;
    if (values != NULL)
        json_object_foreach((json_t *)values, k, v) if (json_object_get(schema, k) == NULL)
        {
            sq_err_set(err, SQ_E_UNKNOWN_FIELD, "%s \"%.40s\".", owner, k);
            sq_err_field(err, at, "unknown_field", "Unknown %s: %.60s", noun, k);
        }
    if (err->code != SQ_OK) {
        json_decref(out);
        return NULL;
    }
    json_t *f;
    json_object_foreach((json_t *)schema, k, f)
    {
        char ptr[80];
        snprintf(ptr, sizeof(ptr), "%s/%s", at, k);
        json_t *val = values ? json_object_get(values, k) : NULL;
        if (val == NULL || json_is_null(val))
            val = json_object_get(f, "default");
        const char *type = json_string_value(json_object_get(f, "type"));
        if (val == NULL) {
            if (json_is_true(json_object_get(f, "required"))) {
                sq_err_set(err, SQ_E_VALIDATION, "Some %ss are invalid.", noun);
                sq_err_field(err, ptr, "required", "Required.");
            }
            continue;
        }
        const char *bad = NULL;
        if (strcmp(type, "string") == 0) {
            if (!json_is_string(val))
                bad = "Must be a string.";
            else {
                json_t *ml = json_object_get(f, "max_length");
                size_t max = ml ? (size_t)json_integer_value(ml) : 4096;
                if (json_string_length(val) > max)
                    bad = "Too long.";
                json_t *en = json_object_get(f, "enum");
                if (en != NULL) {
                    bool found = false;
                    size_t i;
                    json_t *x;
                    json_array_foreach(en, i, x) found |= json_equal(x, val);
                    if (!found)
                        bad = "Not one of the allowed values.";
                }
            }
        } else if (strcmp(type, "integer") == 0) {
            if (!json_is_integer(val))
                bad = "Must be an integer.";
            else {
                json_t *mn = json_object_get(f, "min"), *mx = json_object_get(f, "max");
                if ((mn && json_integer_value(val) < json_integer_value(mn)) ||
                    (mx && json_integer_value(val) > json_integer_value(mx)))
                    bad = "Out of range.";
            }
        } else if (strcmp(type, "boolean") == 0) {
            if (!json_is_boolean(val))
                bad = "Must be true or false.";
        } else if (strcmp(type, "string[]") == 0) {
            bool ok = json_is_array(val) && json_array_size(val) <= 256;
            size_t i;
            json_t *x;
            json_array_foreach(val, i, x) ok &= json_is_string(x) && json_string_length(x) <= 4096;
            if (!ok)
                bad = "Must be an array of strings.";
        } else if (strcmp(type, "object") == 0) {
            if (!json_is_object(val))
                bad = "Must be an object.";
        }
        if (bad != NULL) {
            sq_err_set(err, SQ_E_VALIDATION, "Some %ss are invalid.", noun);
            sq_err_field(err, ptr, "invalid_value", "%s", bad);
            continue;
        }
        json_object_set(out, k, val);
    }
    if (err->code != SQ_OK) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *sq_pdef_config(const sq_pdef_t *d, const json_t *cfg, sq_err_t *err)
{
    char owner[120];
    snprintf(owner, sizeof(owner), "The %s plugin has no setting", d->name);
    return sq_pschema_check(d->schema, cfg, "/config", "setting", owner, err);
}

/* ---- the registry ------------------------------------------------------------------------------------------------ */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static sq_preg_t *current;
static uint64_t current_gen;

sq_preg_t *sq_preg_acquire(void)
{
    pthread_mutex_lock(&reg_lock);
    sq_preg_t *r = current;
    if (r != NULL)
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&reg_lock);
    return r;
}

void sq_preg_unref(sq_preg_t *r)
{
    if (r == NULL || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    for (int i = 0; i < r->n; i++)
        sq_pdef_unref(r->defs[i]);
    free(r->defs);
    free(r);
}

uint64_t sq_preg_generation(void)
{
    return __atomic_load_n(&current_gen, __ATOMIC_ACQUIRE);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The plugin folders under dirs (those holding a manifest.json), sorted within each dir. */
static char **list_folders(const char *dirs, int *count)
{
    char **out = NULL;
    int n = 0, cap = 0;
    char *copy = sq_xstrdup(dirs ? dirs : ""), *save = NULL;
    for (char *dir = strtok_r(copy, ",", &save); dir; dir = strtok_r(NULL, ",", &save)) {
        while (*dir == ' ')
            dir++;
        if (*dir == '\0')
            continue;
        DIR *dh = opendir(dir);
        if (dh == NULL) {
            sq_log(SQ_LOG_WARN, "plugin", "plugin folder %s cannot be read: %s", dir, strerror(errno));
            continue;
        }
        int first = n;
        struct dirent *e;
        while ((e = readdir(dh)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[PATH_MAX];
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s/manifest.json", dir, e->d_name);
            if (stat(path, &st) != 0)
                continue;
            if (n == cap)
                out = sq_xrealloc(out, (size_t)(cap = cap ? cap * 2 : 16) * sizeof(char *));
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            out[n++] = sq_xstrdup(path);
        }
        closedir(dh);
        qsort(out + first, (size_t)(n - first), sizeof(char *), cmp_str);
    }
    free(copy);
    *count = n;
    return out;
}

static sq_pdef_t *find_def(const sq_preg_t *r, const char *name)
{
    for (int i = 0; r != NULL && i < r->n; i++)
        if (strcmp(r->defs[i]->name, name) == 0)
            return r->defs[i];
    return NULL;
}

/* The stored settings (plugin_settings) the next load applies: {"<name>": {"enabled", "config"}}. */
static json_t *settings;
static pthread_mutex_t settings_lock = PTHREAD_MUTEX_INITIALIZER;

static json_int_t stamp(const json_t *setting)
{
    return json_integer_value(json_object_get(setting, "updated_at"));
}

/* Stores one setting unless the map already has a newer one (a PATCH that committed after a reload read the
 * table must not be undone by that reload). Called with settings_lock held. */
static void store_setting(const char *name, const json_t *setting)
{
    json_t *cur = json_object_get(settings, name);
    if (cur == NULL || stamp(cur) <= stamp(setting))
        json_object_set_new(settings, name, json_deep_copy(setting));
}

/* Stores every setting of the map s ({"<name>": setting}). Called with settings_lock held. */
static void store_settings(const json_t *s)
{
    if (settings == NULL)
        settings = json_object();
    const char *k;
    json_t *v;
    if (json_is_object(s))
        json_object_foreach((json_t *)s, k, v) store_setting(k, v);
}

void sq_plugins_set_settings(const json_t *s)
{
    pthread_mutex_lock(&settings_lock);
    store_settings(s);
    pthread_mutex_unlock(&settings_lock);
}

/* A new reference to the stored setting of a plugin, or NULL. */
static json_t *setting_of(const char *name)
{
    pthread_mutex_lock(&settings_lock);
    json_t *s = json_object_get(settings, name);
    s = s ? json_deep_copy(s) : NULL;
    pthread_mutex_unlock(&settings_lock);
    return s;
}

static sq_pdef_t *clone_def(const sq_pdef_t *d)
{
    sq_pdef_t *c = sq_xmalloc(sizeof(*c));
    *c = *d;
    c->refs = 1;
    c->name = sq_xstrdup(d->name);
    c->version = sq_xstrdup(d->version);
    c->description = sq_xstrdup(d->description);
    c->dir = sq_xstrdup(d->dir);
    c->provides = sq_xcalloc((size_t)d->nprovides + 1, sizeof(char *));
    for (int i = 0; i < d->nprovides; i++)
        c->provides[i] = sq_xstrdup(d->provides[i]);
    c->source = sq_xmalloc(d->srclen + 1);
    memcpy(c->source, d->source, d->srclen + 1);
    json_incref(c->schema);
    json_incref(c->payment_data);
    json_incref(c->actions);
    json_incref(c->events);
    c->config = c->stored = NULL;
    c->channels = NULL;
    return c;
}

sq_pdef_t *sq_pdef_with_config(const sq_pdef_t *d, const json_t *cfg, sq_err_t *err)
{
    json_t *config = sq_pdef_config(d, cfg, err);
    if (config == NULL)
        return NULL;
    sq_pdef_t *c = clone_def(d);
    c->config = config;
    c->stored = cfg ? json_deep_copy(cfg) : json_object();
    c->wanted = c->configured = c->enabled = true;
    return c;
}

/* d with setting applied: d itself (a new reference) when nothing changes, else a changed copy. */
static sq_pdef_t *with_setting(sq_pdef_t *d, const json_t *setting)
{
    json_t *stored = json_object_get(setting, "config"), *empty = json_object();
    bool wanted =
        setting == NULL || json_object_get(setting, "enabled") == NULL || json_is_true(json_object_get(setting, "enabled"));
    json_t *ch = json_object_get(setting, "sales_channels");
    bool same = wanted == d->wanted && json_equal(stored ? stored : empty, d->stored) &&
                (json_is_array(ch) ? d->channels != NULL && json_equal(ch, d->channels) : d->channels == NULL);
    json_decref(empty);
    if (same) {
        sq_pdef_ref(d);
        return d;
    }
    sq_pdef_t *c = clone_def(d);
    apply_setting(c, setting);
    return c;
}

/* Publishes r as the current registry (generation + 1). */
static void publish(sq_preg_t *r)
{
    pthread_mutex_lock(&reg_lock);
    sq_preg_t *old = current;
    r->generation = current_gen + 1;
    current = r;
    __atomic_store_n(&current_gen, r->generation, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&reg_lock);
    sq_preg_unref(old);
}

/* Publishes are serialized, and each applies the settings current at that moment, so a reload that was building
 * while a PATCH landed cannot publish the settings it read before. */
static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

static void publish_current(sq_preg_t *r)
{
    for (int i = 0; i < r->n; i++) {
        json_t *setting = setting_of(r->defs[i]->name);
        sq_pdef_t *d = with_setting(r->defs[i], setting);
        sq_pdef_unref(r->defs[i]);
        r->defs[i] = d;
        json_decref(setting);
    }
    publish(r);
}

/* Stores one setting (name) or all of them (name NULL: setting is the map), then publishes a generation with them. */
static void apply(const char *name, const json_t *setting)
{
    pthread_mutex_lock(&publish_lock);
    pthread_mutex_lock(&settings_lock);
    if (name == NULL) {
        store_settings(setting);
    } else {
        if (settings == NULL)
            settings = json_object();
        store_setting(name, setting);
    }
    pthread_mutex_unlock(&settings_lock);
    sq_preg_t *prev = sq_preg_acquire();
    sq_preg_t *r = sq_xcalloc(1, sizeof(*r));
    r->refs = 1;
    r->defs = sq_xcalloc((size_t)(prev ? prev->n : 0) + 1, sizeof(sq_pdef_t *));
    for (int i = 0; prev != NULL && i < prev->n; i++) {
        sq_pdef_ref(prev->defs[i]);
        r->defs[r->n++] = prev->defs[i];
    }
    sq_preg_unref(prev);
    publish_current(r);
    pthread_mutex_unlock(&publish_lock);
}

void sq_plugins_apply(const char *name, const json_t *setting)
{
    apply(name, setting);
}

void sq_plugins_apply_all(const json_t *all)
{
    apply(NULL, all);
}

static json_t *load_all(const char *dirs)
{
    sq_preg_t *prev = sq_preg_acquire();
    sq_preg_t *r = sq_xcalloc(1, sizeof(*r));
    r->refs = 1;
    int nf = 0;
    char **folders = list_folders(dirs, &nf);
    r->defs = sq_xcalloc((size_t)nf + 1, sizeof(sq_pdef_t *));
    json_t *loaded = json_array(), *refused = json_array();
    for (int i = 0; i < nf; i++) {
        char err[512];
        sq_pdef_t *d = sq_pdef_load(folders[i], err, sizeof(err));
        if (d != NULL && find_def(r, d->name) != NULL) {
            snprintf(err, sizeof(err), "another plugin folder already has the name %s", d->name);
            sq_pdef_unref(d);
            d = NULL;
        }
        if (d != NULL) {
            json_t *setting = setting_of(d->name);
            if (setting != NULL)
                apply_setting(d, setting);
            json_decref(setting);
        }
        if (d == NULL) {
            sq_pdef_t *old = NULL; /* the previous version of the same folder stays */
            for (int j = 0; prev != NULL && j < prev->n; j++)
                if (strcmp(prev->defs[j]->dir, folders[i]) == 0 && find_def(r, prev->defs[j]->name) == NULL)
                    old = prev->defs[j];
            sq_log(SQ_LOG_ERROR, "plugin", "plugin %s refused: %s%s%s", folders[i], err, old ? "; keeping version " : "",
                   old ? old->version : "");
            json_array_append_new(refused, json_pack("{s:s, s:s, s:s?}", "folder", folders[i], "error", err, "kept_version",
                                                     old ? old->version : NULL));
            if (old != NULL) {
                json_t *setting = setting_of(old->name);
                r->defs[r->n++] = with_setting(old, setting);
                json_decref(setting);
            }
        } else {
            r->defs[r->n++] = d;
            json_array_append_new(loaded, json_string(d->name));
            sq_log(SQ_LOG_INFO, "plugin", "plugin %s %s loaded from %s (%s)", d->name, d->version, d->dir,
                   d->enabled ? "enabled" : "disabled until its required settings are set");
        }
        free(folders[i]);
    }
    free(folders);
    sq_preg_unref(prev);
    pthread_mutex_lock(&publish_lock);
    publish_current(r);
    pthread_mutex_unlock(&publish_lock);
    return json_pack("{s:I, s:o, s:o}", "generation", (json_int_t)r->generation, "loaded", loaded, "refused", refused);
}

void sq_payment_plugins_install(void);      /* payment.c */
void sq_plugin_actions_install(void);       /* actions.c */
void sq_notification_plugins_install(void); /* notify.c */
void sq_shipping_plugins_install(void);     /* shipping.c */
void sq_tax_plugins_install(void);          /* tax.c */
void sq_pricing_plugins_install(void);      /* adjust.c */

int sq_plugins_init(const char *dirs)
{
    json_t *rep = load_all(dirs);
    int n = (int)json_array_size(json_object_get(rep, "loaded"));
    json_decref(rep);
    sq_payment_plugins_install();
    sq_plugin_actions_install();
    sq_shipping_plugins_install();
    sq_tax_plugins_install();
    sq_pricing_plugins_install();
    sq_plugin_kv_register_jobs(); /* kv.c: the purge of expired keys */
    sq_notification_plugins_install();
    return n;
}

json_t *sq_plugins_reload(const char *dirs)
{
    json_t *rep = load_all(dirs);
    sq_log(SQ_LOG_INFO, "plugin", "plugins reloaded: generation %lld, %zu loaded, %zu refused",
           (long long)json_integer_value(json_object_get(rep, "generation")), json_array_size(json_object_get(rep, "loaded")),
           json_array_size(json_object_get(rep, "refused")));
    return rep;
}

const char *sq_plugin_provider_of(const char *kind, const char *id, char *buf, size_t len)
{
    char want[128];
    snprintf(want, sizeof(want), "%s:%s", kind, id);
    sq_preg_t *r = sq_preg_acquire();
    const sq_pdef_t *best = NULL;
    for (int i = 0; r != NULL && i < r->n; i++) {
        const sq_pdef_t *d = r->defs[i];
        if (!d->enabled || (best != NULL && d->priority <= best->priority))
            continue;
        for (int j = 0; j < d->nprovides; j++)
            if (strcmp(d->provides[j], want) == 0)
                best = d;
    }
    const char *out = NULL;
    if (best != NULL) {
        snprintf(buf, len, "%s", best->name);
        out = buf;
    }
    sq_preg_unref(r);
    return out;
}

/* ---- this thread's states ------------------------------------------------------------------------------------------ */

typedef struct {
    sq_preg_t *reg;
    sq_pstate_t **states; /* by index in reg->defs, built at first use */
} tls_t;

static __thread tls_t tls;

static void release_state(sq_pstate_t *ps)
{
    if (ps == NULL)
        return;
    if (ps->inflight == 0)
        sq_pstate_free(ps);
    else
        ps->discard = true; /* the last call to finish closes it */
}

/* Follows a reload: states of definitions that carried over are kept, the others closed (or closed by their last
 * call in flight). */
static void tls_sync(void)
{
    if (tls.reg != NULL && tls.reg->generation == sq_preg_generation())
        return;
    sq_preg_t *r = sq_preg_acquire();
    sq_pstate_t **states = sq_xcalloc((size_t)(r ? r->n : 0) + 1, sizeof(sq_pstate_t *));
    for (int i = 0; tls.reg != NULL && i < tls.reg->n; i++) {
        sq_pstate_t *ps = tls.states[i];
        int j = 0;
        while (r != NULL && j < r->n && r->defs[j] != tls.reg->defs[i])
            j++;
        if (ps != NULL && r != NULL && j < r->n && !ps->discard)
            states[j] = ps;
        else
            release_state(ps);
    }
    free(tls.states);
    sq_preg_unref(tls.reg);
    tls.reg = r;
    tls.states = states;
}

void sq_plugins_thread_exit(void)
{
    sq_shipping_rates_cache_free();
    for (int i = 0; tls.reg != NULL && i < tls.reg->n; i++)
        release_state(tls.states[i]);
    free(tls.states);
    sq_preg_unref(tls.reg);
    tls.reg = NULL;
    tls.states = NULL;
}

static void fail(const sq_pdef_t *d, const char *name, const char *fn, sq_preason_t r, const sq_pcall_t *call, int64_t now,
                 sq_plugin_cb cb, void *data)
{
    double ms = call ? (double)(sq_mono_us() - call->start_us) / 1000.0 : 0.0;
    long long instr = call ? (long long)call->used : 0;
    sq_log(r == SQ_PR_DEGRADED ? SQ_LOG_INFO : SQ_LOG_WARN, "plugin",
           "plugin=%s hook=%s reason=%s elapsed_ms=%.2f instructions=%lld detail=%s", name, fn, sq_preason_name(r), ms, instr,
           call && call->detail[0] ? call->detail : "-");
    if (d != NULL)
        count_failure(d, r, now);
    sq_err_t e;
    sq_err_clear(&e);
    switch (r) {
    case SQ_PR_TIMEOUT:
        sq_err_set(&e, SQ_E_PLUGIN_TIMEOUT, "The %s plugin ran out of time; nothing was done. Try again later.", name);
        break;
    case SQ_PR_DEGRADED:
        sq_err_set(&e, SQ_E_PLUGIN_DEGRADED, "The %s plugin is failing and switched off for a while; try again later.", name);
        e.retry_after = d ? d->breaker_open_s : 30;
        break;
    default:
        sq_err_set(&e, SQ_E_PLUGIN_FAILED, "The %s plugin failed; nothing was done. Try again later.", name);
        break;
    }
    sq_err_internal(&e, "plugin=%s hook=%s reason=%s", name, fn, sq_preason_name(r));
    cb(NULL, &e, data);
}

typedef struct {
    sq_pcall_t call;
    char plugin[64], fn[64];
    sq_plugin_text_t texts[4]; /* copies of sq_plugin_call_texts' texts (key and pick are static strings) */
    sq_plugin_cb cb;
    void *data;
} host_call_t;

static void call_done(sq_pcall_t *call, json_t *out)
{
    host_call_t *h = (host_call_t *)call;
    sq_pstate_t *ps = call->ps;
    sq_pdef_t *d = ps->def;
    sq_pdef_ref(d);
    sq_pstate_account(ps, ps->used);
    if (call->reason == SQ_PR_TIMEOUT || call->reason == SQ_PR_MEMORY) { /* never reused: the next call builds a fresh one */
        for (int i = 0; tls.reg != NULL && i < tls.reg->n; i++)
            if (tls.states[i] == ps)
                tls.states[i] = NULL;
        ps->discard = true;
    }
    if (ps->discard && ps->inflight == 0)
        sq_pstate_free(ps);
    json_decref(call->input);
    if (call->reason != SQ_PR_NONE)
        fail(d, h->plugin, call->fn, call->reason, call, sq_mono_us(), h->cb, h->data);
    else
        h->cb(out, NULL, h->data);
    json_decref(out);
    sq_pdef_unref(d);
    for (int i = 0; i < call->ntexts; i++)
        free((char *)h->texts[i].text);
    free(h);
}

static void call_impl(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *input, const sq_plugin_text_t *texts,
                      int ntexts, bool spread, bool background, sq_plugin_cb cb, void *data);

void sq_plugin_call_cx(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *input, bool background, sq_plugin_cb cb,
                       void *data)
{
    call_impl(cx, plugin, fn, input, NULL, 0, false, background, cb, data);
}

void sq_plugin_call_texts(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *input, const sq_plugin_text_t *texts,
                          int ntexts, bool background, sq_plugin_cb cb, void *data)
{
    call_impl(cx, plugin, fn, input, texts, ntexts, false, background, cb, data);
}

void sq_plugin_call_args(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *args, bool background, sq_plugin_cb cb,
                         void *data)
{
    call_impl(cx, plugin, fn, args, NULL, 0, true, background, cb, data);
}

static void call_impl(sq_ctx_t *cx, const char *plugin, const char *fn, const json_t *input, const sq_plugin_text_t *texts,
                      int ntexts, bool spread, bool background, sq_plugin_cb cb, void *data)
{
    tls_sync();
    int64_t now = sq_mono_us();
    int idx = 0;
    while (tls.reg != NULL && idx < tls.reg->n && strcmp(tls.reg->defs[idx]->name, plugin) != 0)
        idx++;
    if (tls.reg == NULL || idx == tls.reg->n || !tls.reg->defs[idx]->enabled) {
        fail(NULL, plugin, fn, SQ_PR_UNAVAILABLE, NULL, now, cb, data);
        return;
    }
    sq_pdef_t *d = tls.reg->defs[idx];
    __atomic_add_fetch(&slots[d->slot].calls, 1, __ATOMIC_RELAXED);
    if (degraded(d, now)) {
        fail(d, plugin, fn, SQ_PR_DEGRADED, NULL, now, cb, data);
        return;
    }
    sq_pstate_t *ps = tls.states[idx];
    if (ps == NULL) {
        sq_pcall_t call;
        memset(&call, 0, sizeof(call));
        call.start_us = now;
        ps = tls.states[idx] = sq_pstate_new(d, call.detail, sizeof(call.detail));
        if (ps == NULL) {
            fail(d, plugin, fn, SQ_PR_ERROR, &call, now, cb, data);
            return;
        }
    }
    host_call_t *h = sq_xcalloc(1, sizeof(*h));
    snprintf(h->plugin, sizeof(h->plugin), "%s", plugin);
    h->cb = cb;
    h->data = data;
    snprintf(h->fn, sizeof(h->fn), "%s", fn);
    h->call.fn = h->fn;
    h->call.input = json_incref((json_t *)input);
    h->call.spread = spread;
    assert(ntexts >= 0 && ntexts <= (int)SQ_ARRAY_LEN(h->texts));
    for (int i = 0; i < ntexts; i++) {
        h->texts[i] = texts[i];
        h->texts[i].text = texts[i].text != NULL ? sq_xstrdup(texts[i].text) : NULL;
    }
    h->call.texts = h->texts;
    h->call.ntexts = ntexts;
    h->call.background = background;
    h->call.cx = cx;
    h->call.done = call_done;
    sq_pstate_start(ps, &h->call);
}

int sq_plugin_rates_ttl(const char *plugin, uint64_t *generation, int *slot)
{
    tls_sync();
    *generation = tls.reg != NULL ? tls.reg->generation : 0;
    *slot = -1;
    for (int i = 0; tls.reg != NULL && i < tls.reg->n; i++)
        if (strcmp(tls.reg->defs[i]->name, plugin) == 0) {
            *slot = tls.reg->defs[i]->slot;
            return tls.reg->defs[i]->enabled ? tls.reg->defs[i]->rates_ttl_s : 0;
        }
    return 0;
}

bool sq_pdef_provides_kind(const sq_pdef_t *d, const char *kind)
{
    size_t kl = strlen(kind);
    for (int i = 0; i < d->nprovides; i++)
        if (strncmp(d->provides[i], kind, kl) == 0 && d->provides[i][kl] == ':')
            return true;
    return false;
}

void sq_plugin_call(const char *plugin, const char *fn, const json_t *input, bool background, sq_plugin_cb cb, void *data)
{
    sq_plugin_call_cx(NULL, plugin, fn, input, background, cb, data);
}

bool sq_plugin_enabled(const char *plugin)
{
    sq_preg_t *r = sq_preg_acquire();
    const sq_pdef_t *d = find_def(r, plugin);
    bool on = d != NULL && d->enabled;
    sq_preg_unref(r);
    return on;
}

void sq_plugin_reject(const char *plugin, const char *fn, const char *why, sq_err_t *e)
{
    sq_preg_t *r = sq_preg_acquire();
    const sq_pdef_t *d = find_def(r, plugin);
    int64_t now = sq_mono_us();
    sq_log(SQ_LOG_WARN, "plugin", "plugin=%s hook=%s reason=error elapsed_ms=0 instructions=0 detail=invalid output: %s", plugin,
           fn, why);
    if (d != NULL)
        count_failure(d, SQ_PR_ERROR, now);
    sq_preg_unref(r);
    sq_err_set(e, SQ_E_PLUGIN_FAILED, "The %s plugin failed; nothing was done. Try again later.", plugin);
    sq_err_internal(e, "plugin=%s hook=%s reason=error: %s", plugin, fn, why);
}

/* ---- the admin view ------------------------------------------------------------------------------------------------ */

static json_t *describe(const sq_pdef_t *d)
{
    int64_t now = sq_mono_us();
    const char *status = !d->wanted ? "disabled" : !d->configured ? "unconfigured" : degraded(d, now) ? "degraded" : "active";
    json_t *config = json_object(), *secrets = json_array(), *schema = json_object();
    const char *k;
    json_t *f;
    json_object_foreach(d->schema, k, f)
    {
        bool secret = json_is_true(json_object_get(f, "secret"));
        json_t *v = json_object_get(d->config, k);
        if (secret && v != NULL)
            json_array_append_new(secrets, json_string(k));
        else if (!secret && v != NULL)
            json_object_set(config, k, v);
        json_t *fs = json_deep_copy(f);
        if (secret)
            json_object_del(fs, "default"); /* a secret's default is a secret too */
        json_object_set_new(fs, "secret", json_boolean(secret));
        json_object_set_new(fs, "required", json_boolean(json_is_true(json_object_get(f, "required"))));
        json_object_set_new(schema, k, fs);
    }
    json_t *provides = json_array();
    for (int i = 0; i < d->nprovides; i++)
        json_array_append_new(provides, json_string(d->provides[i]));
    uint64_t failures = 0;
    for (int r = 1; r < SQ_PR__COUNT; r++)
        failures += __atomic_load_n(&slots[d->slot].failures[r], __ATOMIC_RELAXED);
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:i, s:s, s:i, s:o, s:s, s:b, s:s, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:i}, "
        "s:{s:I, s:I}}",
        "object", "plugin", "name", d->name, "version", d->version, "sdk", d->sdk, "description", d->description, "priority",
        d->priority, "provides", provides, "folder", d->dir, "enabled", d->wanted, "status", status, "config", config,
        "secrets_set", secrets, "config_schema", schema, "limits", "instructions", (json_int_t)d->instr_request,
        "background_instructions", (json_int_t)d->instr_background, "wall_ms", (json_int_t)d->wall_request_ms, "background_wall_ms",
        (json_int_t)d->wall_background_ms, "deadline_ms", (json_int_t)d->deadline_request_ms, "background_deadline_ms",
        (json_int_t)d->deadline_background_ms, "memory_mb", (json_int_t)(d->memory_bytes >> 20), "breaker_failures",
        d->breaker_failures, "breaker_window_s", d->breaker_window_s, "breaker_open_s", d->breaker_open_s, "stats", "calls",
        (json_int_t)__atomic_load_n(&slots[d->slot].calls, __ATOMIC_RELAXED), "failures", (json_int_t)failures);
    json_object_set_new(out, "actions", sq_plugin_actions_describe(d)); /* actions.c */
    json_object_set_new(out, "sales_channels", d->channels ? json_deep_copy(d->channels) : json_null());
    return out;
}

json_t *sq_plugins_describe(const char *name)
{
    sq_preg_t *r = sq_preg_acquire();
    json_t *out = NULL;
    if (name != NULL) {
        const sq_pdef_t *d = find_def(r, name);
        out = d ? describe(d) : NULL;
    } else {
        json_t *data = json_array();
        for (int i = 0; r != NULL && i < r->n; i++)
            json_array_append_new(data, describe(r->defs[i]));
        out = json_pack("{s:s, s:o, s:b, s:n}", "object", "list", "data", data, "has_more", 0, "next_cursor");
    }
    sq_preg_unref(r);
    return out;
}

int sq_plugins_check_patch(const char *name, const json_t *enabled, const json_t *config, json_t **set, json_t **unset,
                           sq_err_t *err)
{
    *set = *unset = NULL;
    sq_preg_t *r = sq_preg_acquire();
    const sq_pdef_t *d = find_def(r, name);
    int rc = -1;
    json_t *merged = NULL;
    if (d == NULL) {
        sq_err_set(err, SQ_E_NOT_FOUND, "The plugin does not exist.");
        goto Exit;
    }
    merged = sq_psecrets_open(d, d->stored); /* validated opened; the caller seals what it stores */
    *set = json_object();
    *unset = json_array();
    const char *k;
    json_t *v;
    if (config != NULL)
        json_object_foreach((json_t *)config, k, v)
        {
            if (json_is_null(v)) {
                json_object_del(merged, k);
                json_array_append_new(*unset, json_string(k));
            } else {
                json_object_set(merged, k, v);
                json_object_set(*set, k, v);
            }
        }
    bool want = enabled != NULL ? json_is_true(enabled) : d->wanted;
    sq_err_t e;
    sq_err_clear(&e);
    json_t *eff = sq_pdef_config(d, merged, &e);
    json_decref(eff);
    bool only_required = e.code == SQ_E_VALIDATION;
    for (int i = 0; i < e.nfields; i++)
        only_required &= strcmp(e.fields[i].code, "required") == 0;
    if (eff == NULL && !(only_required && !want)) { /* a disabled plugin may lack required settings */
        sq_err_copy(err, &e);
        if (!want) { /* ...so only the other problems are reported */
            int n = 0;
            for (int i = 0; i < e.nfields; i++)
                if (strcmp(e.fields[i].code, "required") != 0)
                    err->fields[n++] = e.fields[i];
            err->nfields = n;
        }
        goto Exit;
    }
    rc = 0;
Exit:
    if (rc != 0) {
        json_decref(*set);
        json_decref(*unset);
        *set = *unset = NULL;
    }
    json_decref(merged);
    sq_preg_unref(r);
    return rc;
}
