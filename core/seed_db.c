/* seed_db.c: idempotent seed statements, run as one batch (one transaction). */
#include "core/seed_db.h"

#include <stdio.h>
#include <string.h>

#include "core/base/embed.h"
#include "core/base/iso.h"
#include "core/db/migrate.h"

SQ_STMT(seed_currencies, "INSERT INTO currencies (code, minor_units, name) "
                         "SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[]) ON CONFLICT (code) DO NOTHING");
SQ_STMT(seed_channel, "INSERT INTO sales_channels (name, description, is_default) "
                      "SELECT 'Default Sales Channel', 'Created by souq seed', true "
                      "WHERE NOT EXISTS (SELECT 1 FROM sales_channels WHERE is_default)");
SQ_STMT(seed_key, "INSERT INTO api_keys (type, title, token, token_hash, redacted, sales_channel_id, created_by) "
                  "SELECT 'publishable', 'Default storefront', $1, $2, $3, c.id, 'seed' FROM sales_channels c "
                  "WHERE c.is_default AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.sales_channel_id = c.id "
                  "AND k.type = 'publishable' AND k.revoked_at IS NULL)");
SQ_STMT(seed_state, "SELECT c.id, (SELECT token FROM api_keys k WHERE k.sales_channel_id = c.id AND k.type = 'publishable' "
                    "AND k.revoked_at IS NULL ORDER BY k.id LIMIT 1), "
                    "EXISTS (SELECT 1 FROM staff_users WHERE role = 'owner') FROM sales_channels c WHERE c.is_default");
SQ_STMT(seed_owner, "INSERT INTO staff_users (email, password_hash, role) SELECT $1, $2, 'owner' "
                    "WHERE NOT EXISTS (SELECT 1 FROM staff_users WHERE role = 'owner')");

/* {a,b,c} literals of the currency table (codes and numbers need no quoting; names are quoted) */
static void currency_arrays(sq_arena_t *a, const char **codes, const char **units, const char **names)
{
    size_t n;
    const sq_currency_t *c = sq_iso_currencies(&n);
    char *cb = sq_arena_alloc(a, n * 5 + 3), *ub = sq_arena_alloc(a, n * 3 + 3), *nb = sq_arena_alloc(a, n * 64 + 3);
    char *cp = cb, *up = ub, *np = nb;
    *cp++ = *up++ = *np++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) {
            *cp++ = ',';
            *up++ = ',';
            *np++ = ',';
        }
        memcpy(cp, c[i].code, 3);
        cp += 3;
        *up++ = (char)('0' + c[i].minor_units);
        *np++ = '"';
        for (const char *s = c[i].name; *s && np - nb < (long)(n * 64 - 4); s++) {
            if (*s == '"' || *s == '\\')
                *np++ = '\\';
            *np++ = *s;
        }
        *np++ = '"';
    }
    *cp++ = *up++ = *np++ = '}';
    *cp = *up = *np = '\0';
    *codes = cb;
    *units = ub;
    *names = nb;
}

typedef struct {
    sq_seed_base_cb cb;
    void *data;
} base_t;

static void on_base(sq_batch_t *b, const sq_err_t *err, void *data)
{
    base_t *s = data;
    if (err != NULL) {
        s->cb(NULL, NULL, false, err, s->data);
        return;
    }
    sq_rows_t *r = sq_batch_rows(b, 3);
    s->cb(sq_rows_text(r, 0, 0), sq_rows_text(r, 0, 1), sq_rows_bool(r, 0, 2), NULL, s->data);
}

void sq_seed_db_base(sq_ctx_t *cx, const char *token, const char *hash, const char *redacted, sq_seed_base_cb cb, void *data)
{
    base_t *s = SQ_NEW(cx->arena, base_t);
    s->cb = cb;
    s->data = data;
    const char *codes, *units, *names;
    currency_arrays(cx->arena, &codes, &units, &names);
    sq_batch_t *b = sq_db_batch(cx->db, cx->arena);
    sq_batch_add(b, &seed_currencies, 3, sq_db_params(cx->arena, 3, codes, units, names));
    sq_batch_add(b, &seed_channel, 0, NULL);
    sq_batch_add(b, &seed_key, 3, sq_db_params(cx->arena, 3, token, hash, redacted));
    sq_batch_add(b, &seed_state, 0, NULL);
    sq_batch_send(b, on_base, s);
}

typedef struct {
    sq_done_cb cb;
    void *data;
} done_t;

static void on_owner(sq_rows_t *r, const sq_err_t *err, void *data)
{
    (void)r;
    done_t *d = data;
    d->cb(err, d->data);
}

void sq_seed_db_owner(sq_ctx_t *cx, const char *email, const char *hash, sq_done_cb cb, void *data)
{
    done_t *d = SQ_NEW(cx->arena, done_t);
    d->cb = cb;
    d->data = data;
    sq_db_query(cx->db, cx->arena, &seed_owner, 2, sq_db_params(cx->arena, 2, email, hash), on_owner, d);
}

/* the catalog generator is a session function defined by the embedded core/seed_catalog.sql */
char *sq_seed_catalog(const char *conninfo, bool demo, int products, sq_err_t *err)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", demo ? SQ_SEED_DEMO_PRODUCTS : products);
    const char *params[2] = {n, demo ? "true" : "false"};
    char *out = NULL;
    if (sq_db_run_script(conninfo, sq_seed_catalog_sql.data, "SELECT pg_temp.souq_seed_catalog($1::int, $2::boolean)", 2, params,
                         &out, err) != 0)
        return NULL;
    return out;
}
