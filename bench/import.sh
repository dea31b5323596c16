#!/usr/bin/env bash
# import.sh: throughput of bulk imports (rows/s) for a 10k-row CSV (BENCH_PRODUCTS products x 4 variants, prices
# in two currencies, stock at one location) on a private, durable PostgreSQL (fsync and synchronous_commit on):
#   1. `souq import` of new products, 2. the same file again (nothing changes), 3. through the server
#   (POST /v1/admin/imports, processed by thread 0's worker) with changed prices and stock.
# Usage: bench/import.sh (after `make`). Knob: BENCH_PRODUCTS (2500).
set -euo pipefail
cd "$(dirname "$0")/.."
products=${BENCH_PRODUCTS:-2500}
. bench/lib.sh
export SOUQ_ACCESS_LOG=off SOUQ_OWNER_PASSWORD=bench-owner-password-1
bench_db
bin/souq seed >/dev/null
loc=$(bench_psql -qAtc "INSERT INTO stock_locations (name) VALUES ('Main') RETURNING id" | head -1)

gen() { # $1 file, $2 price offset
    python3 - "$1" "$2" "$products" "$loc" <<'PY'
import sys
out, off, n, loc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(out, 'w') as f:
    f.write(f'handle,title,status,tags,option1_name,option1_value,sku,price.eur,price.usd,stock.{loc}\r\n')
    for p in range(n):
        for i, size in enumerate(['S', 'M', 'L', 'XL']):
            first = i == 0
            tags = '"bench, shirt"' if first else ''
            f.write(f'product-{p},{"Product %d" % p if first else ""},{"active" if first else ""},{tags},'
                    f'Size,{size},SKU-{p}-{size},{1000 + p % 500 + off},{1200 + p % 500 + off},{(p + i + off) % 50}\r\n')
PY
}
gen "$work/a.csv" 0
gen "$work/b.csv" 7
rows=$((products * 4))

secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):,.0f}')" "$1" "$2"; }

t0=$(date +%s.%N); bin/souq import "$work/a.csv" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
d1=$(secs "$t0" "$t1")
t0=$(date +%s.%N); bin/souq import "$work/a.csv" >"$work/again.txt" 2>&1 || true; t1=$(date +%s.%N)
d2=$(secs "$t0" "$t1")

bench_serve
tok=$(curl -sf "$base/v1/admin/auth/token" -H 'content-type: application/json' \
      -d '{"email":"owner@souq.local","password":"bench-owner-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
t0=$(date +%s.%N)
id=$(curl -sf "$base/v1/admin/imports" -H "authorization: Bearer $tok" -H 'content-type: text/csv' --data-binary @"$work/b.csv" |
     python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
status=queued
while [ "$status" = queued ] || [ "$status" = running ]; do
    sleep 0.2
    status=$(curl -sf "$base/v1/admin/imports/$id" -H "authorization: Bearer $tok" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
done
t1=$(date +%s.%N)
d3=$(secs "$t0" "$t1")
t0=$(date +%s.%N); curl -sf "$base/v1/admin/exports/products.csv" -H "authorization: Bearer $tok" -o "$work/export.csv"; t1=$(date +%s.%N)
d4=$(secs "$t0" "$t1")

echo "bulk import, $rows rows ($products products x 4 variants, 2 prices, stock), durable PostgreSQL:"
printf '  %-52s %8ss %10s rows/s\n' "souq import, new products" "$d1" "$(rate $rows "$d1")"
printf '  %-52s %8ss %10s rows/s\n' "souq import, same file again (all unchanged)" "$d2" "$(rate $rows "$d2")"
printf '  %-52s %8ss %10s rows/s  (%s)\n' "POST /v1/admin/imports, changed prices and stock" "$d3" "$(rate $rows "$d3")" "$status"
printf '  %-52s %8ss %10s rows/s  (%s bytes)\n' "GET /v1/admin/exports/products.csv" "$d4" "$(rate $rows "$d4")" "$(wc -c <"$work/export.csv")"
tail -1 "$work/again.txt" | sed 's/^/  last run: /'
