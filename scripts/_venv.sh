# Sourced by the other scripts: create .venv with a supported Python and install the project
# with the exact dependency versions of requirements/<set>.lock (runtime or test).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CDS_VENV:-$ROOT/.venv}"

say() {
    echo "setup: $*" >&2
}

pick_python() {
    for candidate in python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 or 3.12 is required (durable-rules does not import on 3.13)" >&2
    return 1
}

# ensure_venv runtime|test: install (or bring up to date) what that lock file lists, then the
# project itself (editable). Skipped when the lock file, pyproject.toml and setup.py are
# unchanged since the last install of that set. pip prints only errors (-qq); the steps are
# announced here.
ensure_venv() {
    local set="$1"
    local lock="$ROOT/requirements/$set.lock"
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        python="$(pick_python)"
        say "creating $VENV with $("$python" --version 2>&1)"
        "$python" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$set"
    local digest
    digest="$(cat "$lock" "$ROOT/pyproject.toml" "$ROOT/setup.py" | cksum)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        return 0
    fi
    say "updating pip"
    "$VENV/bin/python" -m pip install -qq --upgrade pip
    say "installing requirements/$set.lock ($(grep -c '^[a-zA-Z]' "$lock") pinned packages;" \
        "the first time takes a minute or two: durable-rules compiles its C engine)"
    "$VENV/bin/python" -m pip install -qq --require-hashes -r "$lock"
    say "installing the service from $ROOT (editable)"
    "$VENV/bin/python" -m pip install -qq --no-deps -e "$ROOT"
    echo "$digest" >"$stamp"
    say "done: $VENV"
}
