/* staff_db.h: the SQL of staff users. Internal to core. */
#ifndef SQ_STAFF_DB_H
#define SQ_STAFF_DB_H

#include "core/staff.h"

void sq_staff_db_insert(sq_ctx_t *cx, const sq_staff_create_t *in, const char *hash, sq_json_cb cb, void *data);
/** may_touch_owner: whether the actor may change a user who is an owner. */
void sq_staff_db_update(sq_ctx_t *cx, bool may_touch_owner, const char *id, const sq_staff_update_t *in, uint64_t present,
                        sq_json_cb cb, void *data);

#endif
