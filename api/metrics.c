/* metrics.c: recording into per-thread arrays and the Prometheus text rendering (handlers/system.c). */
#include "api/metrics.h"

static const int statuses[SQ_METRICS_STATUSES] = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 406, 409,
                                                  412, 413, 414, 415, 422, 428, 429, 431, 499, 500, 503, 0};
/* bucket upper bounds in microseconds */
const int64_t sq_metrics_bounds[SQ_METRICS_BUCKETS] = {250,   500,    1000,   2500,   5000,    10000,   25000,
                                                       50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

int sq_metrics_status_at(int i)
{
    return statuses[i];
}

void sq_metrics_record(sq_metrics_t *m, int route_slot, int status, int64_t duration_us)
{
    if (route_slot < 0 || route_slot >= SQ_METRICS_ROUTES)
        route_slot = 0;
    int s = SQ_METRICS_STATUSES - 1; /* "other" */
    for (int i = 0; i < SQ_METRICS_STATUSES - 1; i++)
        if (statuses[i] == status) {
            s = i;
            break;
        }
    /* relaxed atomics: only this thread writes, the scraper reads concurrently */
    __atomic_add_fetch(&m->count[route_slot][s], 1, __ATOMIC_RELAXED);
    int b = SQ_METRICS_BUCKETS;
    for (int i = 0; i < SQ_METRICS_BUCKETS; i++)
        if (duration_us <= sq_metrics_bounds[i]) {
            b = i;
            break;
        }
    __atomic_add_fetch(&m->hist[route_slot][b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->sum_us[route_slot], (uint64_t)duration_us, __ATOMIC_RELAXED);
}
