#!/usr/bin/env bash
# cart_plugin.sh: part of `make bench-plugins` (issue 5): the cart endpoint with a shipping plugin in the request path
# versus the built-in provider, in one run. wrk against the release build on a private, durable PostgreSQL reads
# GET /v1/store/carts/{id} of two carts of the same shape (3 lines, one on a volume tier, the same weight): cart
# "plugin" ships in region EU-DE with an option of the bundled shipping-weight-table plugin (its Lua
# shipping_rates runs on every read), cart "builtin" ships in region EU-AT with a flat_rate option (no plugin call).
# The same pair reads GET /v1/store/carts/{id}/shipping-options (each region has just its one option). Endpoints
# alternate over BENCH_ROUNDS rounds; medians are reported with the loss of the plugin path in %. Before the runs
# each cart's shipping_total must be its provider's price (777 from the plugin's band, 490 flat): otherwise the
# bench fails, so it never measures the built-in twice.
# Knobs: BENCH_DURATION (5s), BENCH_ROUNDS (7), BENCH_CONNECTIONS (64), BENCH_THREADS (2 wrk threads); BENCH_PERF=1
# profiles the server (perf) during one plugin-cart run instead and prints where the time goes.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-7}
conns=${BENCH_CONNECTIONS:-64}
wthreads=${BENCH_THREADS:-2}

. bench/lib.sh
export SOUQ_OWNER_EMAIL=bench-owner@example.com SOUQ_OWNER_PASSWORD=bench-owner-password-1 SOUQ_PLUGIN_DIRS=plugins
bench_db
seeded=$(bin/souq seed)
pk=$(awk '/publishable key/ {print $3}' <<<"$seeded")
channel=$(grep -o 'sc_[0-9a-z]\{26\}' <<<"$seeded" | head -1)
bench_serve

