# Sourced by scripts/test: a Redis for the shared jti replay tests (marker `redis`).
# Makes sure a server answers on 127.0.0.1:6379 (starting or installing one if needed) and
# exports CDS_TEST_REDIS_URL. In CI a Redis that cannot be had fails the run; locally those
# tests skip with the reason.

REDIS_HOST=127.0.0.1
REDIS_PORT=6379

_redis_ready() {
    command -v redis-cli >/dev/null 2>&1 &&
        [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

_redis_setup() {
    if ! _redis_ready; then
        if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = "0" ] &&
            command -v apt-get >/dev/null 2>&1; then
            echo "redis: installing redis-server" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null ||
                { apt-get update -q >/dev/null &&
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; }
        fi
        if command -v redis-server >/dev/null 2>&1; then
            redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --daemonize yes \
                >/dev/null 2>&1 || true
            local _
            for _ in $(seq 1 20); do
                _redis_ready && break
                sleep 0.25
            done
        fi
    fi
    if _redis_ready; then
        export CDS_TEST_REDIS_URL="redis://$REDIS_HOST:$REDIS_PORT/15"
        echo "redis: replay tests use $CDS_TEST_REDIS_URL" >&2
    elif [ "${CI:-}" = "true" ]; then
        echo "redis: no Redis reachable at $REDIS_HOST:$REDIS_PORT and none could be started" >&2
        exit 1
    else
        echo "redis: no Redis at $REDIS_HOST:$REDIS_PORT; tests marked 'redis' will be skipped" >&2
    fi
}

if [ -z "${CDS_TEST_REDIS_URL:-}" ]; then
    _redis_setup
fi
