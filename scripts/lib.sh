# Shared setup for Caucus scripts (sourced, not run). Installs what a fresh Debian machine lacks.

# Swift lives in /opt/swift on our machines; make sure it is on PATH.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

# ensure_packages PKG...: installs the Debian packages that are missing (apt-get update once).
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The system libraries every Caucus build needs.
ensure_build_dependencies() {
    ensure_packages libsodium-dev libsqlite3-dev pkg-config
    command -v swift >/dev/null 2>&1 || { echo "error: swift not found (expected in /opt/swift)" >&2; exit 1; }
}

# start_test_postgres: starts a throwaway PostgreSQL server (Debian's `postgresql`) on 127.0.0.1 and a
# free port, its data and socket in a temporary directory, run by the `postgres` system user when
# we are root (initdb refuses root). Exports CAUCUS_TEST_POSTGRES_URL (a superuser with a random
# password on the `postgres` database; tests make a database each). The server is stopped and
# its directory removed when the calling shell exits.
start_test_postgres() {
    ensure_packages postgresql
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    [ -x "$bin/initdb" ] || { echo "error: PostgreSQL's initdb not found under /usr/lib/postgresql" >&2; return 1; }
    CAUCUS_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/caucus-postgres.XXXXXX")"
    CAUCUS_PG_CTL=("$bin/pg_ctl")
    trap stop_test_postgres EXIT
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$CAUCUS_PG_DIR"
        as=(runuser -u postgres --)
        CAUCUS_PG_CTL=("${as[@]}" "$bin/pg_ctl")
    fi
    local port password
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    printf '%s\n' "$password" > "$CAUCUS_PG_DIR/password"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$CAUCUS_PG_DIR/password"
    "${as[@]}" "$bin/initdb" -D "$CAUCUS_PG_DIR/data" -U caucus --pwfile="$CAUCUS_PG_DIR/password" \
        --auth=scram-sha-256 -E UTF8 --no-instructions >"$CAUCUS_PG_DIR/initdb.log" 2>&1 \
        || { cat "$CAUCUS_PG_DIR/initdb.log" >&2; return 1; }
    rm -f "$CAUCUS_PG_DIR/password"
    "${as[@]}" "$bin/pg_ctl" -D "$CAUCUS_PG_DIR/data" -l "$CAUCUS_PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $CAUCUS_PG_DIR -c max_connections=400" start >/dev/null \
        || { cat "$CAUCUS_PG_DIR/server.log" >&2; return 1; }
    export CAUCUS_TEST_POSTGRES_URL="postgres://caucus:$password@127.0.0.1:$port/postgres?sslmode=disable"
    echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $CAUCUS_PG_DIR)"
}

# stop_test_postgres: stops the server start_test_postgres started and removes its directory.
stop_test_postgres() {
    [ -n "${CAUCUS_PG_DIR:-}" ] || return 0
    [ -f "$CAUCUS_PG_DIR/data/postmaster.pid" ] && "${CAUCUS_PG_CTL[@]}" -D "$CAUCUS_PG_DIR/data" -m immediate stop >/dev/null 2>&1
    true
    rm -rf "$CAUCUS_PG_DIR"
    CAUCUS_PG_DIR=""
}
