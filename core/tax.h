/* tax.h: tax rates (an admin resource) and the built-in table tax provider of core/hooks.h.
 *
 * Which rates apply to an item (sq_tax_table_compute): the cart view passes the store's rates for the cart's
 * place: rates of the shipping address's province (level 2) and country (level 1), and of the cart's region
 * (level 0, the default when the address is unknown or has no rate of its own). For an item of tax class X, the
 * rates of class X at the most specific level that has any apply; when no level has class X, class "standard"
 * is used the same way (a class is an exception to standard: a reduced or zero class needs its own rate, 0 bp
 * for zero-rated goods). Shipping is class "shipping" (so it follows standard unless a shipping rate exists).
 * Every applicable rate is charged on the same base: no compound rates.
 *
 * Rounding: per item and per rate, half away from zero on minor units (sq_money_fraction / sq_money_muldiv).
 *   exclusive prices: amount = round(base x rate / 10000)
 *   inclusive prices: amount = round(base x rate / (10000 + sum of the item's rates)), the tax inside the base
 * The item's tax is the sum of its rates' amounts; the cart's tax is the sum of its items'. Nothing is rounded
 * at the cart level, so the lines always add up to the total. */
#ifndef SQ_TAX_H
#define SQ_TAX_H

#include "core/hooks.h"
#include "core/resource.h"

extern const sq_resource_t sq_res_tax_rate;

/** The table provider's work, pure: the tax lines of req's items into out (at most cap; cap >= nitems x nrates
 * is always enough), in item order and, within an item, the rates' order. Returns the count, or -1 when an
 * amount overflows (not reachable with the input limits). */
int sq_tax_table_compute(const sq_tax_req_t *req, sq_tax_line_t *out, int cap);

/** Parses the cart view's rates column: records "id\trate_bp\ttax_class\tlevel\tcode_json\tname_json" separated by
 * \n. Returns the count; *out in the arena. */
int sq_tax_rates_parse(sq_arena_t *a, const char *text, sq_tax_rate_t **out);

#endif
