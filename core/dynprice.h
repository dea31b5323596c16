/* dynprice.h: dynamic pricing. The price ledger (every change of a price, who or what made it), scheduled price
 * changes run by durable jobs, and pricing rules that adjust base prices from stock level or a UTC time window
 * within floor and ceiling bounds. The money and window rules are here and unit-tested; the SQL is in dynprice_db.c
 * and migrations/0035_dynamic_pricing.sql, which mirrors sq_price_adjust and sq_price_window_holds. */
#ifndef SQ_DYNPRICE_H
#define SQ_DYNPRICE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/resource.h"

/* ---- rules ------------------------------------------------------------------------------------------------------ */

#define SQ_PRICE_RULE_MAX_VARIANTS 1000
#define SQ_PRICE_SCHEDULE_MAX_ITEMS 1000
#define SQ_PRICE_MAX_AMOUNT 1000000000000LL /* 10^12 minor units */

/** A rule's new amount for amount: percent adds value basis points (-10000..100000) of amount, rounded half away
 * from zero; otherwise value minor units are added. The result never passes floor (for a decrease) or ceiling (for an
 * increase), a bound never moves the price the other way (an amount already beyond the bound stays), and it is never
 * below zero. */
int64_t sq_price_adjust(int64_t amount, bool percent, int64_t value, int64_t floor, int64_t ceiling);

/** Whether a UTC time window holds at t_us (microseconds since the epoch). days: bit 0 = Monday .. bit 6 = Sunday;
 * start_min/end_min: minutes after midnight; a window with end <= start runs past midnight and belongs to the day it
 * starts on. */
bool sq_price_window_holds(int days, int start_min, int end_min, int64_t t_us);

/** Parses "HH:MM" (00:00..23:59) into minutes after midnight; -1 when malformed. */
int sq_hhmm_parse(const char *s);

/* ---- resources (admin API) ------------------------------------------------------------------------------------ */

/** GET /v1/admin/price-changes(/{id}): the ledger, newest first; filters variant_id, product_id, price_list_id,
 * currency_code, source, source_id, created_after, created_before. */
extern const sq_resource_t sq_res_price_change;
/** /v1/admin/price-schedules: create (with the caller as created_by), list (status filter), get. */
extern const sq_resource_t sq_res_price_schedule;
/** /v1/admin/pricing-rules: create, update, list (status filter), get, delete. */
extern const sq_resource_t sq_res_pricing_rule;

/** Cancels a pending schedule (and its job): SQ_E_NOT_FOUND, or SQ_E_INVALID_STATE when it is no longer pending. */
void sq_price_schedule_cancel(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);
/** What evaluating the rule now (as if it were active) would change, without changing it; SQ_E_NOT_FOUND. */
void sq_pricing_rule_preview(sq_ctx_t *cx, const char *id, sq_json_cb cb, void *data);

/** Registers the job kinds "price_schedule.run" (payload {schedule_id, phase: apply|revert}) and
 * "pricing_rules.evaluate" (the recurring schedule "pricing_rules" of 0035, stock crossings, window boundaries). */
void sq_dynprice_register_jobs(void);

#endif
