/* resource.h: one mechanism for the admin CRUD of plain resources (regions, channels, locations, groups,
 * categories, collections, price lists, products...). A resource is its input rules plus SQL statements
 * that take the validated request body as one jsonb parameter and return the resource as JSON, so a
 * nested create (a product with its variants and prices) is one SQL function call: one transaction.
 *
 * Statement conventions (all in the resource's *_db.c):
 *   get     ($1 id)                                   -> json (no row or NULL: 404)
 *   list    ($1 after_id, $2 limit+1, $3.. filters)   -> (json, id), newest first
 *   create  ($1 body jsonb[, $2 actor])               -> json (the actor when create_takes_actor)
 *   update  ($1 id, $2 body jsonb, $3 etag or NULL)   -> json (NULL: 404); a stale etag raises SQ412
 *   remove  ($1 id)                                   -> rows affected
 * Unique and foreign-key violations are turned into field errors through the resource's constraint table. */
#ifndef SQ_RESOURCE_H
#define SQ_RESOURCE_H

#include "core/base/json.h"
#include "core/ctx.h"

/** A constraint of the resource's tables and what it means for the client. */
typedef struct {
    const char *constraint;
    const char *pointer; /* the body field it is about, or NULL */
    sq_code_t code;
    const char *detail;
} sq_constraint_t;

/** What a list filter accepts: 1 to max_len characters, and one of values when values is not NULL. */
typedef struct {
    const char *name;
    int max_len;
    const char *const *values; /* NULL-terminated, or NULL for any text */
    bool (*valid)(const char *v); /* a format check (sq_filter_int, sq_filter_time), or NULL */
} sq_filter_rule_t;

/** Filter formats: an integer (optional minus sign, up to 18 digits); a date (YYYY-MM-DD) or an RFC 3339 time. */
bool sq_filter_int(const char *v);
bool sq_filter_time(const char *v);

#define SQ_RES_MAX_FILTERS 16

typedef struct sq_resource {
    const char *name;   /* "region": messages and events */
    const char *prefix; /* id prefix: "reg" */
    const sq_field_t *create_fields, *update_fields;
    /* extra rules across fields; may be NULL. body is the parsed request; fill err and return -1 to refuse */
    int (*check)(const json_t *body, bool create, sq_err_t *err);
    sq_stmt_t *get, *list, *create, *update, *remove;
    const char *const *filters; /* query parameters passed to list as $3, $4, ... (NULL-terminated; at most SQ_RES_MAX_FILTERS) */
    const sq_constraint_t *constraints;
    bool if_match_required; /* PATCH without If-Match is 428 */
    /* translations of its customer-visible text into the store's other locales (NULL: not translatable):
     *   get ($1 id, $2 locale) -> json (NULL: 404)   save ($1 id, $2 locale, $3 body jsonb) -> json (NULL: 404)
     *   remove ($1 id, $2 locale) -> rows (none: 404)  */
    const sq_field_t *translation_fields;
    sq_stmt_t *translation_get, *translation_save, *translation_remove;
    const sq_filter_rule_t *filter_rules; /* checks of filter values (NULL-terminated by name; may be NULL) */
    bool create_takes_actor;              /* create gets the caller's id as $2 (it writes ledgers that record who) */
    bool update_takes_actor;              /* update gets the caller's id as $4 (sq_resource_update_as) */
    bool remove_takes_actor;              /* remove gets the caller's id as $2 (sq_resource_remove_as) */
} sq_resource_t;

void sq_resource_get(sq_ctx_t *cx, const sq_resource_t *r, const char *id, sq_json_cb cb, void *data);
/** filters: values of r->filters in order (NULL = not given). */
void sq_resource_list(sq_ctx_t *cx, const sq_resource_t *r, const sq_page_t *page, const char *const *filters, sq_list_cb cb,
                      void *data);
/** body is the validated request body (JSON text); actor the caller's id (staff user or API key), may be NULL. */
void sq_resource_create(sq_ctx_t *cx, const sq_resource_t *r, const char *body, const char *actor, sq_json_cb cb, void *data);
void sq_resource_update(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *body, const char *if_match, sq_json_cb cb,
                        void *data);
/** sq_resource_update with the caller's id as $4 (resources with update_takes_actor: the price ledger records who). */
void sq_resource_update_as(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *body, const char *if_match,
                           const char *actor, sq_json_cb cb, void *data);
void sq_resource_remove(sq_ctx_t *cx, const sq_resource_t *r, const char *id, sq_done_cb cb, void *data);
/** sq_resource_remove with the caller's id as $2 (resources with remove_takes_actor: the price ledger records who). */
void sq_resource_remove_as(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *actor, sq_done_cb cb, void *data);
void sq_resource_translation_get(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *locale, sq_json_cb cb,
                                 void *data);
void sq_resource_translation_save(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *locale, const char *body,
                                  sq_json_cb cb, void *data);
void sq_resource_translation_remove(sq_ctx_t *cx, const sq_resource_t *r, const char *id, const char *locale, sq_done_cb cb,
                                    void *data);
/** The resource's own error for a constraint violation (err itself when no entry matches). */
const sq_err_t *sq_resource_refine(sq_arena_t *a, const sq_resource_t *r, const sq_err_t *err);
/** Checks given filter values (r->filters order) against r->filter_rules: -1 with one error per bad parameter
 * (err->param_errors set, SQ_E_INVALID_PARAMETER). */
int sq_resource_check_filters(const sq_resource_t *r, const char *const *values, sq_err_t *err);
/** Validates a body against the resource's rules (decode for types and unknown fields, then check). */
int sq_resource_validate(sq_arena_t *a, const sq_resource_t *r, const json_t *body, bool create, sq_err_t *err);

#endif
