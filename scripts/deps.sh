#!/bin/sh
# deps.sh build|run|test|bench: installs the Debian packages a command needs (as root), or prints the exact
# apt-get line and stops (as another user). `test` also installs Node's test dependencies from the lockfile.
set -eu
cd "$(dirname "$0")/.."
mode=${1:-build}

pkgs="build-essential pkg-config libh2o-evloop-dev libpq-dev libjansson-dev libjwt-dev liblua5.4-dev libargon2-dev libssl-dev"
case "$mode" in
build) ;;
run) [ -n "${SOUQ_DATABASE_URL:-}" ] || pkgs="$pkgs postgresql-15" ;;
test) pkgs="$pkgs postgresql-15 postgresql-client-15 openssl curl procps" ;;
bench) pkgs="$pkgs postgresql-15 postgresql-client-15 postgresql-contrib wrk curl" ;;
*) echo "usage: deps.sh build|run|test|bench" >&2; exit 2 ;;
esac
# Node runs the API tests; any Node >= 18 will do (Debian's nodejs package is 18)
if [ "$mode" = test ] && ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' 2>/dev/null; then
    pkgs="$pkgs nodejs npm"
fi

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "missing Debian packages; run as root:" >&2
        echo "  apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
fi

if [ "$mode" = test ]; then
    stamp=tests/node_modules/.souq-lock
    if [ ! -f "$stamp" ] || ! cmp -s tests/package-lock.json "$stamp"; then
        (cd tests && npm ci --no-audit --no-fund --loglevel=error) && cp tests/package-lock.json "$stamp"
    fi
fi
