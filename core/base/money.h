/* money.h: integer money. Amounts are int64 minor units of one ISO 4217 currency; no floating point ever
 * touches a price. All rounding of money lives here. */
#ifndef SQ_MONEY_H
#define SQ_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** amount * basis_points / 10000, rounded half away from zero (the commercial rule). false on overflow. */
bool sq_money_fraction(int64_t amount, int64_t basis_points, int64_t *out);
/** amount * num / den (den > 0), rounded half away from zero: tax included in a gross amount
 * (gross * rate / (10000 + rates)). false on overflow or den <= 0. */
bool sq_money_muldiv(int64_t amount, int64_t num, int64_t den, int64_t *out);
/** amount minus basis_points of it (a percentage discount), never below zero. false on overflow. */
bool sq_money_percent_off(int64_t amount, int64_t basis_points, int64_t *out);
/** a + b without overflow; false if it would. */
bool sq_money_add(int64_t a, int64_t b, int64_t *out);
/** Splits total (0 <= total <= sum of weights, weights >= 0) into n shares proportional to the weights with the
 * largest-remainder method: each share is floor(total * w / W), and the units left over go one each to the
 * shares with the largest remainders (ties: the lower index). The shares add up to total exactly and none
 * exceeds its weight. Returns false (out untouched) when the preconditions do not hold. */
bool sq_money_allocate(int64_t total, const int64_t *weights, int n, int64_t *out);
/** Parses a non-negative decimal amount ("19.99") into minor units of a currency with `exponent` decimals;
 * refuses more decimals than the currency has, signs, exponents and overflow. */
bool sq_money_parse(const char *s, int exponent, int64_t *out);
/** Formats minor units as a decimal string ("19.99") into buf (at least 32 bytes). */
void sq_money_format(int64_t amount, int exponent, char *buf, size_t len);

#endif
