/* pricing.c: tests of core/pricing.c (the precedence documented in pricing.h) and core/base/money.c. */
#include "core/pricing.h"

#include <stdint.h>

#include "core/base/money.h"
#include "core/base/util.h"
#include "tests/unit/check.h"

#define T0 1800000000000000LL /* a fixed "now" in microseconds */
#define HOUR 3600000000LL

static sq_price_context_t ctx(const char *cur, int qty)
{
    return (sq_price_context_t){cur, qty, "sc_web", "reg_eu", NULL, NULL, 0, T0};
}

static sq_price_result_t resolve(const sq_price_candidate_t *c, int n, sq_price_context_t x)
{
    sq_price_result_t r;
    sq_price_resolve(c, n, &x, &r);
    return r;
}

static void test_base_and_currency(void)
{
    sq_price_candidate_t c[] = {
        {"p1", "eur", 1999, 2499, 1, NULL},
        {"p2", "usd", 2199, 0, 1, NULL},
    };
    sq_price_result_t r = resolve(c, 2, ctx("eur", 1));
    CHECK(r.found);
    CHECK_INT(r.amount, 1999);
    CHECK_INT(r.compare_at, 2499);
    CHECK_STR(r.price_id, "p1");
    CHECK_INT(r.kind, SQ_PRICE_BASE);
    CHECK(r.list == NULL);
    r = resolve(c, 2, ctx("usd", 1));
    CHECK_INT(r.amount, 2199);
    CHECK_INT(r.compare_at, 0);
    r = resolve(c, 2, ctx("gbp", 1));
    CHECK(!r.found); /* no price in the context currency: not for sale there */
    sq_price_candidate_t low_cmp[] = {{"p", "eur", 1000, 900, 1, NULL}};
    r = resolve(low_cmp, 1, ctx("eur", 1));
    CHECK_INT(r.compare_at, 0); /* a compare_at below the price is not shown */
}

static void test_tiers(void)
{
    sq_price_candidate_t c[] = {
        {"t1", "eur", 1000, 0, 1, NULL},
        {"t10", "eur", 900, 0, 10, NULL},
        {"t50", "eur", 800, 0, 50, NULL},
    };
    CHECK_INT(resolve(c, 3, ctx("eur", 1)).amount, 1000);
    CHECK_INT(resolve(c, 3, ctx("eur", 9)).amount, 1000);
    CHECK_INT(resolve(c, 3, ctx("eur", 10)).amount, 900);
    CHECK_INT(resolve(c, 3, ctx("eur", 49)).amount, 900);
    sq_price_result_t r = resolve(c, 3, ctx("eur", 500));
    CHECK_INT(r.amount, 800);
    CHECK_INT(r.min_quantity, 50);
    CHECK_INT(resolve(c, 3, ctx("eur", 0)).amount, 1000); /* a quantity below 1 counts as 1 */
    sq_price_candidate_t only_bulk[] = {{"b", "eur", 500, 0, 100, NULL}};
    CHECK(!resolve(only_bulk, 1, ctx("eur", 99)).found);
    CHECK(resolve(only_bulk, 1, ctx("eur", 100)).found);
}

static void test_sale_only_when_lower(void)
{
    sq_price_list_t sale = {"plist_sale", SQ_PRICE_SALE, 0, 0, 0, 0, NULL, 0};
    sq_price_candidate_t c[] = {
        {"base", "eur", 2000, 0, 1, NULL},
        {"s", "eur", 1500, 0, 1, &sale},
    };
    sq_price_result_t r = resolve(c, 2, ctx("eur", 1));
    CHECK_INT(r.amount, 1500);
    CHECK_INT(r.compare_at, 2000); /* the was-price */
    CHECK_INT(r.kind, SQ_PRICE_SALE);
    CHECK_STR(r.list->id, "plist_sale");
    CHECK_INT(r.base_amount, 2000);
    c[1].amount = 2500; /* a "sale" above the base does not apply */
    r = resolve(c, 2, ctx("eur", 1));
    CHECK_INT(r.amount, 2000);
    CHECK_INT(r.kind, SQ_PRICE_BASE);
    c[1].amount = 2000; /* nor an equal one */
    CHECK_INT(resolve(c, 2, ctx("eur", 1)).kind, SQ_PRICE_BASE);
    /* the base's explicit compare_at, when higher, is the was-price */
    c[0].compare_at = 3000;
    c[1].amount = 1500;
    CHECK_INT(resolve(c, 2, ctx("eur", 1)).compare_at, 3000);
    /* a sale without any base price applies */
    CHECK_INT(resolve(&c[1], 1, ctx("eur", 1)).amount, 1500);
}

