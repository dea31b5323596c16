#!/usr/bin/env bash
# checkout.sh: part of `make bench` (also `make bench-checkout`). wrk against the release build on a private,
# durable PostgreSQL (fsync and synchronous_commit on):
#   add_to_cart  POST /v1/store/carts with one line (each request a fresh cart)
#   checkout     POST /v1/store/carts/{id}/complete with the test card (each request a fresh, ready cart and a
#                fresh Idempotency-Key): price, reserve, authorize, place the order, one durable commit
# as ratios to /healthz in the same run, and checkout orders/s against what pgbench (its default TPC-B-like
# script, 8 clients) commits per second on the same cluster: at pgbench's default scale (1, the issue's baseline) and,
# a stricter bar, at scale 10 (ten branch rows: less waiting between its clients). Medians of BENCH_ROUNDS rounds. Then one more
# checkout run with a webhook subscribed to order.placed: the events' lag from commit to delivery under that load.
# Knobs: BENCH_DURATION (5s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64), BENCH_CHECKOUT_CONNECTIONS (48: the buyers of
# the checkout rounds, an operating point inside the p99 target; README "Speed" has the curve), BENCH_THREADS (2 wrk threads),
# BENCH_CARTS (ready carts made beforehand; default 60000).
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
co_conns=${BENCH_CHECKOUT_CONNECTIONS:-48}
wthreads=${BENCH_THREADS:-2}
ncarts=${BENCH_CARTS:-120000}

. bench/lib.sh
export SOUQ_OWNER_EMAIL=bench-owner@example.com SOUQ_OWNER_PASSWORD=bench-owner-password-1
export SOUQ_OUTBOUND_ALLOW_CIDRS=127.0.0.1/32 # the webhook receiver of the last run is on loopback
bench_db
[ -n "${BENCH_SQL:-}" ] && bench_psql -qc "$BENCH_SQL" # an experiment: e.g. BENCH_SQL='ALTER TABLE ...'
seeded=$(bin/souq seed)
pk=$(awk '/publishable key/ {print $3}' <<<"$seeded")
channel=$(grep -o 'sc_[0-9a-z]\{26\}' <<<"$seeded" | head -1)
bench_serve

