/* customer_db.c: customers and addresses in SQL; their JSON representation is built here, once. */
#include "core/customer_db.h"

#include <string.h>

#include "core/base/crypto.h"
#include "core/base/util.h"

/* The customer resource. souq_etag of this text is the ETag that If-Match compares. */
#define CUSTOMER_JSON(c)                                                                                                           \
    "json_build_object('id'," c ".id,'object','customer','email'," c ".email,'first_name'," c ".first_name,'last_name'," c         \
    ".last_name,'phone'," c ".phone,'has_account'," c ".has_account,'metadata'," c ".metadata,'created_at'," c                     \
    ".created_at,'updated_at'," c ".updated_at)"

#define ADDRESS_JSON(a)                                                                                                            \
    "json_build_object('id'," a ".id,'object','address','customer_id'," a ".customer_id,'first_name'," a                           \
    ".first_name,'last_name'," a ".last_name,'company'," a ".company,'address_1'," a ".address_1,'address_2'," a                   \
    ".address_2,'city'," a ".city,'province'," a ".province,'postal_code'," a ".postal_code,'country_code'," a                     \
    ".country_code,'phone'," a ".phone,'is_default_shipping'," a ".is_default_shipping,'is_default_billing'," a                    \
    ".is_default_billing,'metadata'," a ".metadata,'created_at'," a ".created_at,'updated_at'," a ".updated_at)"

SQ_STMT(customer_insert,
        "WITH c AS (INSERT INTO customers (email, password_hash, has_account, first_name, last_name, phone, metadata) "
        "  VALUES ($1, $2, true, $3, $4, $5, jsonb_strip_nulls(coalesce($6::jsonb, '{}'))) RETURNING *), "
        "e AS (INSERT INTO outbox_events (type, payload) SELECT 'customer.created', " CUSTOMER_JSON("c") "::jsonb FROM c) "
                                                                                                         "SELECT " CUSTOMER_JSON(
                                                                                                             "c") " FROM c");
SQ_STMT_RO(customer_get, "SELECT " CUSTOMER_JSON("c") " FROM customers c WHERE c.id = $1 AND c.has_account");
/* staff also see the customer's tags (migration 0032) */
#define CUSTOMER_ADMIN_JSON(c) "left(" CUSTOMER_JSON(c) "::text, -1) || ',\"tags\":' || to_json(" c ".tags)::text || '}'"
SQ_STMT_RO(customer_admin_get, "SELECT " CUSTOMER_ADMIN_JSON("c") " FROM customers c WHERE c.id = $1");
SQ_STMT_RO(customer_admin_list, "SELECT " CUSTOMER_ADMIN_JSON("c") ", c.id FROM customers c "
                                "WHERE ($1::text IS NULL OR starts_with(lower(c.email), lower($1))) "
                                "AND ($2::text IS NULL OR c.id < $2) AND ($4::text IS NULL OR c.tags @> ARRAY[$4::text]) "
                                "ORDER BY c.id DESC LIMIT $3");
SQ_STMT(customer_update, "WITH u AS (UPDATE customers c SET "
                         "  email = CASE WHEN $3::bool THEN $4 ELSE c.email END, "
                         "  first_name = CASE WHEN $5::bool THEN $6 ELSE c.first_name END, "
                         "  last_name = CASE WHEN $7::bool THEN $8 ELSE c.last_name END, "
                         "  phone = CASE WHEN $9::bool THEN $10 ELSE c.phone END, "
                         "  metadata = CASE WHEN $11::bool THEN jsonb_strip_nulls(CASE WHEN $12::jsonb IS NULL THEN '{}'::jsonb "
                         "             ELSE c.metadata || $12::jsonb END) ELSE c.metadata END, "
                         "  version = c.version + 1 "
                         "  WHERE c.id = $1 AND c.has_account AND ($2::text IS NULL OR souq_etag(" CUSTOMER_JSON(
                             "c") "::text) = $2) RETURNING c.*), "
                                  "e AS (INSERT INTO outbox_events (type, payload) SELECT 'customer.updated', " CUSTOMER_JSON(
                                      "u") "::jsonb FROM u) "
                                           "SELECT (SELECT " CUSTOMER_JSON(
                                               "u") " FROM u), EXISTS (SELECT 1 FROM customers WHERE id = $1 AND has_account)");
