/* metrics.h: per-thread counters summed at scrape time into Prometheus text. No locks on the hot path. */
#ifndef SQ_METRICS_H
#define SQ_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define SQ_METRICS_ROUTES 256 /* route index + 1; slot 0 is "unmatched" */
#define SQ_METRICS_STATUSES 24
#define SQ_METRICS_BUCKETS 14

typedef struct {
    uint64_t count[SQ_METRICS_ROUTES][SQ_METRICS_STATUSES];
    uint64_t hist[SQ_METRICS_ROUTES][SQ_METRICS_BUCKETS + 1]; /* cumulative buckets counted at render */
    uint64_t sum_us[SQ_METRICS_ROUTES];
} sq_metrics_t;

/** Upper bounds of the latency buckets, in microseconds. */
extern const int64_t sq_metrics_bounds[SQ_METRICS_BUCKETS];
/** The status code counted in slot i (0 = "other"). */
int sq_metrics_status_at(int i);

/** Records one finished request (route_slot = route index + 1, or 0). */
void sq_metrics_record(sq_metrics_t *m, int route_slot, int status, int64_t duration_us);

#endif
