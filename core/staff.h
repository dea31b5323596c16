/* staff.h: staff users (back-office accounts) and their roles. */
#ifndef SQ_STAFF_H
#define SQ_STAFF_H

#include "core/auth.h"
#include "core/base/json.h"
#include "core/ctx.h"

typedef struct {
    const char *email, *password, *role, *first_name, *last_name;
} sq_staff_create_t;
extern const sq_field_t sq_staff_create_fields[];

/* bit order of `present`: role, first_name, last_name, disabled */
typedef struct {
    const char *role, *first_name, *last_name;
    bool disabled;
} sq_staff_update_t;
extern const sq_field_t sq_staff_update_fields[];

/** Creates a staff user (password hashed off the loop). SQ_E_FORBIDDEN when actor_role may not grant the
 * role; SQ_E_ALREADY_EXISTS (pointer /email) when the email is taken. */
void sq_staff_create(sq_ctx_t *cx, sq_role_t actor_role, const sq_staff_create_t *in, sq_json_cb cb, void *data);
void sq_staff_get(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);
void sq_staff_list(sq_ctx_t *cx, const sq_page_t *page, sq_list_cb cb, void *data);
/** Changes role, names or status. Nobody changes their own role or status; admins cannot touch owners
 * or grant owner; the last active owner stays. Disabling ends the user's sessions. */
void sq_staff_update(sq_ctx_t *cx, const char *actor_id, sq_role_t actor_role, const char *id, const sq_staff_update_t *in,
                     uint64_t present, sq_json_cb cb, void *data);

#endif
