/* apikey.c: API key rules and SQL (small enough to keep together; SQL stays in apikey_db.c). */
#include "core/apikey.h"

#include <stddef.h>
#include <string.h>

#include "core/apikey_db.h"
#include "core/base/crypto.h"

static const char *const key_types[] = {"publishable", "secret", NULL};

const sq_field_t sq_api_key_create_fields[] = {
    {"type", SQ_FT_STR, SQ_F_REQUIRED, offsetof(sq_api_key_create_t, type), 0, 16, key_types, NULL, NULL},
    {"title", SQ_FT_STR, SQ_F_REQUIRED, offsetof(sq_api_key_create_t, title), 1, 256, NULL, NULL, NULL},
    {"sales_channel_id", SQ_FT_STR, 0, offsetof(sq_api_key_create_t, sales_channel_id), 1, 64, NULL, NULL, NULL},
    {"scopes", SQ_FT_STR_ARRAY, 0, offsetof(sq_api_key_create_t, scopes), 0, 64, NULL, NULL, NULL},
    {NULL},
};

int sq_api_key_check(const sq_api_key_create_t *in, sq_err_t *err)
{
    if (strcmp(in->type, "publishable") == 0) {
        if (in->scopes.n > 0)
            sq_err_field(err, "/scopes", "not_allowed", "scopes are only for secret keys");
    } else {
        if (in->sales_channel_id != NULL)
            sq_err_field(err, "/sales_channel_id", "not_allowed", "sales_channel_id is only for publishable keys");
        if (in->scopes.n == 0)
            sq_err_field(err, "/scopes", "required", "scopes are required for secret keys");
        for (int i = 0; i < in->scopes.n; i++)
            if (!sq_perm_known(in->scopes.v[i])) {
                char ptr[32];
                snprintf(ptr, sizeof(ptr), "/scopes/%d", i);
                sq_err_field(err, ptr, "invalid_value", "%.60s is not a known permission", in->scopes.v[i]);
            }
    }
    if (err->nfields > 0) {
        sq_err_set(err, SQ_E_VALIDATION, "Some fields are invalid; see errors.");
        return -1;
    }
    return 0;
}

void sq_api_key_create(sq_ctx_t *cx, const sq_api_key_create_t *in, const char *created_by, sq_json_cb cb, void *data)
{
    bool secret = strcmp(in->type, "secret") == 0;
    const char *token = sq_token_new(cx->arena, secret ? "sk_" : "pk_");
    size_t len = strlen(token);
    const char *redacted = sq_arena_printf(cx->arena, "%.3s...%s", token, token + len - 4);
    sq_api_key_db_insert(cx, in, token, sq_token_hash(cx->arena, token, len), redacted, created_by, cb, data);
}
