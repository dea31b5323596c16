#!/bin/sh
# run.sh: `make run`. A private PostgreSQL cluster under var/pg (unless SOUQ_DATABASE_URL is set), a config
# file var/souq.conf with a fresh JWT secret on first run, migrate, seed (with the demo catalog when the catalog is
# empty, unless SOUQ_DEMO=0), then serve on 127.0.0.1:8080.
set -eu
cd "$(dirname "$0")/.."
mkdir -p var
if [ -z "${SOUQ_DATABASE_URL:-}" ]; then
    port=${SOUQ_PG_PORT:-54329}
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$PWD"; then
        echo "make run: the postgres user cannot reach $PWD (initdb refuses root, so the cluster runs as postgres)." >&2
        echo "  Clone the repository somewhere world-readable, or set SOUQ_DATABASE_URL to an existing database." >&2
        exit 1
    fi
    scripts/pg.sh start "$PWD/var/pg" "$port"
    sock="$PWD/var/pg/sock"
    if ! psql -h "$sock" -p "$port" -U souq -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'souq'" | grep -q 1; then
        psql -h "$sock" -p "$port" -U souq -d postgres -qc "CREATE DATABASE souq" >/dev/null
    fi
    export SOUQ_DATABASE_URL="postgresql://souq@/souq?host=$sock&port=$port"
    echo "PostgreSQL: var/pg on port $port (make stop stops it)"
fi
if [ ! -f var/souq.conf ]; then
    secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    umask 077
    cat >var/souq.conf <<CONF
# written by make run on first start; see README.md for every key
listen = 127.0.0.1:8080
jwt_secret = $secret
cors_origins = http://localhost:3000, http://127.0.0.1:3000
CONF
    umask 022
fi
bin/souq migrate --config var/souq.conf
if [ "${SOUQ_DEMO:-1}" = 0 ]; then
    bin/souq seed --config var/souq.conf
else
    bin/souq seed --config var/souq.conf --demo
fi
exec bin/souq serve --config var/souq.conf
