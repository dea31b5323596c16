/* money.c: overflow-checked integer arithmetic on minor units, and the one rounding rule. */
#include "core/base/money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool sq_money_fraction(int64_t amount, int64_t basis_points, int64_t *out)
{
    __int128 p = (__int128)amount * basis_points;
    __int128 q = p / 10000, r = p % 10000;
    /* half away from zero: a remainder of at least half the divisor rounds the magnitude up */
    if (r >= 5000)
        q++;
    else if (r <= -5000)
        q--;
    if (q > INT64_MAX || q < INT64_MIN)
        return false;
    *out = (int64_t)q;
    return true;
}

bool sq_money_muldiv(int64_t amount, int64_t num, int64_t den, int64_t *out)
{
    if (den <= 0)
        return false;
    __int128 p = (__int128)amount * num;
    __int128 q = p / den, r = p % den;
    if (2 * r >= den) /* the same rule as sq_money_fraction: half away from zero */
        q++;
    else if (-2 * r >= den)
        q--;
    if (q > INT64_MAX || q < INT64_MIN)
        return false;
    *out = (int64_t)q;
    return true;
}

bool sq_money_percent_off(int64_t amount, int64_t basis_points, int64_t *out)
{
    int64_t off;
    if (basis_points < 0 || basis_points > 10000 || !sq_money_fraction(amount, basis_points, &off))
        return false;
    *out = amount - off < 0 ? 0 : amount - off;
    return true;
}

bool sq_money_add(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

bool sq_money_allocate(int64_t total, const int64_t *weights, int n, int64_t *out)
{
    __int128 sum = 0;
    for (int i = 0; i < n; i++) {
        if (weights[i] < 0)
            return false;
        sum += weights[i];
    }
    if (total < 0 || total > sum)
        return false;
    if (n == 0)
        return true;
    int64_t given = 0;
    for (int i = 0; i < n; i++) {
        out[i] = sum == 0 ? 0 : (int64_t)((__int128)total * weights[i] / sum);
        given += out[i];
    }
    /* fewer than n units are left: hand them out by largest remainder, one per share (O(n) per unit) */
    for (int64_t left = total - given; left > 0; left--) {
        int best = -1;
        __int128 best_r = -1;
        for (int i = 0; i < n; i++) {
            __int128 r = (__int128)total * weights[i] % sum;
            if (r > best_r && out[i] < weights[i] && out[i] == (int64_t)((__int128)total * weights[i] / sum)) {
                best = i;
                best_r = r;
            }
        }
        if (best < 0)
            return false; /* cannot happen: total <= sum leaves a share below its weight */
        out[best]++;
    }
    return true;
}

bool sq_money_parse(const char *s, int exponent, int64_t *out)
{
    int64_t v = 0;
    int decimals = -1;
    if (s == NULL || *s == '\0' || exponent < 0 || exponent > 4)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (decimals >= 0 || p == s || p[1] == '\0')
                return false;
            decimals = 0;
            continue;
        }
        if (*p < '0' || *p > '9')
            return false;
        if (decimals >= 0 && ++decimals > exponent)
            return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
            return false;
    }
    for (int d = decimals < 0 ? 0 : decimals; d < exponent; d++)
        if (__builtin_mul_overflow(v, 10, &v))
            return false;
    *out = v;
    return true;
}

void sq_money_format(int64_t amount, int exponent, char *buf, size_t len)
{
    const char *sign = amount < 0 ? "-" : "";
    uint64_t a = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
    uint64_t div = 1;
    for (int i = 0; i < exponent; i++)
        div *= 10;
    if (exponent == 0)
        snprintf(buf, len, "%s%llu", sign, (unsigned long long)a);
    else
        snprintf(buf, len, "%s%llu.%0*llu", sign, (unsigned long long)(a / div), exponent, (unsigned long long)(a % div));
}
