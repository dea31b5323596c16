/* shipping.h: shipping options (an admin resource) and the built-in flat-rate shipping provider of core/hooks.h.
 *
 * An option belongs to a region (amounts in its currency), optionally to a zone of its countries. A cart is
 * offered the active options of its region (souq_cart_region, migrations/0020) whose zone holds its shipping
 * country (an option with a zone needs the address), each rated by its provider; the cart's chosen method
 * (one per cart) is rated again on every answer, like the lines' prices, so shipping_total follows the cart
 * (flat_rate: free once the items after discounts reach free_over). */
#ifndef SQ_SHIPPING_H
#define SQ_SHIPPING_H

#include "core/hooks.h"
#include "core/resource.h"

extern const sq_resource_t sq_res_shipping_option;

/** An option as the cart view and the options query return it: "id\tprovider\tamount\tfree_over\tname_json"
 * (free_over -1: none), optionally followed by "\tmin_subtotal\tmax_subtotal" (migrations/0036; -1: open). */
typedef struct {
    const char *id, *provider, *name_json;
    int64_t amount, free_over;
    int64_t min_subtotal, max_subtotal; /* -1: none */
} sq_ship_option_t;

/** Whether an option serves a cart whose shippable items (sq_cart_shippable_total) come to item_total. */
bool sq_ship_option_fits(const sq_ship_option_t *o, int64_t item_total);

/** Parses one record; false when it is malformed. Strings point into rec (which is changed). */
bool sq_ship_option_parse(char *rec, sq_ship_option_t *o);

/** The flat-rate price, pure: amount, or 0 when free_over >= 0 and item_total >= free_over. */
int64_t sq_ship_flat_rate(int64_t amount, int64_t free_over, int64_t item_total);

#endif
