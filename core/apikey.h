/* apikey.h: API keys. Publishable keys name a sales channel and identify a storefront (public by design);
 * secret keys carry scopes for integrations, are shown once and stored only as a SHA-256. */
#ifndef SQ_APIKEY_H
#define SQ_APIKEY_H

#include "core/auth.h"
#include "core/base/json.h"
#include "core/ctx.h"

typedef struct {
    const char *type, *title, *sales_channel_id;
    sq_strs_t scopes;
} sq_api_key_create_t;
extern const sq_field_t sq_api_key_create_fields[];

/** Validates the type-specific rules (publishable: no scopes; secret: known scopes, no channel) into err. */
int sq_api_key_check(const sq_api_key_create_t *in, sq_err_t *err);
/** Creates the key; the JSON includes `token` (the only time a secret key's token is shown).
 * A publishable key without sales_channel_id gets the default channel. */
void sq_api_key_create(sq_ctx_t *cx, const sq_api_key_create_t *in, const char *created_by, sq_json_cb cb, void *data);
void sq_api_key_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);
void sq_api_key_list(sq_ctx_t *cx, const char *type, const sq_page_t *page, sq_list_cb cb, void *data);
/** Revokes (idempotent) and tells every node to drop cached keys (NOTIFY souq 'api_keys'). */
void sq_api_key_revoke(sq_ctx_t *cx, const char *id, const char *revoked_by, sq_json_cb cb, void *data);

#endif