static void test_sale_beats_base_tier(void)
{
    sq_price_list_t sale = {"plist_s", SQ_PRICE_SALE, 0, 0, 0, 0, NULL, 0};
    sq_price_candidate_t c[] = {
        {"b1", "eur", 1000, 0, 1, NULL},
        {"b10", "eur", 700, 0, 10, NULL},
        {"s", "eur", 800, 0, 1, &sale},
    };
    CHECK_INT(resolve(c, 3, ctx("eur", 1)).amount, 800);
    CHECK_INT(resolve(c, 3, ctx("eur", 10)).amount, 700); /* the bulk base price is lower than the sale */
}

static void test_overlapping_sales(void)
{
    sq_price_list_t a = {"plist_a", SQ_PRICE_SALE, 5, 0, 0, 0, NULL, 0}, b = {"plist_b", SQ_PRICE_SALE, 1, 0, 0, 0, NULL, 0};
    sq_price_candidate_t c[] = {{"base", "eur", 2000, 0, 1, NULL}, {"pa", "eur", 1600, 0, 1, &a}, {"pb", "eur", 1500, 0, 1, &b}};
    CHECK_STR(resolve(c, 3, ctx("eur", 1)).list->id, "plist_b"); /* the lowest sale wins, whatever the priority */
    c[2].amount = 1600;
    CHECK_STR(resolve(c, 3, ctx("eur", 1)).list->id, "plist_a"); /* equal: the higher priority */
    a.priority = 1;
    CHECK_STR(resolve(c, 3, ctx("eur", 1)).list->id, "plist_a"); /* equal again: the smaller id */
}

static void test_overrides(void)
{
    sq_price_rule_t vip[] = {{SQ_RULE_CUSTOMER_GROUP, "cgrp_vip"}};
    sq_price_list_t sale = {"plist_sale", SQ_PRICE_SALE, 0, 0, 0, 0, NULL, 0};
    sq_price_list_t ov = {"plist_vip", SQ_PRICE_OVERRIDE, 0, 0, 0, 0, vip, 1};
    sq_price_candidate_t c[] = {
        {"base", "eur", 2000, 0, 1, NULL},
        {"s", "eur", 1500, 0, 1, &sale},
        {"o", "eur", 1800, 0, 1, &ov},
    };
    sq_price_context_t x = ctx("eur", 1);
    CHECK_INT(resolve(c, 3, x).amount, 1500); /* not in the group: the sale */
    const char *groups[] = {"cgrp_other", "cgrp_vip"};
    x.customer_groups = groups;
    x.ngroups = 2;
    sq_price_result_t r = resolve(c, 3, x);
    CHECK_INT(r.amount, 1800); /* the negotiated price wins even above the sale */
    CHECK_INT(r.kind, SQ_PRICE_OVERRIDE);
    CHECK_INT(r.compare_at, 0);
    /* two overrides: priority, then the lower amount */
    sq_price_list_t ov2 = {"plist_b2b", SQ_PRICE_OVERRIDE, 10, 0, 0, 0, NULL, 0};
    sq_price_candidate_t c2[] = {{"base", "eur", 2000, 0, 1, NULL}, {"o", "eur", 1800, 0, 1, &ov}, {"o2", "eur", 1900, 0, 1, &ov2}};
    CHECK_STR(resolve(c2, 3, x).list->id, "plist_b2b");
    ov2.priority = 0;
    CHECK_STR(resolve(c2, 3, x).list->id, "plist_vip");
}

