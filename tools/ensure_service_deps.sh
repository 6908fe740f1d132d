#!/usr/bin/env bash
# What the service and its tests need beyond Python: Chromium + chromedriver (the end-to-end test), PostgreSQL
# (the database test), Node.js + npm (to install three.js for the web terminal's 3D view, served locally).
# Debian packages are installed when missing and we are root, otherwise the exact command is printed; then
# three.js is installed from the npm registry into surrogate/service/web/node_modules (git-ignored) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/apt_missing.sh

need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v chromedriver >/dev/null 2>&1 || need="$need chromium-driver"
{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need="$need postgresql"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
# shellcheck disable=SC2086  # one word per package
apt_missing "the service and its tests" $need

WEB=surrogate/service/web
if [ -f "$WEB/node_modules/three/build/three.module.js" ]; then
    echo "==> three.js present"
elif command -v npm >/dev/null 2>&1; then
    echo "==> installing three.js for the web terminal (npm)"
    # no lock file: the version is pinned in package.json, and a lock file would record the registry's address
    (cd "$WEB" && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
else
    echo "==> npm is missing: the web terminal's 3D view needs 'npm install' in $WEB"
fi
