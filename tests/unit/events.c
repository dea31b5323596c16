/* Unit tests of core/events.c: the retry schedule, what an answer means, the signature header, input rules. */
#include <stdlib.h>

#include "core/base/crypto.h"
#include "core/events.h"
#include "tests/unit/check.h"

static void test_schedule(void)
{
    const int64_t minutes[] = {1, 5, 30, 120, 360, 720, 1440, 1440, 1440};
    int64_t total = 0;
    for (int i = 0; i < 9; i++) {
        int64_t base = minutes[i] * 60000;
        int64_t lo = sq_webhook_retry_delay_ms(i + 1, 60000, 0), hi = sq_webhook_retry_delay_ms(i + 1, 60000, UINT32_MAX);
        CHECK(lo >= base - base / 10 && lo <= base + base / 10);
        CHECK(hi >= base - base / 10 && hi <= base + base / 10);
        if (i < 8)
            total += base;
    }
    /* 8 retries over about three days */
    CHECK(total >= 65 * 3600000LL && total <= 72 * 3600000LL);
    /* jitter spreads */
    CHECK(sq_webhook_retry_delay_ms(1, 60000, 0) != sq_webhook_retry_delay_ms(1, 60000, 6000));
    /* shortened for tests: the same shape */
    CHECK(sq_webhook_retry_delay_ms(2, 10, 0) >= 45 && sq_webhook_retry_delay_ms(2, 10, 0) <= 55);
    CHECK(sq_webhook_retry_delay_ms(1, 1, 0) >= 1);
}

static void test_outcome(void)
{
    sq_http_response_t r = {0};
    const struct {
        int status;
        sq_delivery_outcome_t o;
    } cases[] = {{200, SQ_DELIVERY_OK},   {204, SQ_DELIVERY_OK},    {299, SQ_DELIVERY_OK},    {301, SQ_DELIVERY_FAIL},
                 {400, SQ_DELIVERY_FAIL}, {401, SQ_DELIVERY_FAIL},  {404, SQ_DELIVERY_FAIL},  {408, SQ_DELIVERY_RETRY},
                 {410, SQ_DELIVERY_FAIL}, {429, SQ_DELIVERY_RETRY}, {500, SQ_DELIVERY_RETRY}, {503, SQ_DELIVERY_RETRY}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r.status = cases[i].status;
        CHECK_INT(sq_webhook_outcome(&r), cases[i].o);
    }
    r.status = 0;
    r.error = SQ_HTTP_E_TIMEOUT;
    CHECK_INT(sq_webhook_outcome(&r), SQ_DELIVERY_RETRY);
    r.error = SQ_HTTP_E_REFUSED;
    CHECK_INT(sq_webhook_outcome(&r), SQ_DELIVERY_RETRY);
    r.error = SQ_HTTP_E_TOO_LARGE;
    CHECK_INT(sq_webhook_outcome(&r), SQ_DELIVERY_RETRY);
    r.error = SQ_HTTP_E_SSRF_BLOCKED;
    CHECK_INT(sq_webhook_outcome(&r), SQ_DELIVERY_FAIL);
    CHECK_STR(sq_delivery_outcome_name(SQ_DELIVERY_RETRY), "retry");
}

static void test_signature(sq_arena_t *a)
{
    const char *body = "{\"id\":\"evt_1\"}";
    char *h = sq_webhook_signature(a, 1700000000, body, strlen(body), "whsec_a", NULL);
    /* the reference: HMAC-SHA256("whsec_a", "1700000000.{...}") */
    const char *signed_payload = "1700000000.{\"id\":\"evt_1\"}";
    unsigned char mac[32];
    char hex[65];
    sq_hmac_sha256("whsec_a", 7, signed_payload, strlen(signed_payload), mac);
    sq_hex(mac, 32, hex);
    CHECK_STR(h, sq_arena_printf(a, "t=1700000000,v1=%s", hex));
    char *h2 = sq_webhook_signature(a, 1700000000, body, strlen(body), "whsec_b", "whsec_a");
    CHECK_CONTAINS(h2, sq_arena_printf(a, ",v1=%s", hex));
    CHECK(strncmp(h2, "t=1700000000,v1=", 16) == 0);
    CHECK(strstr(h2 + 16, hex) != h2 + 16); /* the current secret's signature comes first */
    char *s = sq_webhook_secret_new(a);
    CHECK(strncmp(s, "whsec_", 6) == 0 && strlen(s) == 6 + 43);
}

extern const sq_field_t sq_webhook_create_fields[];

static int validate(sq_arena_t *a, const char *json, sq_err_t *err)
{
    sq_err_clear(err);
    json_t *b = sq_json_parse(a, json, strlen(json), err);
    return b == NULL ? -1 : sq_resource_validate(a, &sq_res_webhook, b, true, err);
}

static void test_rules(sq_arena_t *a)
{
    sq_err_t err;
    CHECK_INT(validate(a, "{\"url\":\"https://hooks.example.com/x\",\"event_types\":[\"order.placed\",\"order.*\",\"*\"]}", &err),
              0);
    CHECK_INT(validate(a, "{\"url\":\"ftp://example.com/\",\"event_types\":[\"*\"]}", &err), -1);
    CHECK_STR(err.fields[0].pointer, "/url");
    CHECK_INT(validate(a, "{\"url\":\"https://x.example\",\"event_types\":[]}", &err), -1);
    CHECK_STR(err.fields[0].pointer, "/event_types");
    CHECK_INT(validate(a, "{\"url\":\"https://x.example\",\"event_types\":[\"Order.Placed\"]}", &err), -1);
    CHECK_STR(err.fields[0].pointer, "/event_types/0");
    CHECK_INT(validate(a, "{\"url\":\"https://x.example\",\"event_types\":[\"order..x\"]}", &err), -1);
    CHECK_INT(validate(a, "{\"url\":\"https://x.example\",\"event_types\":[\"*\"],\"secret\":\"mine\"}", &err), -1);
    CHECK_INT(err.code, SQ_E_UNKNOWN_FIELD);
}

int main(void)
{
    sq_arena_t *a = sq_arena_new();
    test_schedule();
    test_outcome();
    test_signature(a);
    test_rules(a);
    sq_arena_unref(a);
    return check_done("events");
}
