/* product.h: products and variants for the admin API (a plain resource plus variant operations). The
 * storefront's product reads are in storefront.h. */
#ifndef SQ_PRODUCT_H
#define SQ_PRODUCT_H

#include "core/resource.h"

extern const sq_resource_t sq_res_product; /* PATCH needs If-Match */
extern const sq_field_t sq_variant_create_fields[], sq_variant_update_fields[];

/** Checks a variant body against rules the decoder cannot express (price tiers unique per currency). */
int sq_variant_check(const json_t *b, const char *pointer, sq_err_t *err);
/** variant_id NULL creates; answers with the variant (404 when the product or variant does not exist). */
void sq_variant_save(sq_ctx_t *cx, const char *product_id, const char *variant_id, const char *body, const char *actor,
                     sq_json_cb cb, void *data);
void sq_variant_delete(sq_ctx_t *cx, const char *product_id, const char *variant_id, sq_done_cb cb, void *data);

#endif