admin() { curl -sf -X "$1" "$base$2" -H "authorization: Bearer $staff" -H 'content-type: application/json' -d "$3"; }
staff=$(curl -sf -X POST "$base/v1/admin/auth/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$SOUQ_OWNER_EMAIL\",\"password\":\"$SOUQ_OWNER_PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
region=$(admin POST /v1/admin/regions '{"name":"EU","currency_code":"eur","countries":["de"]}' | grep -o 'reg_[0-9a-z]\{26\}' | head -1)
option=$(admin POST /v1/admin/shipping-options "{\"name\":\"Standard\",\"region_id\":\"$region\",\"provider\":\"flat_rate\",\"amount\":490}" | grep -o 'so_[0-9a-z]\{26\}' | head -1)
admin POST /v1/admin/tax-rates "{\"region_id\":\"$region\",\"rate_bp\":1900,\"name\":\"VAT\",\"code\":\"VAT19\"}" >/dev/null
loc=$(admin POST /v1/admin/stock-locations '{"name":"Bench"}' | grep -o 'sloc_[0-9a-z]\{26\}' | head -1)
admin POST "/v1/admin/sales-channels/$channel/locations" "{\"location_id\":\"$loc\",\"priority\":0}" >/dev/null
# a catalog of BENCH_SKUS products (default 50): each cart buys one of them, as shoppers spread over a catalog
# (BENCH_SKUS=1 is a flash sale of one SKU: every checkout then queues on one stock row)
skus=${BENCH_SKUS:-50}
variants=()
for i in $(seq "$skus"); do
    variants+=("$(admin POST /v1/admin/products "{\"title\":\"Bench $i\",\"status\":\"active\",\"variants\":[{\"sku\":\"BENCH-$i\",\"prices\":[{\"currency_code\":\"eur\",\"amount\":1000}],\"inventory\":[{\"location_id\":\"$loc\",\"quantity\":100000000}]}]}" |
        grep -o 'var_[0-9a-z]\{26\}' | head -1)")
done
variant=${variants[0]}
varray=$(printf "'%s'," "${variants[@]}")

# ready carts (one line, email, shipping address and method; 19% VAT), made in SQL: the bench measures checkout, not cart building
bench_psql -qAt >"$work/carts.txt" <<SQL
CREATE TEMP TABLE ids AS SELECT 'cart_' || substr(md5(random()::text) || md5(random()::text), 1, 43) AS id, g FROM generate_series(1, $ncarts) g;
INSERT INTO carts (id, sales_channel_id, email, currency_code, shipping_address)
SELECT id, '$channel', 'buyer@example.com', 'eur',
       '{"first_name":"B","last_name":"B","address_1":"Street 1","city":"Berlin","postal_code":"10117","country_code":"de"}' FROM ids;
INSERT INTO cart_line_items (cart_id, variant_id, quantity) SELECT id, (ARRAY[${varray%,}])[g % $skus + 1], 1 FROM ids;
INSERT INTO cart_shipping_methods (cart_id, shipping_option_id) SELECT id, '$option' FROM ids;
ANALYZE carts, cart_line_items, cart_shipping_methods; -- as after any bulk load (autovacuum would, a minute later)
SELECT id FROM ids;
SQL
cat >"$work/add.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"items":[{"variant_id":"$variant","quantity":1}]}'
wrk.headers["content-type"] = "application/json"
wrk.headers["x-publishable-api-key"] = "$pk"
EOF
# each wrk thread walks its own slice of the cart list; every request a new cart and a new key
cat >"$work/checkout.lua" <<EOF
local carts, n = {}, 0
for line in io.lines("$work/carts.txt") do n = n + 1; carts[n] = line end
local counter = 0
function setup(thread) counter = counter + 1; thread:set("tid", counter) end
local i, step, offset
function init(args) tid = tonumber(tid) or 1; i = 0; step = $wthreads; offset = tonumber(os.getenv("BENCH_OFFSET") or "0") end
local body = '{"payment":{"provider":"test","data":{"token":"tok_visa"}}}'
function request()
  local k = offset + tid + i * step
  i = i + 1
  local id = carts[(k - 1) % n + 1]
  return wrk.format("POST", "/v1/store/carts/" .. id .. "/complete",
    {["content-type"] = "application/json", ["x-publishable-api-key"] = "$pk", ["idempotency-key"] = id .. "-" .. k}, body)
end
EOF

# the same cluster's own write rate: pgbench's TPC-B-like script, 8 clients. First, so that both it and the
# rounds below run on a cluster that has created its WAL segments (a fresh cluster zero-fills each new 16 MB
# segment: the first gigabyte of WAL is written at a fraction of the later speed). Two threads (-j 2) for its 8
# clients: one pgbench thread is itself a bottleneck on this box (about 2,750 tps at scale 1 against 3,370). The
# baseline is the median of three runs, as the rounds' figures are medians (one run moves by 10-20% on this box).
pgb=$(scripts/pg.sh bin)/pgbench
pgbench_runs() { # SCALE RUNS: tps of each run, on tables initialised at SCALE
    "$pgb" -h "$work/pg/sock" -p "$pgport" -U souq -i -s "$1" -q souq >/dev/null 2>&1
    for _ in $(seq "$2"); do
        "$pgb" -h "$work/pg/sock" -p "$pgport" -U souq -c 8 -j 2 -T 10 souq 2>/dev/null | awk '/^tps/ {printf "%.0f ", $3; exit}'
    done
}
tps10_runs=$(pgbench_runs 10 1)
tps_runs=$(pgbench_runs 1 3) # pgbench's default scale, as the issue's baseline
tps10=$(median <<<"$tps10_runs")
tps=$(median <<<"$tps_runs")
echo "souq checkout bench: $SOUQ_THREADS server threads, $skus SKUs, wrk -t$wthreads -c$conns (checkout -c$co_conns) -d$dur x $rounds rounds (medians), durable PostgreSQL"
wrk -t1 -c4 -d2s "$base/healthz" >/dev/null # warm-up
# checkout warm-up (its orders count too): plans cached on every connection, WAL segments created
# every wrk run walks its own slice of the carts (BENCH_OFFSET), so no request finds its cart already an order
per_run=$((ncarts / (rounds + 2))) # the warm-up, the rounds and the webhook run each take a slice
BENCH_OFFSET=0 wrk -t"$wthreads" -c"$conns" -d10s -s "$work/checkout.lua" "$base/v1/store/carts" >/dev/null
# statistics of the tables the warm-up filled from nothing, as autovacuum takes them within a minute in a live shop
# (its ANALYZE also makes every session plan again): plans cached while orders, payments and reservations had a few
# hundred rows scan them (or a whole index) and cost twice as much within a minute of a fresh cluster
bench_psql -qc "ANALYZE"
names=(healthz add_to_cart checkout)
declare -A placed_rate
for r in $(seq "$rounds"); do
    run healthz "$base/healthz"
    run add_to_cart -s "$work/add.lua" "$base/v1/store/carts"
    before=$(bench_psql -Atc "SELECT count(*) FROM orders")
    t0=$(date +%s.%N)
    BENCH_OFFSET=$((r * per_run)) conns=$co_conns run checkout -s "$work/checkout.lua" "$base/v1/store/carts"
    t1=$(date +%s.%N)
    after=$(bench_psql -Atc "SELECT count(*) FROM orders")
    placed_rate[checkout]+="$(awk -v a="$after" -v b="$before" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.0f", (a - b) / (y - x) }') "
done
# events under checkout load: a merchant's webhook on order.placed (a loopback receiver answering 200), one more
# checkout run, then the lag from each order.placed commit to the start of its delivery
rport=$(scripts/free-port.sh)
node -e "require('http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200); s.end('ok'); }); }).listen($rport, '127.0.0.1')" &
receiver=$!
trap 'kill $receiver 2>/dev/null; bench_cleanup' EXIT
# first the rounds' own events (no subscriber: fanned out to nothing) leave the outbox, so the run measures its events'
# lag, not a backlog's (the dispatcher takes events in order)
for _ in $(seq 1200); do
    [ "$(bench_psql -Atc "SELECT count(*) FROM outbox_events WHERE state IN ('available', 'retryable')")" = 0 ] && break
    sleep 0.05
done
admin POST /v1/admin/webhooks "{\"url\":\"http://127.0.0.1:$rport/hook\",\"event_types\":[\"order.placed\"]}" >/dev/null
since=$(bench_psql -Atc "SELECT now()")
# BENCH_WEBHOOK_CONNECTIONS (16) buyers at once: a busy shop rather than the saturating rounds above, where the loop
# threads, PostgreSQL, wrk and the receiver all queue for the two cores and deliveries wait behind requests
wh_conns=${BENCH_WEBHOOK_CONNECTIONS:-16}
BENCH_OFFSET=$(((rounds + 1) * per_run)) conns=$wh_conns run checkout_webhook -s "$work/checkout.lua" "$base/v1/store/carts"
run_events="FROM outbox_events e JOIN event_deliveries d ON d.event_id = e.id"
run_where="WHERE e.type = 'order.placed' AND d.target_kind = 'webhook' AND e.occurred_at >= '$since'"
for _ in $(seq 1200); do # until every delivery of the run is done (at most a minute)
    [ "$(bench_psql -Atc "SELECT count(*) FILTER (WHERE d.state <> 'completed') $run_events $run_where")" = 0 ] && break
    sleep 0.05
done
read -r wh_events wh_p50 wh_p99 wh_max <<<"$(bench_psql -Atc "SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(max(ms)::numeric, 1)
    FROM (SELECT extract(epoch FROM a.started_at - e.occurred_at) * 1000 AS ms $run_events
          JOIN event_delivery_attempts a ON a.delivery_id = d.id AND a.attempt = 1 $run_where) x" | tr '|' ' ')"

placed=$(bench_psql -Atc "SELECT count(*) FROM orders")
if [ -n "${BENCH_PROFILE:-}" ]; then # SOUQ_PG_OPTS="-c shared_preload_libraries=pg_stat_statements" BENCH_PROFILE=1
    bench_psql -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
    bench_psql -c "SELECT calls, round(mean_exec_time::numeric, 3) AS mean_ms, round(total_exec_time::numeric) AS total_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT ${BENCH_PROFILE_ROWS:-15}"
fi

printf '\n%-20s %12s %10s %10s %10s   %s\n' endpoint req/s p50_ms p99_ms vs_healthz "req/s of each round"
h=$(median <<<"${rps[healthz]}")
for name in "${names[@]}"; do
    r=$(median <<<"${rps[$name]}")
    ratio=$(awk -v a="$r" -v b="$h" 'BEGIN { printf "%.1f%%", 100 * a / b }')
    printf '%-20s %12.0f %10s %10s %10s   %s\n' "$name" "$r" "$(median <<<"${p50[$name]}")" "$(median <<<"${p99[$name]}")" "$ratio" "${rps[$name]}"
done
c=$(median <<<"${rps[checkout]}")
echo
printf 'pgbench (TPC-B-like, 8 clients, default scale 1) on the same cluster: %.0f tps (median of 10 s runs: %s); checkout orders/s = %.1f%% of it (target >= 50%%)\n' \
    "$tps" "$tps_runs" "$(awk -v a="$c" -v b="$tps" 'BEGIN { print 100 * a / b }')"
printf 'the stricter bar, pgbench at scale 10: %.0f tps; checkout orders/s = %.1f%% of it\n' "$tps10" \
    "$(awk -v a="$c" -v b="$tps10" 'BEGIN { print 100 * a / b }')"
echo "orders placed: $placed; new orders per second of each round (count of orders / wall time, wrk start to end): ${placed_rate[checkout]}"
echo "socket errors per round: checkout ${errs[checkout]}"
printf 'checkout (%s connections) with a webhook on order.placed: %.0f req/s; %s order.placed events delivered, lag from commit to delivery p50 %s ms, p99 %s ms, max %s ms\n' \
    "$wh_conns" "$(median <<<"${rps[checkout_webhook]}")" "$wh_events" "$wh_p50" "$wh_p99" "$wh_max"
