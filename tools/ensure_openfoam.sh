#!/usr/bin/env bash
# OpenFOAM (ESI line) from the distribution's `openfoam` package: installed when missing and we are root,
# otherwise the exact command is printed. Stages that need it skip or fail with that same message.
set -euo pipefail

if [ -f /usr/share/openfoam/etc/bashrc ] || command -v pimpleFoam >/dev/null 2>&1; then
    echo "==> OpenFOAM present"
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing OpenFOAM (Debian package 'openfoam'; a few minutes)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openfoam >/dev/null
    echo "==> OpenFOAM installed"
else
    echo "==> OpenFOAM is missing. Install it with:"
    echo "      sudo apt-get update && sudo apt-get install -y openfoam"
    echo "    (the CFD stages need it; everything else works without it)"
fi
