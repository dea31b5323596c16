/* product.h: products and variants for the admin API (a plain resource plus variant operations). The
 * storefront's product reads are in storefront.h. */
#ifndef SQ_PRODUCT_H
#define SQ_PRODUCT_H

#include "core/resource.h"

extern const sq_resource_t sq_res_product; /* PATCH needs If-Match */
extern const sq_field_t sq_variant_create_fields[], sq_variant_update_fields[];
/** The body rules of POST /v1/admin/products (imports validate NDJSON lines and CSV products with them). */
extern const sq_field_t sq_product_create_fields[];

/** Checks a variant body against rules the decoder cannot express (price tiers unique per currency). */
int sq_variant_check(const json_t *b, const char *pointer, sq_err_t *err);
/** variant_id NULL creates; answers with the variant (404 when the product or variant does not exist). */
void sq_variant_save(sq_ctx_t *cx, const char *product_id, const char *variant_id, const char *body, const char *actor,
                     sq_json_cb cb, void *data);
void sq_variant_delete(sq_ctx_t *cx, const char *product_id, const char *variant_id, sq_done_cb cb, void *data);
/** The same, with the caller (staff user or API key id) recorded in the price ledger for the prices it removes. */
void sq_variant_delete_as(sq_ctx_t *cx, const char *product_id, const char *variant_id, const char *actor, sq_done_cb cb,
                          void *data);

/** A locale we accept: a language (en) or language-REGION (de-CH). */
bool sq_locale_valid(const char *s);

/** Store settings: {default_locale, locales}; answers with the store JSON. etag may be NULL. */
extern const sq_field_t sq_store_fields[];
void sq_store_get(sq_ctx_t *cx, sq_json_cb cb, void *data);
void sq_store_update(sq_ctx_t *cx, const char *body, const char *etag, sq_json_cb cb, void *data);

/** The body of a product's translation (sq_res_product's translation_fields; replaced whole by a PUT). */
extern const sq_field_t sq_translation_fields[];

#endif
