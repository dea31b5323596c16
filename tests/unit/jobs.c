/* Unit tests of core/jobs.c: the retry backoff, schedule specs, the handler table. */
#include <stdint.h>

#include "core/jobs.h"
#include "tests/unit/check.h"

static void test_backoff(void)
{
    /* base, 2 base, 4 base, ... each within +-10 % */
    for (int n = 1; n <= 6; n++) {
        int64_t want = 1000LL << (n - 1);
        for (uint32_t rnd = 0; rnd < 5000; rnd += 97) {
            int64_t d = sq_job_backoff_ms(n, 1000, 3600000, rnd);
            CHECK(d >= want - want / 10 && d <= want + want / 10);
        }
        CHECK(sq_job_backoff_ms(n, 1000, 3600000, 0) >= want - want / 10);
        CHECK(sq_job_backoff_ms(n, 1000, 3600000, UINT32_MAX) <= want + want / 10);
    }
    /* jitter spreads */
    CHECK(sq_job_backoff_ms(3, 1000, 3600000, 0) != sq_job_backoff_ms(3, 1000, 3600000, 333));
    /* capped, also for absurd attempt numbers (no overflow) */
    CHECK(sq_job_backoff_ms(40, 1000, 60000, 7) <= 66000);
    CHECK(sq_job_backoff_ms(1000, 15000, 3600000, 7) >= 3240000);
    /* tiny bases stay positive */
    CHECK(sq_job_backoff_ms(1, 1, 10, 12345) >= 1);
    CHECK(sq_job_backoff_ms(0, 0, 10, 0) >= 1);
}

static void test_specs(void)
{
    sq_schedule_spec_t s;
    const char *why = NULL;
    CHECK_INT(sq_schedule_parse("every 5 minutes", &s, &why), 0);
    CHECK_INT(s.every_s, 300);
    CHECK_INT(s.daily_min, -1);
    CHECK_INT(sq_schedule_parse("every 1 minute", &s, &why), 0);
    CHECK_INT(s.every_s, 60);
    CHECK_INT(sq_schedule_parse("every 1 seconds", &s, &why), 0);
    CHECK_INT(s.every_s, 1);
    CHECK_INT(sq_schedule_parse("every 2 hours", &s, &why), 0);
    CHECK_INT(s.every_s, 7200);
    CHECK_INT(sq_schedule_parse("daily at 03:30", &s, &why), 0);
    CHECK_INT(s.daily_min, 210);
    CHECK_INT(s.every_s, -1);
    CHECK_INT(sq_schedule_parse("daily at 00:00", &s, &why), 0);
    CHECK_INT(s.daily_min, 0);
    CHECK_INT(sq_schedule_parse("daily at 23:59", &s, &why), 0);
    CHECK_INT(s.daily_min, 1439);
    const char *bad[] = {"",
                         "every",
                         "every 0 minutes",
                         "every -5 minutes",
                         "every 5 fortnights",
                         "every 5 minutes please",
                         "every five minutes",
                         "daily at 24:00",
                         "daily at 12:60",
                         "daily at 3:30",
                         "daily at 03:30 UTC",
                         "every 9000 hours",
                         "Every 5 minutes",
                         "every  5 minutes",
                         NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        why = NULL;
        CHECK_INT(sq_schedule_parse(bad[i], &s, &why), -1);
        CHECK(why != NULL);
    }
    CHECK_INT(sq_schedule_parse(NULL, &s, &why), -1);
}

static void run_a(sq_ctx_t *cx, const sq_job_row_t *j, sq_job_done_cb done, void *data)
{
    (void)cx, (void)j, (void)done, (void)data;
}
static void run_b(sq_ctx_t *cx, const sq_job_row_t *j, sq_job_done_cb done, void *data)
{
    (void)cx, (void)j, (void)done, (void)data;
}

static void test_table(void)
{
    sq_jobs_register_builtins(false);
    CHECK(sq_jobs_handler("abandoned_carts.scan") != NULL);
    CHECK(sq_jobs_handler("test.probe") == NULL);
    CHECK(sq_jobs_handler("payments.failure_monitor") != NULL);
    CHECK(sq_jobs_handler("maintenance.purge") != NULL);
    sq_jobs_register("x.a", run_a);
    CHECK(sq_jobs_handler("x.a") == run_a);
    sq_jobs_register("x.a", run_b); /* replaces */
    CHECK(sq_jobs_handler("x.a") == run_b);
    int n = 0;
    for (const char *const *k = sq_jobs_kinds(); *k != NULL; k++)
        n++;
    CHECK_INT(n, 4); /* abandoned_carts.scan, payments.failure_monitor, maintenance.purge, x.a */
    sq_jobs_register_builtins(true);
    CHECK(sq_jobs_handler("test.probe") != NULL);
}

int main(void)
{
    test_backoff();
    test_specs();
    test_table();
    return check_done("jobs");
}