SQ_STMT_RO(customer_password_get, "SELECT password_hash FROM customers WHERE id = $1 AND has_account");
SQ_STMT(customer_password_set, "UPDATE customers SET password_hash = $2, version = version + 1 WHERE id = $1 AND has_account");
SQ_STMT(customer_sessions_end, "UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $3 "
                               "WHERE subject_type = 'customer' AND subject_id = $1 AND revoked_at IS NULL "
                               "AND ($2::text IS NULL OR id <> $2)");
SQ_STMT(customer_password_event, "INSERT INTO outbox_events (type, payload) "
                                 "SELECT 'customer.password_changed', json_build_object('customer_id', id, 'email', email) "
                                 "FROM customers WHERE id = $1");
SQ_STMT(customer_reset_create, "WITH c AS (SELECT id, email FROM customers WHERE lower(email) = lower($1) AND has_account), "
                               "t AS (INSERT INTO password_reset_tokens (token_hash, customer_id, expires_at) "
                               "  SELECT $2, c.id, now() + interval '1 hour' FROM c) "
                               "INSERT INTO outbox_events (type, payload) SELECT 'customer.password_reset_requested', "
                               "  json_build_object('customer_id', c.id, 'email', c.email, 'token', $3::text, "
                               "  'expires_at', now() + interval '1 hour') FROM c");
SQ_STMT(customer_reset_use,
        "WITH t AS (UPDATE password_reset_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL "
        "  AND expires_at > now() RETURNING customer_id), "
        "c AS (UPDATE customers SET password_hash = $2, version = version + 1 FROM t "
        "  WHERE customers.id = t.customer_id AND customers.has_account RETURNING customers.id, customers.email), "
        "s AS (UPDATE auth_sessions SET revoked_at = now(), revoke_reason = 'password_reset' FROM c "
        "  WHERE subject_type = 'customer' AND subject_id = c.id AND revoked_at IS NULL), "
        "o AS (UPDATE password_reset_tokens p SET used_at = now() FROM c "
        "  WHERE p.customer_id = c.id AND p.used_at IS NULL AND p.token_hash <> $1), "
        "e AS (INSERT INTO outbox_events (type, payload) "
        "  SELECT 'customer.password_changed', json_build_object('customer_id', c.id, 'email', c.email) FROM c) "
        "SELECT count(*) FROM c");

SQ_STMT_RO(address_list, "SELECT " ADDRESS_JSON("a") ", a.id FROM customer_addresses a WHERE a.customer_id = $1 "
                                                     "AND ($2::text IS NULL OR a.id < $2) ORDER BY a.id DESC LIMIT $3");
SQ_STMT_RO(address_get, "SELECT " ADDRESS_JSON("a") " FROM customer_addresses a WHERE a.customer_id = $1 AND a.id = $2");
/* Address writes run as one batch: lock the customer (serialising its address writes) and refuse past the
 * cap, move the default flags, then write. An error in any statement undoes the batch. */
SQ_STMT(address_guard, "SELECT CASE WHEN $2::bool AND (SELECT count(*) FROM customer_addresses WHERE customer_id = $1) >= "
                       "$3::int THEN souq_raise('SQ409', 'A customer can have at most ' || $3 || ' addresses.') END "
                       "FROM customers WHERE id = $1 FOR UPDATE");
SQ_STMT(address_clear_defaults, "UPDATE customer_addresses SET "
                                "is_default_shipping = is_default_shipping AND NOT $2::bool, "
                                "is_default_billing = is_default_billing AND NOT $3::bool "
                                "WHERE customer_id = $1 AND id IS DISTINCT FROM $4 "
                                "AND ((is_default_shipping AND $2::bool) OR (is_default_billing AND $3::bool))");
SQ_STMT(address_insert,
        "INSERT INTO customer_addresses AS a (customer_id, first_name, last_name, company, address_1, address_2, city, "
        "province, postal_code, country_code, phone, is_default_shipping, is_default_billing, metadata) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, jsonb_strip_nulls(coalesce($14::jsonb, '{}'))) "
        "RETURNING " ADDRESS_JSON("a"));
