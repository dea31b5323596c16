#!/usr/bin/env bash
# run.sh: `make bench`. wrk against the release build on a private, durable PostgreSQL (fsync and
# synchronous_commit on), reporting req/s, p50 and p99 of each endpoint and its ratio to /healthz in the
# same run. Endpoints alternate over BENCH_ROUNDS rounds and the median of each is reported, because a
# 2-core box shared by wrk, the server and PostgreSQL is noisy (single runs vary by +-10%).
# Knobs: BENCH_DURATION (5s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64), BENCH_THREADS (2 wrk threads).
# The catalog endpoints run on the demo catalog (`souq seed --demo`, about 200 products); with
# BENCH_PRODUCTS=N (100000 for the issue's figure) on a bench catalog of N products (`souq seed --bench N`),
# and then also at 16 connections with a deep cursor page (BENCH_DEEP_PAGES pages of 20 in, default 200).
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${BENCH_DURATION:-5s}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
wthreads=${BENCH_THREADS:-2}

work=$(mktemp -d)
chmod 755 "$work"
pgport=$(scripts/free-port.sh)
port=$(scripts/free-port.sh)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    scripts/pg.sh stop "$work/pg" || true
    rm -rf "$work"
}
trap cleanup EXIT

scripts/pg.sh start "$work/pg" "$pgport"   # durable: the defaults, fsync and synchronous_commit on
psql -h "$work/pg/sock" -p "$pgport" -U souq -d postgres -qc "CREATE DATABASE souq" >/dev/null
export SOUQ_DATABASE_URL="postgresql://souq@/souq?host=$work/pg/sock&port=$pgport"
export SOUQ_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SOUQ_LISTEN="127.0.0.1:$port" SOUQ_THREADS=${SOUQ_THREADS:-2}
bin/souq migrate >/dev/null
pk=$(bin/souq seed | awk '/publishable key/ {print $3}')
products=${BENCH_PRODUCTS:-}
if [ -n "$products" ]; then
    echo "seeding a bench catalog of $products products..."
    bin/souq seed --bench "$products" >/dev/null
else
    bin/souq seed --demo >/dev/null
fi
psql -h "$work/pg/sock" -p "$pgport" -U souq -d souq -qc "VACUUM ANALYZE" >/dev/null
bin/souq serve 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done

base="http://127.0.0.1:$port"
curl -sf -X POST "$base/v1/store/customers" -H "x-publishable-api-key: $pk" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password-1","first_name":"Bench"}' >/dev/null
token=$(curl -sf -X POST "$base/v1/store/auth/token" -H "x-publishable-api-key: $pk" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password-1"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

# catalog requests: a product handle, a search word from its title, the first page and a deep page of 20
store() { curl -sf -H "x-publishable-api-key: $pk" "$base$1"; }
first=$(store "/v1/store/products?limit=1&sort=title")
handle=$(sed -E 's/.*"handle":"([^"]+)".*/\1/' <<<"$first")
word=$(sed -E 's/.*"title":"([A-Za-z]+).*/\1/' <<<"$first")
list="/v1/store/products?limit=20&expand=variants,prices"
search="/v1/store/products?limit=20&q=$word"
deep=""
if [ -n "$products" ]; then
    cursor=""
    for _ in $(seq "${BENCH_DEEP_PAGES:-200}"); do
        cursor=$(store "$list${cursor:+&cursor=$cursor}" | sed -E 's/.*"next_cursor":"([^"]*)".*/\1/')
    done
    deep="$list&cursor=$cursor"
fi

# wrk prints latency with units (us, ms, s); normalise to milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

declare -A rps p50 p99
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run() {
    local name=$1
    shift
    local out
    out=$(wrk -t"$wthreads" -c"$conns" -d"$dur" --latency "$@")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "bench: $name had non-2xx answers:" >&2
        echo "$out" >&2
        exit 1
    fi
    rps[$name]+="$(awk '/Requests\/sec/ {print $2}' <<<"$out") "
    p50[$name]+="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")") "
    p99[$name]+="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")") "
}

echo "souq bench: $SOUQ_THREADS server threads, wrk -t$wthreads -c$conns -d$dur x $rounds rounds (medians), durable PostgreSQL $(scripts/pg.sh bin | grep -o '[0-9]*/bin' | cut -d/ -f1)"
wrk -t1 -c4 -d2s "$base/healthz" >/dev/null   # warm-up
names=(healthz customers_me product_by_handle product_list_20 product_search)
[ -n "$deep" ] && names+=(list_c16 search_c16 list_deep_page_c16)
for _ in $(seq "$rounds"); do
    run healthz "$base/healthz"
    run customers_me -H "x-publishable-api-key: $pk" -H "authorization: Bearer $token" "$base/v1/store/customers/me"
    run product_by_handle -H "x-publishable-api-key: $pk" "$base/v1/store/products/$handle"
    run product_list_20 -H "x-publishable-api-key: $pk" "$base$list"
    run product_search -H "x-publishable-api-key: $pk" "$base$search"
    if [ -n "$deep" ]; then
        conns_saved=$conns
        conns=16
        run list_c16 -H "x-publishable-api-key: $pk" "$base$list"
        run search_c16 -H "x-publishable-api-key: $pk" "$base$search"
        run list_deep_page_c16 -H "x-publishable-api-key: $pk" "$base$deep"
        conns=$conns_saved
    fi
done

printf '\n%-28s %12s %10s %10s %10s   %s\n' endpoint req/s p50_ms p99_ms vs_healthz "req/s of each round"
h=$(median <<<"${rps[healthz]}")
for name in "${names[@]}"; do
    r=$(median <<<"${rps[$name]}")
    ratio=$(awk -v a="$r" -v b="$h" 'BEGIN { printf "%.1f%%", 100 * a / b }')
    printf '%-28s %12.0f %10s %10s %10s   %s\n' "$name" "$r" "$(median <<<"${p50[$name]}")" "$(median <<<"${p99[$name]}")" "$ratio" "${rps[$name]}"
done
echo
echo "customers_me = GET /v1/store/customers/me: publishable key + customer JWT (HS256) + one pipelined query"
echo "catalog: $(psql -h "$work/pg/sock" -p "$pgport" -U souq -d souq -Atc "SELECT count(*) || ' products, ' || (SELECT count(*) FROM product_variants) || ' variants' FROM products")"
echo "product_by_handle = GET /v1/store/products/$handle; product_list_20 = GET $list"
echo "product_search = GET $search${deep:+; *_c16 at 16 connections; list_deep_page_c16 = page ${BENCH_DEEP_PAGES:-200} of the list}"
