# Sourced by scripts/test: HAProxy, the load balancer of the replica tests and of
# deploy/compose.yaml (its configuration is checked with `haproxy -c`).
if ! command -v haproxy >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "haproxy: installing haproxy" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null ||
            { apt-get update -q >/dev/null &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null; } ||
            echo "haproxy: could not be installed; the deployment and replica tests will fail" >&2
    else
        echo "haproxy: not installed and cannot install it (needs root and apt-get)" >&2
    fi
fi
