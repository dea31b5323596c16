/* apikey_db.h: the SQL of API keys. Internal to core. */
#ifndef SQ_APIKEY_DB_H
#define SQ_APIKEY_DB_H

#include "core/apikey.h"

void sq_api_key_db_insert(sq_ctx_t *cx, const sq_api_key_create_t *in, const char *token, const char *hash, const char *redacted,
                          const char *created_by, sq_json_cb cb, void *data);

#endif
