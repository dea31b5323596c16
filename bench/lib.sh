# lib.sh: sourced by the bench scripts. bench_db starts a private, durable PostgreSQL (the defaults: fsync and
# synchronous_commit on) with a migrated database `souq`, exports what bin/souq needs, and removes it all on
# exit; bench_serve starts the release build and waits until it answers. Sets work, pgport, port, base.
bench_db() {
    work=$(mktemp -d)
    chmod 755 "$work"
    pgport=$(scripts/free-port.sh)
    port=$(scripts/free-port.sh)
    server=""
    trap bench_cleanup EXIT
    scripts/pg.sh start "$work/pg" "$pgport" >/dev/null
    psql -h "$work/pg/sock" -p "$pgport" -U souq -d postgres -qc "CREATE DATABASE souq" >/dev/null
    export SOUQ_DATABASE_URL="postgresql://souq@/souq?host=$work/pg/sock&port=$pgport"
    SOUQ_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    export SOUQ_JWT_SECRET SOUQ_LISTEN="127.0.0.1:$port" SOUQ_THREADS=${SOUQ_THREADS:-2}
    base="http://127.0.0.1:$port"
    bin/souq migrate >/dev/null
}

bench_cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    scripts/pg.sh stop "$work/pg" >/dev/null || true
    rm -rf "$work"
}

bench_psql() {
    psql -h "$work/pg/sock" -p "$pgport" -U souq -d souq "$@"
}

bench_serve() {
    bin/souq serve 2>"$work/server.log" &
    server=$!
    for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.05; done
}
