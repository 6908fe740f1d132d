#!/usr/bin/env bash
# Idempotent set-up for `make demo` / `make test`: a .venv on Python 3.12 with iahemo and its dependencies,
# OpenFOAM, and the service's browser, database and three.js. Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
EXTRAS="dev,workflow"

find_python312() {
    local c candidates=("${PYTHON:-}" python3.12)
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)"/versions/3.12*/bin/python3.12)
    fi
    candidates+=("$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12 python3)
    for c in "${candidates[@]}"; do
        [ -n "$c" ] || continue
        if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1; then
            command -v "$c" 2>/dev/null || echo "$c"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    if ! PY=$(find_python312); then
        echo "iahemo needs Python 3.12 (vmtk's wheels require it). Install it, e.g. 'pyenv install 3.12'" \
             "or 'apt-get install python3.12 python3.12-venv', then rerun." >&2
        exit 1
    fi
    echo "==> creating $VENV with $PY"
    "$PY" -m venv "$VENV"
fi

stamp="$VENV/.iahemo-install-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "==> installing iahemo[$EXTRAS] into $VENV"
    # No wheel cache: torch's CUDA build alone is several GB, and a second copy in ~/.cache ran a CI disk full.
    export PIP_NO_CACHE_DIR=1
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]"
    rm -f "$VENV"/.iahemo-install-*
    touch "$stamp"
else
    echo "==> $VENV is up to date"
fi

bash tools/ensure_openfoam.sh
bash tools/ensure_service_deps.sh
