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

# run NAME WRK-ARGS...: one wrk run (-t$wthreads -c$conns -d$dur) whose req/s, p50, p99, socket errors and number of
# requests are appended to rps[NAME] etc.; a non-2xx answer stops the bench. median reads numbers and prints their median.
# wrk prints latency with units (us, ms, s); normalise to milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

declare -A rps p50 p99 errs reqs
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
    reqs[$name]+="$(awk '/requests in/ {print $1}' <<<"$out") "
    # requests slower than wrk's timeout (2 s) are socket timeouts, not latencies: count them, never hide them
    errs[$name]+="$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10; f = 1 } END { if (!f) print 0 }' <<<"$out") "
    p50[$name]+="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")") "
    p99[$name]+="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")") "
}

# CPU ticks (1/100 s) PostgreSQL has used so far: the postmaster (with the children it has reaped) and its live
# children. Around a wrk run, divided by its requests, this is PostgreSQL's CPU per request, which a loaded box
# disturbs far less than req/s.
pg_ticks() {
    local pm t
    pm=$(head -1 "$work/pg/data/postmaster.pid")
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
    for c in $(pgrep -P "$pm"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0))); done
    echo "$t"
}
