/* customer.h: customer accounts, their addresses and password flows. Resources come back as JSON text
 * built by PostgreSQL (see customer_db.c), which api/ sends as is. */
#ifndef SQ_CUSTOMER_H
#define SQ_CUSTOMER_H

#include <jansson.h>

#include "core/auth.h"
#include "core/base/json.h"
#include "core/ctx.h"

typedef struct {
    const char *email, *password, *first_name, *last_name, *phone;
    const json_t *metadata;
} sq_customer_create_t;
extern const sq_field_t sq_customer_create_fields[];

/** PATCH: a field is applied when its bit (field order) is set in present; null clears it. */
typedef struct {
    const char *email, *first_name, *last_name, *phone;
    const json_t *metadata;
} sq_customer_update_t;
extern const sq_field_t sq_customer_update_fields[];

typedef struct {
    const char *current_password, *new_password;
} sq_password_change_t;
extern const sq_field_t sq_password_change_fields[];

typedef struct {
    const char *email;
} sq_reset_request_t;
extern const sq_field_t sq_reset_request_fields[];

typedef struct {
    const char *token, *password;
} sq_reset_confirm_t;
extern const sq_field_t sq_reset_confirm_fields[];

typedef struct {
    const char *first_name, *last_name, *company, *address_1, *address_2, *city, *province, *postal_code, *country_code, *phone;
    bool is_default_shipping, is_default_billing;
    const json_t *metadata;
} sq_address_t;
extern const sq_field_t sq_address_create_fields[];
extern const sq_field_t sq_address_update_fields[];
/** The postal fields only (names to phone, the address book's rules), for addresses outside the address book
 * (carts): country_code required, the other fields optional and nullable. Decodes into an sq_address_t. */
extern const sq_field_t sq_address_postal_fields[];

#define SQ_MAX_ADDRESSES 50

/** Creates an account (password hashed off the loop) and its customer.created event.
 * SQ_E_ALREADY_EXISTS (pointer /email) when the email has an account. */
void sq_customer_register(sq_ctx_t *cx, const sq_customer_create_t *in, sq_json_cb cb, void *data);
/** A customer with an account, by id. */
void sq_customer_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);
/** Any customer (guests too), for staff. */
void sq_customer_admin_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);
/** Staff list, newest first; q filters on the start of the email. */
/** tag (NULL: any) keeps customers that carry it (tags come from automation rules). */
void sq_customer_admin_list(sq_ctx_t *cx, const char *q, const char *tag, const sq_page_t *page, sq_list_cb cb, void *data);
/** Applies a PATCH. if_match (may be NULL) is the ETag the client read: SQ_E_PRECONDITION_FAILED if stale. */
void sq_customer_update(sq_ctx_t *cx, const char *id, const sq_customer_update_t *in, uint64_t present, const char *if_match,
                        sq_json_cb cb, void *data);
/** Checks the current password, stores the new one and ends every other session of the customer. */
void sq_customer_change_password(sq_ctx_t *cx, const char *id, const char *keep_session_id, const sq_password_change_t *in,
                                 sq_done_cb cb, void *data);
/** Starts a reset: throttled per email and per address; emits customer.password_reset_requested with
 * the token for the notification provider. Succeeds whether or not the email has an account. */
void sq_customer_reset_request(sq_ctx_t *cx, const char *email, const char *ip, int limit_account, int limit_ip, sq_done_cb cb,
                               void *data);
/** Completes a reset: sets the password and ends every session. SQ_E_VALIDATION on a bad or used token. */
void sq_customer_reset_confirm(sq_ctx_t *cx, const sq_reset_confirm_t *in, sq_done_cb cb, void *data);

void sq_address_list(sq_ctx_t *cx, const char *customer_id, const sq_page_t *page, sq_list_cb cb, void *data);
void sq_address_get(sq_ctx_t *cx, const char *customer_id, const char *id, sq_json_cb cb, void *data);
/** SQ_E_CONFLICT past SQ_MAX_ADDRESSES. A default flag moves the default from the previous address. */
void sq_address_create(sq_ctx_t *cx, const char *customer_id, const sq_address_t *in, sq_json_cb cb, void *data);
void sq_address_update(sq_ctx_t *cx, const char *customer_id, const char *id, const sq_address_t *in, uint64_t present,
                       sq_json_cb cb, void *data);
void sq_address_delete(sq_ctx_t *cx, const char *customer_id, const char *id, sq_done_cb cb, void *data);

#endif
