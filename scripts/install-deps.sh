#!/bin/sh
# Installs the Debian/Ubuntu packages that building, the demo and the specs
# need; with --hosts, then (as root) the apps that embed Lua that spec/hosts/
# runs, each by its own scripts/hosts/install-*.sh. As a non-root user it
# prints the one command to run instead, and the host specs say what they miss.
set -eu
hosts=no
[ "${1:-}" = --hosts ] && hosts=yes

PACKAGES="gcc make pkg-config libc6-dev curl openssl valgrind clang libclang-rt-14-dev
libcurl4-openssl-dev libmicrohttpd-dev zlib1g-dev
lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev lua5.4 liblua5.4-dev
luajit libluajit-5.1-dev lua-cjson lua-argparse lua-busted lua-check luarocks lua-copas lua-cqueues lua-luv
lua-socket python3 python3-requests python3-aiohttp nghttp2-proxy"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "missing packages:$missing (install them with your package manager)" >&2
        exit 1
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages; run:  sudo apt-get install -y$missing" >&2
        exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ "$hosts" = yes ] && [ "$(id -u)" = 0 ] || exit 0
for script in "$(dirname "$0")"/hosts/install-*.sh; do
    [ -e "$script" ] || continue
    sh "$script"
done