admin() { curl -sf -X "$1" "$base$2" -H "authorization: Bearer $staff" -H 'content-type: application/json' -d "$3"; }
store() { curl -sf -X "$1" "$base$2" -H "x-publishable-api-key: $pk" -H 'content-type: application/json' -d "$3"; }
staff=$(curl -sf -X POST "$base/v1/admin/auth/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$SOUQ_OWNER_EMAIL\",\"password\":\"$SOUQ_OWNER_PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
admin PATCH /v1/admin/plugins/shipping-weight-table \
    '{"config":{"zones":{"de":[{"max_g":1000,"amount":490},{"max_g":10000,"amount":777},{"amount":1890}]},"add_option_amount":false}}' >/dev/null
de=$(admin POST /v1/admin/regions '{"name":"EU-DE","currency_code":"eur","countries":["de"]}' | grep -o 'reg_[0-9a-z]\{26\}' | head -1)
at=$(admin POST /v1/admin/regions '{"name":"EU-AT","currency_code":"eur","countries":["at"]}' | grep -o 'reg_[0-9a-z]\{26\}' | head -1)
opt_plugin=$(admin POST /v1/admin/shipping-options "{\"name\":\"By weight\",\"region_id\":\"$de\",\"provider\":\"weight_table\",\"amount\":0}" |
    grep -o 'so_[0-9a-z]\{26\}' | head -1)
opt_flat=$(admin POST /v1/admin/shipping-options "{\"name\":\"Flat\",\"region_id\":\"$at\",\"provider\":\"flat_rate\",\"amount\":490}" |
    grep -o 'so_[0-9a-z]\{26\}' | head -1)
loc=$(admin POST /v1/admin/stock-locations '{"name":"Bench"}' | grep -o 'sloc_[0-9a-z]\{26\}' | head -1)
admin POST "/v1/admin/sales-channels/$channel/locations" "{\"location_id\":\"$loc\",\"priority\":0}" >/dev/null
variants=()
for i in 1 2 3; do
    v=$(admin POST /v1/admin/products "{\"title\":\"Bench $i\",\"status\":\"active\",\"variants\":[{\"sku\":\"BENCH-$i\",\"weight_g\":300,\"prices\":[{\"currency_code\":\"eur\",\"amount\":1000},{\"currency_code\":\"eur\",\"amount\":900,\"min_quantity\":10}],\"inventory\":[{\"location_id\":\"$loc\",\"quantity\":1000000}]}]}" |
        grep -o 'var_[0-9a-z]\{26\}' | head -1)
    variants+=("$v")
done
# a cart of 3 lines (1 + 12 + 2 units of 300 g: 4500 g) shipped to a country, with the option as its method
cart_to() {
    local c
    c=$(store POST /v1/store/carts "{\"email\":\"bench@example.com\",\"shipping_address\":{\"first_name\":\"B\",\"last_name\":\"B\",\"address_1\":\"Street 1\",\"city\":\"City\",\"postal_code\":\"10117\",\"country_code\":\"$1\"},\"items\":[{\"variant_id\":\"${variants[0]}\",\"quantity\":1},{\"variant_id\":\"${variants[1]}\",\"quantity\":12},{\"variant_id\":\"${variants[2]}\",\"quantity\":2}]}" |
        grep -o 'cart_[A-Za-z0-9_-]\{43\}' | head -1)
    store POST "/v1/store/carts/$c/shipping-methods" "{\"option_id\":\"$2\"}" >/dev/null
    echo "$c"
}
cart_plugin=$(cart_to de "$opt_plugin")
cart_builtin=$(cart_to at "$opt_flat")
check() { # cart, expected shipping_total, expected provider
    local body ship
    body=$(curl -sf "$base/v1/store/carts/$1" -H "x-publishable-api-key: $pk")
    ship=$(grep -o '"shipping_total":[0-9]*' <<<"$body" | head -1 | cut -d: -f2)
    if [ "$ship" != "$2" ] || ! grep -q "\"provider\":\"$3\"" <<<"$body"; then
        echo "bench: cart $1 should ship by $3 at $2, got shipping_total=$ship:" >&2
        echo "$body" >&2
        exit 1
    fi
}
check "$cart_plugin" 777 weight_table
check "$cart_builtin" 490 flat_rate
if [ -n "${BENCH_PERF:-}" ]; then # where the time goes: perf on the server during one run of each cart
    for side in plugin builtin; do
        c=cart_$side
        perf record -F 999 --call-graph dwarf,16384 -p "$server" -o "$work/perf.$side" -- sleep 3 >/dev/null 2>&1 &
        perfpid=$!
        wrk -t"$wthreads" -c"$conns" -d5s -H "x-publishable-api-key: $pk" "$base/v1/store/carts/${!c}" | awk '/Requests\/sec/'
        wait "$perfpid" || true
        echo "== cart_$side: samples by object"
        perf report -i "$work/perf.$side" --no-children --stdio --sort dso -g none 2>/dev/null | grep -v '^#' | sed '/^$/d' | head -12
        echo "== cart_$side: user-space symbols (self)"
        perf report -i "$work/perf.$side" --no-children --stdio --sort dso,symbol -g none --percent-limit 0.5 2>/dev/null |
            grep -v '^#' | grep -v '\[k\]' | sed '/^$/d' | head -30
        echo "== cart_$side: souq functions with what they call (children)"
        perf report -i "$work/perf.$side" --children --stdio --sort symbol -g none --percent-limit 2 2>/dev/null |
            grep -v '^#' | grep -v '\[k\]' | sed '/^$/d' | head -45
    done
    exit 0
fi
calls_before=$(curl -sf "$base/metrics" | awk '/^souq_plugin_calls_total\{plugin="shipping-weight-table"/ {print $2}')

echo "souq cart bench, shipping plugin vs built-in: $SOUQ_THREADS server threads, wrk -t$wthreads -c$conns -d$dur x $rounds rounds (medians), durable PostgreSQL"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
wrk -t1 -c4 -d2s -H "x-publishable-api-key: $pk" "$base/v1/store/carts/$cart_plugin" >/dev/null # warm-up (Lua states)
wrk -t1 -c4 -d2s -H "x-publishable-api-key: $pk" "$base/v1/store/carts/$cart_builtin" >/dev/null
names=(cart_builtin cart_plugin options_builtin options_plugin)
declare -A pair cpu
# the server's CPU time (user + system, all threads) in clock ticks
ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
secs=$(awk -v d="$dur" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; print n }')
# run, and the server's CPU microseconds per request of it: a cost the other tenants of a shared box do not change
# as much as they change req/s
timed() {
    local name=$1 t0 t1
    t0=$(ticks)
    run "$@"
    t1=$(ticks)
    cpu[$name]+="$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v r="$(awk '{ print $NF }' <<<"${rps[$name]}")" -v s="$secs" \
        'BEGIN { printf "%.0f", t * 1e6 / hz / (r * s) }') "
}
for r in $(seq "$rounds"); do
    # alternate which goes first, so a drift of the box's load does not favour one side
    if ((r % 2)); then order=(builtin plugin); else order=(plugin builtin); fi
    for side in "${order[@]}"; do
        c=cart_$side
        timed "cart_$side" -H "x-publishable-api-key: $pk" "$base/v1/store/carts/${!c}"
    done
    for side in "${order[@]}"; do
        c=cart_$side
        timed "options_$side" -H "x-publishable-api-key: $pk" "$base/v1/store/carts/${!c}/shipping-options"
    done
    # the loss of this round's back-to-back pair: the box's load drifts less within a pair than across the run
    for e in cart options; do
        b=$(awk '{ print $NF }' <<<"${rps[${e}_builtin]}") a=$(awk '{ print $NF }' <<<"${rps[${e}_plugin]}")
        pair[$e]+="$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", 100 * (b - a) / b }') "
    done
