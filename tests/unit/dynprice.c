/* dynprice.c: tests of core/dynprice.c: the adjustment arithmetic (rounding, bounds, zero), UTC time windows (across
 * midnight, weekdays), HH:MM parsing and the cross-field rules of a pricing rule's body. The same adjustment cases are
 * run through the SQL mirror (souq_price_adjust) by tests/api/dynamic_pricing.test.mjs. */
#include "core/dynprice.h"

#include <stdint.h>

#include "core/base/arena.h"
#include "core/base/json.h"
#include "tests/unit/check.h"

#define BIG 1000000000000LL

static void test_adjust(void)
{
    /* percent: basis points of the amount, half away from zero */
    CHECK_INT(sq_price_adjust(1000, true, 1000, 0, BIG), 1100);
    CHECK_INT(sq_price_adjust(1010, true, 500, 0, BIG), 1061);  /* 1060.5 */
    CHECK_INT(sq_price_adjust(1005, true, -1500, 0, BIG), 854); /* 854.25 */
    CHECK_INT(sq_price_adjust(999, true, -1500, 0, BIG), 849);  /* 849.15 */
    CHECK_INT(sq_price_adjust(1, true, -5000, 0, BIG), 1);      /* 0.5 rounds up to 1: no change */
    CHECK_INT(sq_price_adjust(3, true, -5000, 0, BIG), 2);      /* 1.5 -> 2 */
    CHECK_INT(sq_price_adjust(1000, true, -10000, 0, BIG), 0);  /* -100 % */
    CHECK_INT(sq_price_adjust(1000, true, 100000, 0, BIG), 11000);
    /* fixed: minor units added; never below zero */
    CHECK_INT(sq_price_adjust(500, false, -50, 0, BIG), 450);
    CHECK_INT(sq_price_adjust(500, false, -900, 0, BIG), 0);
    CHECK_INT(sq_price_adjust(500, false, 250, 0, BIG), 750);
    /* bounds in the adjustment's direction */
    CHECK_INT(sq_price_adjust(1010, true, 1000, 0, 1100), 1100); /* 1111 capped at the ceiling */
    CHECK_INT(sq_price_adjust(100, true, -1500, 90, BIG), 90);   /* 85 stopped at the floor */
    /* a bound never moves a price the other way: an amount already beyond it stays */
    CHECK_INT(sq_price_adjust(80, true, -1500, 90, BIG), 80);
    CHECK_INT(sq_price_adjust(2000, true, 1000, 0, 1500), 2000);
    /* no overflow at the extremes */
    CHECK_INT(sq_price_adjust(INT64_MAX / 2, true, 100000, 0, INT64_MAX), INT64_MAX);
    CHECK_INT(sq_price_adjust(INT64_MAX - 1, false, BIG, 0, INT64_MAX), INT64_MAX);
}

#define MIN_US 60000000LL
#define DAY_US 86400000000LL
/* 2026-11-30 00:00 UTC is a Monday */
#define MON 1795996800000000LL

static void test_window(void)
{
    const int all = 127, weekdays = 31, sun = 64;
    CHECK(sq_price_window_holds(all, 17 * 60, 19 * 60, MON + 17 * 60 * MIN_US));
    CHECK(sq_price_window_holds(all, 17 * 60, 19 * 60, MON + (19 * 60 - 1) * MIN_US));
    CHECK(!sq_price_window_holds(all, 17 * 60, 19 * 60, MON + 19 * 60 * MIN_US)); /* the end is exclusive */
    CHECK(!sq_price_window_holds(all, 17 * 60, 19 * 60, MON + (17 * 60 - 1) * MIN_US));
    CHECK(sq_price_window_holds(weekdays, 17 * 60, 19 * 60, MON + 4 * DAY_US + 18 * 60 * MIN_US));  /* Friday */
    CHECK(!sq_price_window_holds(weekdays, 17 * 60, 19 * 60, MON + 5 * DAY_US + 18 * 60 * MIN_US)); /* Saturday */
    /* across midnight: belongs to the day it starts on */
    CHECK(sq_price_window_holds(sun, 22 * 60, 2 * 60, MON - DAY_US + 23 * 60 * MIN_US)); /* Sunday 23:00 */
    CHECK(sq_price_window_holds(sun, 22 * 60, 2 * 60, MON + 1 * 60 * MIN_US));           /* Monday 01:00, Sunday's night */
    CHECK(!sq_price_window_holds(sun, 22 * 60, 2 * 60, MON + 23 * 60 * MIN_US));         /* Monday 23:00 */
    CHECK(!sq_price_window_holds(sun, 22 * 60, 2 * 60, MON + 2 * 60 * MIN_US));
    /* before the epoch, day arithmetic still holds (1969-12-29 was a Monday) */
    CHECK(sq_price_window_holds(1, 0, 60, -3 * DAY_US + 30 * MIN_US));
    CHECK(!sq_price_window_holds(1, 0, 60, -2 * DAY_US + 30 * MIN_US));
}

