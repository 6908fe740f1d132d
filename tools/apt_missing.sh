# Sourced by the tools/ensure_*.sh scripts: install Debian packages when we are root, else print the command.
# Usage: apt_missing "what needs them" pkg...
apt_missing() {
    local why="$1"
    shift
    [ "$#" -gt 0 ] || return 0
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing for $why: $*"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "==> $why needs: $*  (sudo apt-get update && sudo apt-get install -y $*)"
    fi
}