static void test_rules(void)
{
    sq_price_rule_t rules[] = {{SQ_RULE_CHANNEL, "sc_app"}, {SQ_RULE_CHANNEL, "sc_pos"}, {SQ_RULE_REGION, "reg_eu"}};
    sq_price_list_t l = {"plist_app", SQ_PRICE_SALE, 0, 0, 0, 0, rules, 3};
    sq_price_context_t x = ctx("eur", 1);
    CHECK(!sq_price_list_applies(&l, &x)); /* channel sc_web is not listed */
    x.channel_id = "sc_pos";
    CHECK(sq_price_list_applies(&l, &x)); /* OR within channels, AND with the region */
    x.region_id = "reg_us";
    CHECK(!sq_price_list_applies(&l, &x));
    x.region_id = NULL;
    CHECK(!sq_price_list_applies(&l, &x));
    sq_price_rule_t company[] = {{SQ_RULE_COMPANY, "comp_1"}};
    sq_price_list_t b2b = {"plist_c", SQ_PRICE_OVERRIDE, 0, 0, 0, 0, company, 1};
    x = ctx("eur", 1);
    CHECK(!sq_price_list_applies(&b2b, &x));
    x.company_id = "comp_1";
    CHECK(sq_price_list_applies(&b2b, &x));
    x.company_id = "comp_2";
    CHECK(!sq_price_list_applies(&b2b, &x));
    sq_price_list_t open = {"plist_o", SQ_PRICE_SALE, 0, 0, 0, 0, NULL, 0};
    CHECK(sq_price_list_applies(&open, &x));
}

static void test_time_windows(void)
{
    sq_price_list_t l = {"plist_t", SQ_PRICE_SALE, 0, T0 - HOUR, T0 + HOUR, 0, NULL, 0};
    sq_price_candidate_t c[] = {{"base", "eur", 1000, 0, 1, NULL}, {"s", "eur", 900, 0, 1, &l}};
    sq_price_context_t x = ctx("eur", 1);
    CHECK_INT(resolve(c, 2, x).amount, 900);
    x.now_us = T0 - HOUR - 1;
    CHECK_INT(resolve(c, 2, x).amount, 1000); /* not started */
    x.now_us = T0 - HOUR;
    CHECK_INT(resolve(c, 2, x).amount, 900); /* starts_at is inclusive */
    x.now_us = T0 + HOUR;
    CHECK_INT(resolve(c, 2, x).amount, 1000); /* ends_at is exclusive */
    l.starts_at_us = 0;
    x.now_us = 0;
    CHECK_INT(resolve(c, 2, x).amount, 900); /* open start */
}

static void test_list_tiers(void)
{
    sq_price_list_t l = {"plist_bulk", SQ_PRICE_OVERRIDE, 0, 0, 0, 0, NULL, 0};
    sq_price_candidate_t c[] = {
        {"base", "eur", 1000, 0, 1, NULL},
        {"l10", "eur", 850, 0, 10, &l},
        {"l100", "eur", 700, 0, 100, &l},
    };
    CHECK_INT(resolve(c, 3, ctx("eur", 5)).amount, 1000); /* the list has no tier for 5 */
    CHECK_INT(resolve(c, 3, ctx("eur", 10)).amount, 850);
    CHECK_INT(resolve(c, 3, ctx("eur", 250)).amount, 700);
}

static void test_percent_lists_and_rounding(void)
{
    sq_price_list_t pct = {"plist_15", SQ_PRICE_SALE, 0, 0, 0, 1500, NULL, 0};
    sq_price_candidate_t c[] = {{"base", "eur", 1999, 0, 1, NULL}, {"pct", "eur", 0, 0, 1, &pct}};
    sq_price_result_t r = resolve(c, 2, ctx("eur", 1));
    CHECK_INT(r.amount, 1699); /* 1999 * 15% = 299.85 -> 300 off */
    CHECK_INT(r.compare_at, 1999);
    sq_price_candidate_t jpy[] = {{"base", "jpy", 1999, 0, 1, NULL}, {"pct", "jpy", 0, 0, 1, &pct}};
    CHECK_INT(resolve(jpy, 2, ctx("jpy", 1)).amount, 1699); /* zero-decimal currencies: same integer rule */
    sq_price_candidate_t half[] = {{"base", "eur", 10, 0, 1, NULL}, {"pct", "eur", 0, 0, 1, &pct}};
    CHECK_INT(resolve(half, 2, ctx("eur", 1)).amount, 8); /* 1.5 rounds half away from zero to 2 off */
    sq_price_candidate_t nobase[] = {{"pct", "eur", 0, 0, 1, &pct}};
    CHECK(!resolve(nobase, 1, ctx("eur", 1)).found); /* a percentage needs a base price */
    sq_price_list_t all = {"plist_100", SQ_PRICE_SALE, 0, 0, 0, 10000, NULL, 0};
    sq_price_candidate_t free_c[] = {{"base", "eur", 500, 0, 1, NULL}, {"pct", "eur", 0, 0, 1, &all}};
    CHECK_INT(resolve(free_c, 2, ctx("eur", 1)).amount, 0);
    /* the percentage applies to the tiered base price */
    sq_price_candidate_t tiers[] = {
        {"b", "eur", 1000, 0, 1, NULL}, {"b10", "eur", 800, 0, 10, NULL}, {"pct", "eur", 0, 0, 1, &pct}};
    CHECK_INT(resolve(tiers, 3, ctx("eur", 10)).amount, 680);
}

