#!/bin/sh
# pg.sh: a private PostgreSQL 15 cluster in a directory, for `make run`, `make test` and `make bench`.
#   pg.sh start DIR PORT [fast]   create the cluster on first use, then start it (fast = fsync off: tests only)
#   pg.sh stop DIR                stop it (immediate)
#   pg.sh restart DIR             restart it (immediate, as a crash would)
#   pg.sh bin                     print the PostgreSQL bin directory
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
set -eu

pgbin() {
    for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2
    exit 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cmd=${1:-}
case "$cmd" in
bin)
    pgbin
    ;;
start)
    dir=$2 port=$3 mode=${4:-durable}
    bin=$(pgbin)
    mkdir -p "$dir/sock"
    [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U souq --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # already running (make run again after Ctrl-C stopped only the server): nothing to do
    as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && exit 0
    opts="-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c max_connections=200 -c shared_buffers=256MB"
    if [ "$mode" = fast ]; then
        # throwaway test clusters only: souq is then started with durability_check = warn
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    opts="$opts ${SOUQ_PG_OPTS:-}" # extra settings, e.g. -c shared_preload_libraries=pg_stat_statements to profile
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 -o "$opts" start >/dev/null ||
        { tail -20 "$dir/log" >&2; exit 1; }
    ;;
stop)
    dir=$2
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_owner "$(pgbin)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
restart)
    dir=$2
    as_owner "$(pgbin)/pg_ctl" -D "$dir/data" -m immediate -w restart >/dev/null
    ;;
*)
    echo "usage: pg.sh start DIR PORT [fast] | stop DIR | restart DIR | bin" >&2
    exit 2
    ;;
esac
