#!/bin/sh
# Write rules.tar.gz (the rule pack for the cds-rule-pack ConfigMap) from a pack directory.
#   deploy/k8s/pack.sh [PACK_DIR]     (default: the repository's rules/)
# Check the pack first: .venv/bin/cds rules check PACK_DIR && .venv/bin/cds rules test PACK_DIR
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
pack="${1:-$here/../../rules}"
tar -C "$(dirname "$pack")" -czf "$here/rules.tar.gz" --transform "s,^$(basename "$pack"),rules," "$(basename "$pack")"
echo "wrote $here/rules.tar.gz from $pack"