static void test_money(void)
{
    int64_t v;
    CHECK(sq_money_fraction(1999, 1500, &v) && v == 300);
    CHECK(sq_money_fraction(10, 1500, &v) && v == 2);   /* 1.5 -> 2 */
    CHECK(sq_money_fraction(10, 1400, &v) && v == 1);   /* 1.4 -> 1 */
    CHECK(sq_money_fraction(-10, 1500, &v) && v == -2); /* half away from zero */
    CHECK(sq_money_fraction(INT64_MAX, 10000, &v) && v == INT64_MAX);
    CHECK(!sq_money_fraction(INT64_MAX, 20000, &v));
    CHECK(sq_money_percent_off(1000, 2500, &v) && v == 750);
    CHECK(!sq_money_percent_off(1000, 10001, &v));
    CHECK(!sq_money_percent_off(1000, -1, &v));
    CHECK(sq_money_add(1, 2, &v) && v == 3);
    CHECK(!sq_money_add(INT64_MAX, 1, &v));
    CHECK(sq_money_parse("19.99", 2, &v) && v == 1999);
    CHECK(sq_money_parse("19.9", 2, &v) && v == 1990);
    CHECK(sq_money_parse("19", 2, &v) && v == 1900);
    CHECK(sq_money_parse("1999", 0, &v) && v == 1999);
    CHECK(sq_money_parse("0.001", 3, &v) && v == 1);
    CHECK(!sq_money_parse("19.999", 2, &v));
    CHECK(!sq_money_parse("1.5", 0, &v));
    CHECK(!sq_money_parse("-1", 2, &v));
    CHECK(!sq_money_parse("1e3", 2, &v));
    CHECK(!sq_money_parse("1.", 2, &v));
    CHECK(!sq_money_parse(".5", 2, &v));
    CHECK(!sq_money_parse("1.2.3", 2, &v));
    CHECK(!sq_money_parse("99999999999999999999", 2, &v));
    CHECK(!sq_money_parse("", 2, &v));
    char buf[32];
    sq_money_format(1999, 2, buf, sizeof(buf));
    CHECK_STR(buf, "19.99");
    sq_money_format(5, 2, buf, sizeof(buf));
    CHECK_STR(buf, "0.05");
    sq_money_format(1999, 0, buf, sizeof(buf));
    CHECK_STR(buf, "1999");
    sq_money_format(-1234, 3, buf, sizeof(buf));
    CHECK_STR(buf, "-1.234");
    sq_money_format(INT64_MIN, 2, buf, sizeof(buf));
    CHECK_STR(buf, "-92233720368547758.08");
    /* parse(format(x)) == x */
    bool round_trip = true;
    for (int64_t x = 0; x < 100000; x += 37) {
        for (int e = 0; e <= 3; e++) {
            sq_money_format(x, e, buf, sizeof(buf));
            int64_t y;
            round_trip &= sq_money_parse(buf, e, &y) && y == x;
        }
    }
    CHECK(round_trip);
}

int main(void)
{
    test_base_and_currency();
    test_tiers();
    test_sale_only_when_lower();
    test_sale_beats_base_tier();
    test_overlapping_sales();
    test_overrides();
    test_rules();
    test_time_windows();
    test_list_tiers();
    test_percent_lists_and_rounding();
    test_money();
    return check_done("pricing");
}
