/* inventory.h: inventory items and their levels for the admin API, stock changes (adjustments, counts,
 * transfers) and the ledger, and the reservation API checkout uses. The SQL (migrations/0003 and 0007) keeps
 * the invariants: every change has a ledger row, on_hand >= reserved >= 0, locks are taken in one global
 * order (item, location), and no lock outlives the one statement that takes it. */
#ifndef SQ_INVENTORY_H
#define SQ_INVENTORY_H

#include "core/resource.h"

extern const sq_resource_t sq_res_inventory_item;   /* list, get, update */
extern const sq_resource_t sq_res_inventory_ledger; /* list */

typedef enum { SQ_STOCK_ADJUSTMENT, SQ_STOCK_COUNT, SQ_STOCK_TRANSFER } sq_stock_change_t;
/** The body rules of each change, indexed by sq_stock_change_t. */
extern const sq_field_t *const sq_stock_change_fields[3];
/** Rules across fields of a change body (a transfer needs two locations, an adjustment a change). */
int sq_stock_change_check(sq_stock_change_t kind, const json_t *b, sq_err_t *err);
/** Applies a validated change to an item; answers with the item (404 when it does not exist, 409 when stock
 * would fall below zero or below what is reserved). actor: who, for the ledger. */
void sq_stock_change(sq_ctx_t *cx, const char *item_id, sq_stock_change_t kind, const char *body, const char *actor,
                     sq_json_cb cb, void *data);

/** Reserves lines_json ([{"variant_id", "quantity"}, ...]) for reference in the channel's locations, replacing
 * the reference's active reservations, all or nothing. Answers with the reservations
 * [{id, inventory_item_id, location_id, quantity, backordered, expires_at}]; 409 when stock is short, 422 for
 * an unknown variant. Variants that do not manage inventory reserve nothing. */
void sq_stock_reserve(sq_ctx_t *cx, const char *lines_json, const char *channel_id, const char *reference, int ttl_s,
                      sq_json_cb cb, void *data);
/** Ends the active reservations of reference: release gives the stock back, commit takes it from on_hand as
 * sold. Answers with the number of reservations ended (0 is not an error: both are idempotent). */
typedef void (*sq_count_cb)(long n, const sq_err_t *err, void *data);
void sq_stock_release(sq_ctx_t *cx, const char *reference, sq_count_cb cb, void *data);
void sq_stock_commit(sq_ctx_t *cx, const char *reference, sq_count_cb cb, void *data);
/** The sweeper's step: releases up to limit expired reservations (rows another node holds are skipped). */
void sq_stock_release_expired(sq_ctx_t *cx, int limit, sq_count_cb cb, void *data);

#endif