SQ_STMT(address_update, "UPDATE customer_addresses a SET "
                        "first_name = CASE WHEN $3::bool THEN $4 ELSE a.first_name END, "
                        "last_name = CASE WHEN $5::bool THEN $6 ELSE a.last_name END, "
                        "company = CASE WHEN $7::bool THEN $8 ELSE a.company END, "
                        "address_1 = CASE WHEN $9::bool THEN $10 ELSE a.address_1 END, "
                        "address_2 = CASE WHEN $11::bool THEN $12 ELSE a.address_2 END, "
                        "city = CASE WHEN $13::bool THEN $14 ELSE a.city END, "
                        "province = CASE WHEN $15::bool THEN $16 ELSE a.province END, "
                        "postal_code = CASE WHEN $17::bool THEN $18 ELSE a.postal_code END, "
                        "country_code = CASE WHEN $19::bool THEN $20 ELSE a.country_code END, "
                        "phone = CASE WHEN $21::bool THEN $22 ELSE a.phone END, "
                        "is_default_shipping = CASE WHEN $23::bool THEN $24::bool ELSE a.is_default_shipping END, "
                        "is_default_billing = CASE WHEN $25::bool THEN $26::bool ELSE a.is_default_billing END, "
                        "metadata = CASE WHEN $27::bool THEN jsonb_strip_nulls(CASE WHEN $28::jsonb IS NULL THEN '{}'::jsonb "
                        "           ELSE a.metadata || $28::jsonb END) ELSE a.metadata END "
                        "WHERE a.customer_id = $1 AND a.id = $2 RETURNING " ADDRESS_JSON("a"));
SQ_STMT(address_delete, "DELETE FROM customer_addresses WHERE customer_id = $1 AND id = $2");

static const char *jsonb(sq_arena_t *a, const json_t *j)
{
    if (j == NULL)
        return NULL;
    size_t len;
    return sq_json_dump(a, j, &len);
}

/* Refines a unique violation on the email into a field error. */
static const sq_err_t *email_conflict(sq_arena_t *a, const sq_err_t *err)
{
    if (err == NULL || err->code != SQ_E_ALREADY_EXISTS || strcmp(err->constraint, "customers_email_key") != 0)
        return err;
    sq_err_t *e = SQ_NEW(a, sq_err_t);
    sq_err_copy(e, err);
    sq_err_set(e, SQ_E_ALREADY_EXISTS, "An account with this email already exists.");
    sq_err_field(e, "/email", "taken", "email is already registered");
    return e;
}

typedef struct {
    sq_json_cb cb;
    void *data;
    sq_arena_t *arena;
} jctx_t;

static jctx_t *jctx(sq_ctx_t *cx, sq_json_cb cb, void *data)
{
    jctx_t *j = SQ_NEW(cx->arena, jctx_t);
    j->cb = cb;
    j->data = data;
    j->arena = cx->arena;
    return j;
}

static void on_inserted(const char *json, const sq_err_t *err, void *data)
{
    jctx_t *j = data;
    j->cb(json, email_conflict(j->arena, err), j->data);
}

void sq_customer_db_insert(sq_ctx_t *cx, const sq_customer_create_t *in, const char *hash, sq_json_cb cb, void *data)
{
    const char **p =
        sq_db_params(cx->arena, 6, in->email, hash, in->first_name, in->last_name, in->phone, jsonb(cx->arena, in->metadata));
    sq_db_json(cx->db, cx->arena, &customer_insert, 6, p, on_inserted, jctx(cx, cb, data));
}

void sq_customer_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &customer_get, 1, sq_db_params(cx->arena, 1, id), cb, data);
}

void sq_customer_admin_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &customer_admin_get, 1, sq_db_params(cx->arena, 1, id), cb, data);
}

void sq_customer_admin_list(sq_ctx_t *cx, const char *q, const char *tag, const sq_page_t *page, sq_list_cb cb, void *data)
{
    const char **p = sq_db_params(cx->arena, 4, q, page->after, sq_db_int(cx->arena, page->limit + 1), tag);
    sq_db_list(cx->db, cx->arena, &customer_admin_list, 4, p, page->limit, cb, data);
}