done
calls_after=$(curl -sf "$base/metrics" | awk '/^souq_plugin_calls_total\{plugin="shipping-weight-table"/ {print $2}')

printf '\n%-18s %12s %10s %10s %8s %12s   %s\n' endpoint req/s p50_ms p99_ms errors cpu_us/req "req/s of each round"
for name in "${names[@]}"; do
    printf '%-18s %12.0f %10s %10s %8s %12s   %s\n' "$name" "$(median <<<"${rps[$name]}")" "$(median <<<"${p50[$name]}")" \
        "$(median <<<"${p99[$name]}")" "$(tr ' ' '\n' <<<"${errs[$name]}" | awk '{ s += $1 } END { print s + 0 }')" \
        "$(median <<<"${cpu[$name]}")" "${rps[$name]}"
done
closs() { awk -v a="$(median <<<"${cpu[$1]}")" -v b="$(median <<<"${cpu[$2]}")" 'BEGIN { printf "%.1f%%", 100 * (1 - b / a) }'; }
loss() { awk -v a="$(median <<<"${rps[$1]}")" -v b="$(median <<<"${rps[$2]}")" 'BEGIN { printf "%.1f%%", 100 * (b - a) / b }'; }
echo
echo "throughput loss with the plugin (medians' ratio): cart $(loss cart_plugin cart_builtin), shipping-options $(loss options_plugin options_builtin) (target: under 10%)"
echo "throughput loss, median of the rounds' back-to-back pairs: cart $(median <<<"${pair[cart]}")%, shipping-options $(median <<<"${pair[options]}")% (rounds: cart ${pair[cart]}/ options ${pair[options]})"
echo "capacity loss by the server's CPU per request (1 - builtin/plugin): cart $(closs cart_plugin cart_builtin), shipping-options $(closs options_plugin options_builtin)"
echo "plugin calls during the runs: $(awk -v a="${calls_before:-0}" -v b="${calls_after:-0}" 'BEGIN { printf "%.0f", b - a }') (shipping_rates of the plugin carts)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cart_* = GET /v1/store/carts/{id}: 3 lines, shipping by the weight-table plugin (777) or flat_rate (490)"
echo "options_* = GET /v1/store/carts/{id}/shipping-options: the region's one option rated for the cart"