static void test_hhmm(void)
{
    CHECK_INT(sq_hhmm_parse("00:00"), 0);
    CHECK_INT(sq_hhmm_parse("17:30"), 1050);
    CHECK_INT(sq_hhmm_parse("23:59"), 1439);
    CHECK_INT(sq_hhmm_parse("24:00"), -1);
    CHECK_INT(sq_hhmm_parse("12:60"), -1);
    CHECK_INT(sq_hhmm_parse("7:30"), -1);
    CHECK_INT(sq_hhmm_parse("07-30"), -1);
    CHECK_INT(sq_hhmm_parse(""), -1);
    CHECK_INT(sq_hhmm_parse(NULL), -1);
}

int sq_pricing_rule_check(const json_t *b, bool create, sq_err_t *err);

static int check(const char *body, const char *pointer)
{
    sq_arena_t *a = sq_arena_new();
    sq_err_t err;
    sq_err_clear(&err);
    json_t *b = sq_json_parse(a, body, strlen(body), &err);
    int rc = b != NULL ? sq_pricing_rule_check(b, true, &err) : -2;
    int found = pointer == NULL;
    for (int i = 0; i < err.nfields; i++)
        if (pointer != NULL && strcmp(err.fields[i].pointer, pointer) == 0)
            found = 1;
    sq_arena_unref(a);
    return rc == (pointer == NULL ? 0 : -1) && found;
}

static void test_rule_check(void)
{
    CHECK(check("{\"condition\":{\"type\":\"stock_below\",\"threshold\":5},\"adjustment\":{\"type\":\"percent\",\"value\":1000}}",
                NULL));
    CHECK(check("{\"condition\":{\"type\":\"stock_below\"}}", "/condition/threshold"));
    CHECK(check("{\"condition\":{\"type\":\"stock_below\",\"threshold\":5,\"days\":[\"mon\"]}}", "/condition/days"));
    CHECK(check("{\"condition\":{\"type\":\"time_window\",\"start\":\"10:00\",\"end\":\"12:00\"}}", NULL));
    CHECK(check("{\"condition\":{\"type\":\"time_window\",\"start\":\"22:00\",\"end\":\"02:00\"}}", NULL));
    CHECK(check("{\"condition\":{\"type\":\"time_window\",\"end\":\"12:00\"}}", "/condition/start"));
    CHECK(check("{\"condition\":{\"type\":\"time_window\",\"start\":\"12:00\",\"end\":\"12:00\"}}", "/condition/end"));
    CHECK(check("{\"condition\":{\"type\":\"time_window\",\"start\":\"1:00\",\"end\":\"2:00\",\"threshold\":1}}",
                "/condition/threshold"));
    CHECK(check("{\"adjustment\":{\"type\":\"percent\",\"value\":-10001}}", "/adjustment/value"));
    CHECK(check("{\"adjustment\":{\"type\":\"percent\",\"value\":100001}}", "/adjustment/value"));
    CHECK(check("{\"adjustment\":{\"type\":\"fixed\",\"value\":-100001}}", NULL));
    CHECK(check("{\"adjustment\":{\"type\":\"fixed\",\"value\":0}}", "/adjustment/value"));
    CHECK(check("{\"floor_amount\":10,\"ceiling_amount\":9}", "/ceiling_amount"));
    CHECK(check("{\"floor_amount\":10,\"ceiling_amount\":10}", NULL));
}

int main(void)
{
    test_adjust();
    test_window();
    test_hhmm();
    test_rule_check();
    return check_done("dynprice");
}
