/* catalog.h: the plain admin resources of the catalog and its surroundings, each one sq_resource_t:
 * sales channels, regions, stock locations, customer groups, categories, collections, price lists. */
#ifndef SQ_CATALOG_H
#define SQ_CATALOG_H

#include "core/resource.h"

extern const sq_resource_t sq_res_sales_channel, sq_res_region, sq_res_stock_location, sq_res_customer_group, sq_res_category,
    sq_res_collection, sq_res_price_list;

/** Input rules of the sub-operations (validated, then passed to SQL as the body). */
extern const sq_field_t sq_channel_location_fields[]; /* {location_id, priority} */
extern const sq_field_t sq_members_fields[];          /* {add: [ids], remove: [ids]} */
extern const sq_field_t sq_list_prices_fields[];      /* {upsert: [...], remove: [ids]} */

/** Sub-operations; each answers with the parent resource's JSON (404 when it does not exist). */
void sq_channel_location_set(sq_ctx_t *cx, const char *channel_id, const char *body, sq_json_cb cb, void *data);
void sq_channel_location_remove(sq_ctx_t *cx, const char *channel_id, const char *location_id, sq_json_cb cb, void *data);
void sq_group_members(sq_ctx_t *cx, const char *group_id, const char *body, sq_json_cb cb, void *data);
void sq_collection_products(sq_ctx_t *cx, const char *collection_id, const char *body, sq_json_cb cb, void *data);
void sq_price_list_prices(sq_ctx_t *cx, const char *list_id, const char *body, sq_json_cb cb, void *data);
/** The same, with the caller (staff user or API key id) recorded in the price ledger (0035). */
void sq_price_list_prices_as(sq_ctx_t *cx, const char *list_id, const char *body, const char *actor, sq_json_cb cb, void *data);

#endif
