# Sourced by scripts/test: a PostgreSQL for the store tests (marker `postgres`).
# Makes sure a server answers on 127.0.0.1:5432 (starting or installing one if needed),
# creates the test database and exports CDS_TEST_POSTGRES_URL. In CI a PostgreSQL that
# cannot be had fails the run; locally the postgres tests skip with the reason.

PG_HOST=127.0.0.1
PG_PORT=5432
PG_TEST_DB="${CDS_TEST_POSTGRES_DB:-cds_test}"

_pg_fail() {
    echo "postgres: $*" >&2
    if [ "${CI:-}" = "true" ]; then
        exit 1
    fi
    echo "postgres: tests marked 'postgres' will be skipped" >&2
}

_pg_ready() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

_pg_start() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            echo "postgres: installing PostgreSQL" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null ||
                { apt-get update -q >/dev/null && \
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; } ||
                return 1
        else
            return 1
        fi
    fi
    local version
    for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    done
    local _
    for _ in $(seq 1 30); do
        _pg_ready && return 0
        sleep 0.5
    done
    return 1
}

_pg_role() {
    # The first role that can connect: trust auth on this machine lets postgres or root in.
    local role
    for role in postgres root "$(id -un)"; do
        if psql -h "$PG_HOST" -p "$PG_PORT" -U "$role" -d postgres -tAc 'select 1' \
            >/dev/null 2>&1; then
            echo "$role"
            return 0
        fi
    done
    return 1
}

_pg_setup() {
    if ! _pg_ready && ! _pg_start; then
        _pg_fail "no PostgreSQL reachable at $PG_HOST:$PG_PORT and none could be started"
        return 0
    fi
    local role
    if ! role="$(_pg_role)"; then
        _pg_fail "PostgreSQL at $PG_HOST:$PG_PORT accepts none of the roles postgres, root"
        return 0
    fi
    if [ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$role" -d postgres -tAc \
        "select 1 from pg_database where datname = '$PG_TEST_DB'")" != "1" ]; then
        psql -h "$PG_HOST" -p "$PG_PORT" -U "$role" -d postgres -q \
            -c "create database \"$PG_TEST_DB\"" >/dev/null ||
            { _pg_fail "cannot create database $PG_TEST_DB"; return 0; }
    fi
    export CDS_TEST_POSTGRES_URL="postgresql+psycopg://$role@$PG_HOST:$PG_PORT/$PG_TEST_DB"
    echo "postgres: store tests use $CDS_TEST_POSTGRES_URL" >&2
}

if [ -z "${CDS_TEST_POSTGRES_URL:-}" ]; then
    _pg_setup
fi