static void on_updated(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    jctx_t *j = data;
    if (err != NULL) {
        j->cb(NULL, email_conflict(j->arena, err), j->data);
        return;
    }
    const char *json = sq_rows_text(rows, 0, 0);
    if (json != NULL) {
        j->cb(json, NULL, j->data);
        return;
    }
    sq_err_t e;
    sq_err_clear(&e);
    if (sq_rows_bool(rows, 0, 1))
        sq_err_set(&e, SQ_E_PRECONDITION_FAILED, "The customer changed since you read it; read it again (If-Match).");
    else
        sq_err_set(&e, SQ_E_NOT_FOUND, "The customer does not exist.");
    j->cb(NULL, &e, j->data);
}

#define BIT(i) sq_db_bool((present >> (i)) & 1)

void sq_customer_update(sq_ctx_t *cx, const char *id, const sq_customer_update_t *in, uint64_t present, const char *if_match,
                        sq_json_cb cb, void *data)
{
    const char **p = sq_db_params(cx->arena, 12, id, if_match, BIT(0), in->email, BIT(1), in->first_name, BIT(2), in->last_name,
                                  BIT(3), in->phone, BIT(4), jsonb(cx->arena, in->metadata));
    sq_db_query(cx->db, cx->arena, &customer_update, 12, p, on_updated, jctx(cx, cb, data));
}

typedef struct {
    sq_hash_cb cb;
    void *data;
} hctx_t;

static void on_hash(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    hctx_t *h = data;
    if (err != NULL) {
        h->cb(NULL, err, h->data);
        return;
    }
    if (sq_rows_count(rows) == 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The customer does not exist.");
        h->cb(NULL, &e, h->data);
        return;
    }
    h->cb(sq_rows_text(rows, 0, 0), NULL, h->data);
}

void sq_customer_db_password_hash(sq_ctx_t *cx, const char *id, sq_hash_cb cb, void *data)
{
    hctx_t *h = SQ_NEW(cx->arena, hctx_t);
    h->cb = cb;
    h->data = data;
    sq_db_query(cx->db, cx->arena, &customer_password_get, 1, sq_db_params(cx->arena, 1, id), on_hash, h);
}

typedef struct {
    sq_done_cb cb;
    void *data;
} dctx_t;

static void on_batch_done(sq_batch_t *b, const sq_err_t *err, void *data)
{
    (void)b;
    dctx_t *d = data;
    d->cb(err, d->data);
}

static dctx_t *dctx(sq_ctx_t *cx, sq_done_cb cb, void *data)
{
    dctx_t *d = SQ_NEW(cx->arena, dctx_t);
    d->cb = cb;
    d->data = data;
    return d;
}

void sq_customer_db_password_set(sq_ctx_t *cx, const char *id, const char *hash, const char *keep_session_id, sq_done_cb cb,
                                 void *data)
{
    sq_batch_t *b = sq_db_batch(cx->db, cx->arena);
    sq_batch_add(b, &customer_password_set, 2, sq_db_params(cx->arena, 2, id, hash));
    sq_batch_add(b, &customer_sessions_end, 3, sq_db_params(cx->arena, 3, id, keep_session_id, "password_changed"));
    sq_batch_add(b, &customer_password_event, 1, sq_db_params(cx->arena, 1, id));
    sq_batch_send(b, on_batch_done, dctx(cx, cb, data));
}

void sq_customer_db_reset_create(sq_ctx_t *cx, const char *email, const char *token, sq_done_cb cb, void *data)
{
    const char **p = sq_db_params(cx->arena, 3, email, sq_token_hash(cx->arena, token, strlen(token)), token);
    sq_batch_t *b = sq_db_batch(cx->db, cx->arena);
    sq_batch_add(b, &customer_reset_create, 3, p);
    sq_batch_send(b, on_batch_done, dctx(cx, cb, data));
}

typedef struct {
    sq_ok_cb cb;
    void *data;
} okctx_t;

static void on_reset_used(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    okctx_t *o = data;
    o->cb(err == NULL && sq_rows_int64(rows, 0, 0) > 0, err, o->data);
}

