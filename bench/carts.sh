#!/usr/bin/env bash
# carts.sh: `make bench-carts`. wrk against the release build on a private, durable PostgreSQL (fsync and
# synchronous_commit on): add-to-cart (POST /v1/store/carts with one line: each request a fresh cart, one
# committed transaction) and reading a priced 3-line cart, as ratios to /healthz in the same run. Endpoints
# alternate over BENCH_ROUNDS rounds; medians are reported (the 2-core box is noisy).
# Knobs: BENCH_DURATION (5s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64), BENCH_THREADS (2 wrk threads).
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
wthreads=${BENCH_THREADS:-2}

. bench/lib.sh
export SOUQ_OWNER_EMAIL=bench-owner@example.com SOUQ_OWNER_PASSWORD=bench-owner-password-1
bench_db
seeded=$(bin/souq seed)
pk=$(awk '/publishable key/ {print $3}' <<<"$seeded")
channel=$(grep -o 'sc_[0-9a-z]\{26\}' <<<"$seeded" | head -1)
bench_serve

# a region, a stock location of the channel and a stocked, priced product, through the admin API
admin() { curl -sf -X "$1" "$base$2" -H "authorization: Bearer $staff" -H 'content-type: application/json' -d "$3"; }
staff=$(curl -sf -X POST "$base/v1/admin/auth/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$SOUQ_OWNER_EMAIL\",\"password\":\"$SOUQ_OWNER_PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
admin POST /v1/admin/regions '{"name":"EU","currency_code":"eur","countries":["de"]}' >/dev/null
loc=$(admin POST /v1/admin/stock-locations '{"name":"Bench"}' | grep -o 'sloc_[0-9a-z]\{26\}' | head -1)
admin POST "/v1/admin/sales-channels/$channel/locations" "{\"location_id\":\"$loc\",\"priority\":0}" >/dev/null
variants=()
for i in 1 2 3; do
    v=$(admin POST /v1/admin/products "{\"title\":\"Bench $i\",\"status\":\"active\",\"variants\":[{\"sku\":\"BENCH-$i\",\"prices\":[{\"currency_code\":\"eur\",\"amount\":1000},{\"currency_code\":\"eur\",\"amount\":900,\"min_quantity\":10}],\"inventory\":[{\"location_id\":\"$loc\",\"quantity\":1000000}]}]}" |
        grep -o 'var_[0-9a-z]\{26\}' | head -1)
    variants+=("$v")
done
cart=$(curl -sf -X POST "$base/v1/store/carts" -H "x-publishable-api-key: $pk" -H 'content-type: application/json' \
    -d "{\"items\":[{\"variant_id\":\"${variants[0]}\",\"quantity\":1},{\"variant_id\":\"${variants[1]}\",\"quantity\":12},{\"variant_id\":\"${variants[2]}\",\"quantity\":2}]}" |
    grep -o 'cart_[A-Za-z0-9_-]\{43\}' | head -1)
cat >"$work/add.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"items":[{"variant_id":"${variants[0]}","quantity":1}]}'
wrk.headers["content-type"] = "application/json"
wrk.headers["x-publishable-api-key"] = "$pk"
EOF

echo "souq cart bench: $SOUQ_THREADS server threads, wrk -t$wthreads -c$conns -d$dur x $rounds rounds (medians), durable PostgreSQL"
wrk -t1 -c4 -d2s "$base/healthz" >/dev/null # warm-up
names=(healthz add_to_cart cart_get_3_lines)
pgcpu="" srvcpu=""
for _ in $(seq "$rounds"); do
    run healthz "$base/healthz"
    t0=$(pg_ticks) s0=$(awk '{print $14 + $15}' "/proc/$server/stat")
    run add_to_cart -s "$work/add.lua" "$base/v1/store/carts"
    t1=$(pg_ticks) s1=$(awk '{print $14 + $15}' "/proc/$server/stat") n=$(awk '{print $NF}' <<<"${reqs[add_to_cart]}")
    pgcpu+="$(awk -v t=$((t1 - t0)) -v n="$n" 'BEGIN { printf "%.4f", t * 10 / n }') "
    srvcpu+="$(awk -v t=$((s1 - s0)) -v n="$n" 'BEGIN { printf "%.4f", t * 10 / n }') "
    run cart_get_3_lines -H "x-publishable-api-key: $pk" "$base/v1/store/carts/$cart"
done

printf '\n%-20s %12s %10s %10s %10s   %s\n' endpoint req/s p50_ms p99_ms vs_healthz "req/s of each round"
h=$(median <<<"${rps[healthz]}")
for name in "${names[@]}"; do
    r=$(median <<<"${rps[$name]}")
    ratio=$(awk -v a="$r" -v b="$h" 'BEGIN { printf "%.1f%%", 100 * a / b }')
    printf '%-20s %12.0f %10s %10s %10s   %s\n' "$name" "$r" "$(median <<<"${p50[$name]}")" "$(median <<<"${p99[$name]}")" "$ratio" "${rps[$name]}"
done
echo
echo "add_to_cart = POST /v1/store/carts with one line (a fresh cart per request: stock check, one commit)"
echo "cart_get_3_lines = GET /v1/store/carts/{id}: 3 lines priced by the resolver (one on a volume tier)"
echo "carts created: $(bench_psql -Atc "SELECT count(*) FROM carts")"
echo "add_to_cart CPU per request: PostgreSQL $(median <<<"$pgcpu") ms ($pgcpu), server $(median <<<"$srvcpu") ms; load average $(cut -d' ' -f1-3 /proc/loadavg)"
