#!/usr/bin/env bash
# run.sh: `make bench`. wrk against the release build on a private, durable PostgreSQL (fsync and
# synchronous_commit on), reporting req/s, p50 and p99 of each endpoint and its ratio to /healthz in the
# same run. Endpoints alternate over BENCH_ROUNDS rounds and the median of each is reported, because a
# 2-core box shared by wrk, the server and PostgreSQL is noisy (single runs vary by +-10%).
# Knobs: BENCH_DURATION (5s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64), BENCH_THREADS (2 wrk threads).
# Storefront scenarios (product by handle, a list of 20 with variants and prices, a deep cursor page of it, search)
# run at BENCH_STORE_CONNECTIONS (16) against the demo catalog (200 products), or against a generated catalog of
# SOUQ_BENCH_PRODUCTS products (souq seed --bench N; 100000 takes a minute or two to build); /healthz runs at the
# same concurrency for the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
wthreads=${BENCH_THREADS:-2}
sconns=${BENCH_STORE_CONNECTIONS:-16}
products=${SOUQ_BENCH_PRODUCTS:-}

. bench/lib.sh
bench_db
if [ -n "$products" ]; then
    echo "seeding a bench catalog of $products products..."
    seeded=$(bin/souq seed --bench "$products")
else
    seeded=$(bin/souq seed --demo)
fi
grep catalog <<<"$seeded"
pk=$(awk '/publishable key/ {print $3}' <<<"$seeded")
bench_psql -qc "VACUUM ANALYZE" >/dev/null
bench_serve

curl -sf -X POST "$base/v1/store/customers" -H "x-publishable-api-key: $pk" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password-1","first_name":"Bench"}' >/dev/null
token=$(curl -sf -X POST "$base/v1/store/auth/token" -H "x-publishable-api-key: $pk" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password-1"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

# the storefront scenarios: a handle from the middle of the catalog, reached by walking cursor pages of 100 to
# about half way (at most 500 pages); the page after it is the deep page
total=$(bench_psql -tAc "SELECT count(*) FROM products")
sh=(-H "x-publishable-api-key: $pk")
cursor=""
depth=0
while [ "$depth" -lt $((total / 2)) ] && [ "$depth" -lt 50000 ]; do
    page=$(curl -sf "${sh[@]}" "$base/v1/store/products?limit=100&fields=handle${cursor:+&cursor=$cursor}")
    cursor=$(grep -oE '"next_cursor":"[^"]+"' <<<"$page" | cut -d'"' -f4)
    depth=$((depth + 100))
    [ -n "$cursor" ] || break
done
handle=$(grep -oE '"handle" ?: ?"[^"]+"' <<<"$page" | tail -1 | sed -E 's/.*"([^"]+)"$/\1/')
list="$base/v1/store/products?limit=20&expand=variants,prices"
deep="$list&cursor=$cursor"
for u in "$base/v1/store/products/$handle?expand=variants,prices" "$list" "$deep" "$base/v1/store/products?q=jacket&limit=20"; do
    curl -sf "${sh[@]}" "$u" | grep -q '"id"' || { echo "bench: no product from $u" >&2; exit 1; }
done


echo "souq bench: $SOUQ_THREADS server threads, wrk -t$wthreads -c$conns -d$dur x $rounds rounds (medians), durable PostgreSQL $(scripts/pg.sh bin | grep -o '[0-9]*/bin' | cut -d/ -f1)"
wrk -t1 -c4 -d2s "$base/healthz" >/dev/null   # warm-up
names=(healthz customers_me "healthz_c$sconns" product_by_handle product_list_20 product_list_deep product_search)
for _ in $(seq "$rounds"); do
    run healthz "$base/healthz"
    run customers_me -H "x-publishable-api-key: $pk" -H "authorization: Bearer $token" "$base/v1/store/customers/me"
    conns_save=$conns
    conns=$sconns
    run "healthz_c$sconns" "$base/healthz"
    run product_by_handle "${sh[@]}" "$base/v1/store/products/$handle?expand=variants,prices"
    run product_list_20 "${sh[@]}" "$list"
    run product_list_deep "${sh[@]}" "$deep"
    run product_search "${sh[@]}" "$base/v1/store/products?q=jacket&limit=20"
    conns=$conns_save
done

printf '\n%-28s %12s %10s %10s %10s %8s   %s\n' endpoint req/s p50_ms p99_ms vs_healthz errors "req/s of each round"
for name in "${names[@]}"; do
    h=$(median <<<"${rps[healthz]}")
    case $name in healthz_c* | product_*) h=$(median <<<"${rps[healthz_c$sconns]}") ;; esac
    r=$(median <<<"${rps[$name]}")
    ratio=$(awk -v a="$r" -v b="$h" 'BEGIN { printf "%.1f%%", 100 * a / b }')
    e=$(tr ' ' '\n' <<<"${errs[$name]}" | awk '{ n += $1 } END { print n + 0 }')
    printf '%-28s %12.0f %10s %10s %10s %8s   %s\n' "$name" "$r" "$(median <<<"${p50[$name]}")" "$(median <<<"${p99[$name]}")" "$ratio" "$e" "${rps[$name]}"
done
echo
echo "customers_me = GET /v1/store/customers/me: publishable key + customer JWT (HS256) + one pipelined query"
echo "catalog: $total products; healthz and customers_me at $conns connections, healthz_c$sconns and product_* at $sconns (ratios to healthz_c$sconns)"
echo "product_by_handle = GET /v1/store/products/$handle?expand=variants,prices"
echo "product_list_20   = GET /v1/store/products?limit=20&expand=variants,prices (newest first)"
echo "product_list_deep = the same list, the page after product $depth (cursor)"
echo "product_search    = GET /v1/store/products?q=jacket&limit=20 (relevance)"
echo "errors = socket errors and timeouts (wrk gives up on a request after 2 s): a non-zero count means p50/p99 miss them"
