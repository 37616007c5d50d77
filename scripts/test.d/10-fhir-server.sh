# Sourced by scripts/test before pytest: install the loopback FHIR server's Node packages
# (tests/fhir_server, Medplum's in-memory FHIR router) on first run.
FHIR_SERVER_DIR="$ROOT/tests/fhir_server"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "error: Node.js (>= 20.19) and npm are required by the integration tests" \
        "(tests/fhir_server); install them, e.g. apt-get install nodejs npm" >&2
    exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "error: Node.js >= 20.19 is required by tests/fhir_server (found $(node --version))" >&2
    exit 1
fi
if [ ! -d "$FHIR_SERVER_DIR/node_modules/@medplum/fhir-router" ]; then
    echo "installing the loopback FHIR server's packages (npm ci in tests/fhir_server)"
    (cd "$FHIR_SERVER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
