#!/usr/bin/env bash
# OpenFOAM (ESI line) from the distribution's `openfoam` package, and the system libraries gmsh's wheel needs:
# installed when missing and we are root, otherwise the exact command is printed. Stages that need it skip or fail with that same message.
set -euo pipefail
. "$(dirname "$0")/apt_missing.sh"

# gmsh's PyPI wheel links against these X/GL libraries even when it never opens a window.
GMSH_LIBS="libGLU.so.1:libglu1-mesa libXcursor.so.1:libxcursor1 libXft.so.2:libxft2 libXinerama.so.1:libxinerama1
libOpenGL.so.0:libopengl0 libgomp.so.1:libgomp1 libXrender.so.1:libxrender1"
missing=""
for pair in $GMSH_LIBS; do
    ldconfig -p 2>/dev/null | grep -q "${pair%%:*}" || missing="$missing ${pair##*:}"
done
# shellcheck disable=SC2086  # one word per package
apt_missing "gmsh" $missing

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
