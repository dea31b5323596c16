/* customer_db.h: the SQL of customers and addresses. Internal to core. */
#ifndef SQ_CUSTOMER_DB_H
#define SQ_CUSTOMER_DB_H

#include "core/customer.h"

void sq_customer_db_insert(sq_ctx_t *cx, const sq_customer_create_t *in, const char *hash, sq_json_cb cb, void *data);
typedef void (*sq_hash_cb)(const char *hash, const sq_err_t *err, void *data);
void sq_customer_db_password_hash(sq_ctx_t *cx, const char *id, sq_hash_cb cb, void *data);
void sq_customer_db_password_set(sq_ctx_t *cx, const char *id, const char *hash, const char *keep_session_id, sq_done_cb cb,
                                 void *data);
void sq_customer_db_reset_create(sq_ctx_t *cx, const char *email, const char *token, sq_done_cb cb, void *data);
/** Sets the password of the token's customer; *ok false when the token is not valid. */
typedef void (*sq_ok_cb)(bool ok, const sq_err_t *err, void *data);
void sq_customer_db_reset_use(sq_ctx_t *cx, const char *token, const char *hash, sq_ok_cb cb, void *data);

#endif
