#!/usr/bin/env bash
# run.sh: `make test` after the build. C unit tests, then the black-box API tests (node:test) against the
# sanitizer build of the server and a throwaway PostgreSQL cluster that this script starts and removes.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== unit tests"
for t in build/tests/*; do
    [ -x "$t" ] && "$t"
done

work=$(mktemp -d)
chmod 755 "$work"
port=$(scripts/free-port.sh)
cleanup() {
    scripts/pg.sh stop "$work/pg" || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== PostgreSQL (throwaway, port $port)"
scripts/pg.sh start "$work/pg" "$port" fast
psql -h "$work/pg/sock" -p "$port" -U souq -d postgres -qc "CREATE DATABASE souq_template" >/dev/null
SOUQ_DATABASE_URL="postgresql://souq@/souq_template?host=$work/pg/sock&port=$port" bin/souq migrate >/dev/null

echo "== database tests"
psql -h "$work/pg/sock" -p "$port" -U souq -d postgres -qc "CREATE DATABASE souq_dbtest TEMPLATE souq_template" >/dev/null
for t in build/dbtests/*; do
    [ -x "$t" ] && SOUQ_TEST_DATABASE_URL="postgresql://souq@/souq_dbtest?host=$work/pg/sock&port=$port" "$t"
done

echo "== API tests"
export SOUQ_TEST_PG_SOCK="$work/pg/sock" SOUQ_TEST_PG_PORT="$port" SOUQ_TEST_WORK="$work"
export SOUQ_BIN="$PWD/bin/souq-asan" SOUQ_TEST_ROOT="$PWD"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
files=(tests/api/*.test.mjs)
if [ -n "${SOUQ_TEST_FILTER:-}" ]; then
    files=(tests/api/*${SOUQ_TEST_FILTER}*.test.mjs)
fi
flags=(--test --test-reporter=spec)
# Node >= 20.10 takes a concurrency; older ones run files in parallel anyway
node --help | grep -q -- --test-concurrency && flags+=(--test-concurrency="${SOUQ_TEST_JOBS:-2}")
# SOUQ_TEST_NAME=regex runs only the tests whose name matches (with SOUQ_TEST_FILTER for the file)
[ -n "${SOUQ_TEST_NAME:-}" ] && flags+=(--test-name-pattern="$SOUQ_TEST_NAME")
node "${flags[@]}" "${files[@]}"
