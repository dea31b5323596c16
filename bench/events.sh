#!/usr/bin/env bash
# events.sh: part of `make bench` (also `make bench-events`). Events dispatched end to end, outbox -> signed
# webhook POST -> loopback receiver (node, answering 200), against the release build on a private durable
# PostgreSQL:
#   backlog  BENCH_EVENTS (20000) events inserted at once; events/s from the insert until every delivery is
#            completed (fan-out, claim, HTTP, record: all of it)
#   steady   BENCH_EVENT_RATE (1000) events/s inserted in 100 ms slices for BENCH_EVENT_SECONDS (5 s); the lag from
#            an event's commit to its delivery's start, p50 / p99 / max
# One node (thread 0 dispatches, up to 128 deliveries in flight). Knobs above and BENCH_WEBHOOKS (1): endpoints
# subscribed to every event (each event is then that many deliveries).
set -euo pipefail
cd "$(dirname "$0")/.."
nevents=${BENCH_EVENTS:-20000}
rate=${BENCH_EVENT_RATE:-1000}
seconds=${BENCH_EVENT_SECONDS:-5}
nhooks=${BENCH_WEBHOOKS:-1}

. bench/lib.sh
export SOUQ_OWNER_EMAIL=bench-owner@example.com SOUQ_OWNER_PASSWORD=bench-owner-password-1
export SOUQ_OUTBOUND_ALLOW_CIDRS=127.0.0.1/32 SOUQ_ACCESS_LOG=off
bench_db
bin/souq seed >/dev/null
rport=$(scripts/free-port.sh)
node -e "require('http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200); s.end('ok'); }); }).listen($rport, '127.0.0.1')" &
receiver=$!
trap 'kill $receiver 2>/dev/null; bench_cleanup' EXIT
bench_serve
staff=$(curl -sf -X POST "$base/v1/admin/auth/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$SOUQ_OWNER_EMAIL\",\"password\":\"$SOUQ_OWNER_PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
for _ in $(seq "$nhooks"); do
    curl -sf -X POST "$base/v1/admin/webhooks" -H "authorization: Bearer $staff" -H 'content-type: application/json' \
        -d "{\"url\":\"http://127.0.0.1:$rport/hook\",\"event_types\":[\"bench.*\"]}" >/dev/null
done

wait_done() { # until every delivery of events of type $1 is completed
    local total=$(($2 * nhooks))
    for _ in $(seq 6000); do
        n=$(bench_psql -tAc "SELECT count(*) FROM event_deliveries d JOIN outbox_events e ON e.id = d.event_id WHERE e.type = '$1' AND d.state = 'completed'")
        [ "$n" -ge "$total" ] && return 0
        sleep 0.05
    done
    echo "events bench: deliveries did not complete" >&2
    exit 1
}

t0=$(date +%s.%N)
bench_psql -qc "INSERT INTO outbox_events (type, payload) SELECT 'bench.backlog', jsonb_build_object('n', n, 'pad', repeat('x', 200)) FROM generate_series(1, $nevents) n"
wait_done bench.backlog "$nevents"
t1=$(date +%s.%N)
backlog=$(awk -v n="$nevents" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')

slice=$((rate / 10))
for _ in $(seq $((seconds * 10))); do
    bench_psql -qc "INSERT INTO outbox_events (type, payload) SELECT 'bench.steady', jsonb_build_object('n', n) FROM generate_series(1, $slice) n" &
    sleep 0.1
done
wait_done bench.steady $((slice * seconds * 10))
lag=$(bench_psql -tAc "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' ||
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' || round(max(ms)::numeric, 1)
    FROM (SELECT extract(epoch FROM a.started_at - e.occurred_at) * 1000 AS ms FROM event_delivery_attempts a
          JOIN event_deliveries d ON d.id = a.delivery_id JOIN outbox_events e ON e.id = d.event_id
          WHERE e.type = 'bench.steady' AND a.attempt = 1) x")
read -r p50 p99 max <<<"$lag"
echo
echo "souq events bench: one node, $nhooks webhook(s) on loopback, durable PostgreSQL"
printf '%-34s %10s\n' "backlog of $nevents events" "$backlog events/s delivered"
printf '%-34s %10s\n' "steady $rate events/s for ${seconds}s" "lag p50 ${p50} ms, p99 ${p99} ms, max ${max} ms"