void sq_customer_db_reset_use(sq_ctx_t *cx, const char *token, const char *hash, sq_ok_cb cb, void *data)
{
    okctx_t *o = SQ_NEW(cx->arena, okctx_t);
    o->cb = cb;
    o->data = data;
    const char **p = sq_db_params(cx->arena, 2, sq_token_hash(cx->arena, token, strlen(token)), hash);
    sq_db_query(cx->db, cx->arena, &customer_reset_use, 2, p, on_reset_used, o);
}

void sq_address_list(sq_ctx_t *cx, const char *customer_id, const sq_page_t *page, sq_list_cb cb, void *data)
{
    const char **p = sq_db_params(cx->arena, 3, customer_id, page->after, sq_db_int(cx->arena, page->limit + 1));
    sq_db_list(cx->db, cx->arena, &address_list, 3, p, page->limit, cb, data);
}

void sq_address_get(sq_ctx_t *cx, const char *customer_id, const char *id, sq_json_cb cb, void *data)
{
    sq_db_json(cx->db, cx->arena, &address_get, 2, sq_db_params(cx->arena, 2, customer_id, id), cb, data);
}

void sq_address_create(sq_ctx_t *cx, const char *customer_id, const sq_address_t *in, sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    sq_batch_t *b = sq_db_batch(cx->db, a);
    sq_batch_add(b, &address_guard, 3, sq_db_params(a, 3, customer_id, "t", sq_db_int(a, SQ_MAX_ADDRESSES)));
    sq_batch_add(b, &address_clear_defaults, 4,
                 sq_db_params(a, 4, customer_id, sq_db_bool(in->is_default_shipping), sq_db_bool(in->is_default_billing), NULL));
    sq_batch_add(b, &address_insert, 14,
                 sq_db_params(a, 14, customer_id, in->first_name, in->last_name, in->company, in->address_1, in->address_2,
                              in->city, in->province, in->postal_code, in->country_code, in->phone,
                              sq_db_bool(in->is_default_shipping), sq_db_bool(in->is_default_billing), jsonb(a, in->metadata)));
    sq_batch_send_json(b, cb, data);
}

void sq_address_update(sq_ctx_t *cx, const char *customer_id, const char *id, const sq_address_t *in, uint64_t present,
                       sq_json_cb cb, void *data)
{
    sq_arena_t *a = cx->arena;
    /* field order of sq_address_update_fields: first_name .. phone = 0..9, defaults 10, 11, metadata 12 */
    bool set_ship = ((present >> 10) & 1) && in->is_default_shipping;
    bool set_bill = ((present >> 11) & 1) && in->is_default_billing;
    sq_batch_t *b = sq_db_batch(cx->db, a);
    sq_batch_add(b, &address_guard, 3, sq_db_params(a, 3, customer_id, "f", sq_db_int(a, SQ_MAX_ADDRESSES)));
    sq_batch_add(b, &address_clear_defaults, 4, sq_db_params(a, 4, customer_id, sq_db_bool(set_ship), sq_db_bool(set_bill), id));
    sq_batch_add(b, &address_update, 28,
                 sq_db_params(a, 28, customer_id, id, BIT(0), in->first_name, BIT(1), in->last_name, BIT(2), in->company, BIT(3),
                              in->address_1, BIT(4), in->address_2, BIT(5), in->city, BIT(6), in->province, BIT(7), in->postal_code,
                              BIT(8), in->country_code, BIT(9), in->phone, BIT(10), sq_db_bool(in->is_default_shipping), BIT(11),
                              sq_db_bool(in->is_default_billing), BIT(12), jsonb(a, in->metadata)));
    sq_batch_send_json(b, cb, data);
}

static void on_deleted(sq_rows_t *rows, const sq_err_t *err, void *data)
{
    dctx_t *d = data;
    if (err == NULL && sq_rows_affected(rows) == 0) {
        sq_err_t e;
        sq_err_clear(&e);
        sq_err_set(&e, SQ_E_NOT_FOUND, "The address does not exist.");
        d->cb(&e, d->data);
        return;
    }
    d->cb(err, d->data);
}

void sq_address_delete(sq_ctx_t *cx, const char *customer_id, const char *id, sq_done_cb cb, void *data)
{
    sq_db_query(cx->db, cx->arena, &address_delete, 2, sq_db_params(cx->arena, 2, customer_id, id), on_deleted, dctx(cx, cb, data));
}
