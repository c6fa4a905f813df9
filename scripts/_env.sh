# Shared by the scripts: make .venv from the lock file when it is missing or stale.
# Sourced, not run. Needs only python3 (>= 3.11) with venv and pip.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

ensure_venv() {  # ensure_venv requirements/<name>.lock
  local lock="$1"
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Conduit needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)." >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating virtual environment in .venv"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(basename "$lock")"
  local digest
  digest="$(cat "$ROOT/$lock" "$ROOT/pyproject.toml" | "$VENV/bin/python" -c \
    'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$digest" ]; then
    echo "Installing locked dependencies from $lock"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      --require-hashes -r "$ROOT/$lock"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$ROOT"
    echo "$digest" > "$stamp"
  fi
}
