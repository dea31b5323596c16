/* auth.h: staff roles and permissions, password hashing, and the login / refresh / logout / API-key flows
 * shared by customers and staff. Tokens are minted by api/ (it owns JWT); core owns sessions. */
#ifndef SQ_AUTH_H
#define SQ_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ctx.h"

typedef enum {
    SQ_ROLE_OWNER,
    SQ_ROLE_ADMIN,
    SQ_ROLE_CATALOG_MANAGER,
    SQ_ROLE_ORDER_MANAGER,
    SQ_ROLE_SUPPORT,
    SQ_ROLE_READ_ONLY,
    SQ_ROLE__COUNT
} sq_role_t;

/** Role by name, -1 if unknown. */
int sq_role_parse(const char *name);
/** NULL-terminated list of role names (for validation and docs). */
extern const char *const sq_role_names[];
/** True if the role holds the permission ("customers:read"). */
bool sq_role_can(sq_role_t role, const char *perm);
/** True if a staff member with role `granter` may give or take away role `target` (owners only for owner). */
bool sq_role_may_grant(sq_role_t granter, sq_role_t target);
/** Every permission name, NULL-terminated; secret API key scopes are chosen from these. */
extern const char *const sq_permissions[];
bool sq_perm_known(const char *perm);

/** Sets argon2id costs (process-wide, before threads start). */
void sq_password_set_cost(uint32_t memory_kib, uint32_t iterations);
/** argon2id-encoded hash of pw, malloc'd. Blocking (~tens of ms): call through cx->offload. */
char *sq_password_hash(const char *pw);
/** Verifies pw against an encoded hash; with encoded NULL it burns the same time and returns false
 * (so unknown accounts are not revealed by timing). Blocking. */
bool sq_password_verify(const char *encoded, const char *pw);

typedef enum { SQ_SUBJECT_CUSTOMER, SQ_SUBJECT_STAFF } sq_subject_t;

typedef struct {
    int refresh_ttl;             /* seconds, sliding */
    int session_ttl;             /* seconds, absolute */
    int limit_account, limit_ip; /* failed logins per minute */
} sq_session_policy_t;

typedef struct {
    const char *subject_id;
    const char *session_id;
    const char *refresh_token; /* shown to the client once; only its hash is stored */
} sq_session_t;

typedef void (*sq_session_cb)(const sq_session_t *s, const sq_err_t *err, void *data);

/** Email + password login with per-account and per-address throttling of failures (429 with
 * retry_after). Wrong email and wrong password are indistinguishable, also by timing. */
void sq_auth_login(sq_ctx_t *cx, sq_subject_t type, const char *email, const char *password, const char *ip, const char *user_agent,
                   const sq_session_policy_t *pol, sq_session_cb cb, void *data);
/** Rotates a refresh token (reuse of a rotated token revokes the session). SQ_E_INVALID_TOKEN if not valid. */
void sq_auth_refresh(sq_ctx_t *cx, sq_subject_t type, const char *refresh_token, const sq_session_policy_t *pol, sq_session_cb cb,
                     void *data);

/** Revokes the session of a refresh token (RFC 7009 style: unknown tokens succeed silently). */
void sq_auth_logout(sq_ctx_t *cx, sq_subject_t type, const char *refresh_token, sq_done_cb cb, void *data);

/** The staff principal behind a token's (sub, sid): role and status checked on every admin request,
 * so disabling a user, changing a role or logging out takes effect at once. */
typedef struct {
    const char *id, *email;
    sq_role_t role;
} sq_staff_principal_t;
typedef void (*sq_staff_principal_cb)(const sq_staff_principal_t *p, const sq_err_t *err, void *data);
void sq_auth_staff_principal(sq_ctx_t *cx, const char *user_id, const char *session_id, sq_staff_principal_cb cb, void *data);

/** An API key found by its token. */
typedef struct {
    const char *id;
    bool secret;
    const char *sales_channel_id; /* publishable keys */
    bool channel_disabled;        /* publishable keys: their sales channel is disabled (the storefront is closed) */
    const char **scopes;          /* secret keys, NULL-terminated */
} sq_key_principal_t;
typedef void (*sq_key_principal_cb)(const sq_key_principal_t *k, const sq_err_t *err, void *data);
/** Looks up a non-revoked key by token (hash) and notes its use (at most once a minute). */
void sq_auth_api_key(sq_ctx_t *cx, const char *token, sq_key_principal_cb cb, void *data);

#endif
