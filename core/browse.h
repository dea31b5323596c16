/* browse.h: the storefront's navigation: the category tree and collections, localized. Each answer is one
 * JSON text built by SQL, with the locale it is in (for Content-Language). */
#ifndef SQ_BROWSE_H
#define SQ_BROWSE_H

#include "core/ctx.h"

/** json: the answer (NULL when the one asked for does not exist); locale: the locale used. */
typedef void (*sq_browse_cb)(const char *json, const char *locale, const sq_err_t *err, void *data);

/** Active categories whose ancestors are all active, in tree order (depth first, by rank), as a list;
 * parent_id (or NULL) keeps only its children. locales: text[] literal of preferences. */
void sq_browse_categories(sq_ctx_t *cx, const char *locales, const char *parent_id, sq_browse_cb cb, void *data);
/** One visible category by id or handle, with its ancestors (root first) and visible children. */
void sq_browse_category(sq_ctx_t *cx, const char *locales, const char *key, sq_browse_cb cb, void *data);
/** Collections by title, as a list; one by id or handle. */
void sq_browse_collections(sq_ctx_t *cx, const char *locales, sq_browse_cb cb, void *data);
void sq_browse_collection(sq_ctx_t *cx, const char *locales, const char *key, sq_browse_cb cb, void *data);

#endif
