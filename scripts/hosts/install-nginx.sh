#!/bin/sh
# Unpacks nginx with lua-nginx-module (Debian's nginx, libnginx-mod-http-lua and what it runs on:
# OpenResty's LuaJIT, lua-resty-core) into a private prefix for spec/hosts/nginx_spec.lua.
# Not `apt-get install`: the module's libluajit2-5.1-2 conflicts with Debian's luajit, which this
# project needs, so the .debs are unpacked with dpkg-deb and nginx runs with LD_LIBRARY_PATH there.
# The prefix is DALLE_NGINX_PREFIX (default /opt/lua-dalle-hosts/nginx); no service is started.
set -eu

PREFIX=${DALLE_NGINX_PREFIX:-/opt/lua-dalle-hosts/nginx}
# Unpacked together into $PREFIX (usr/...); the nginx binary and the modules share one nginx ABI.
DEBS="nginx libnginx-mod-http-ndk libnginx-mod-http-lua libluajit2-5.1-2 lua-resty-core lua-resty-lrucache"
# What those need at run time from the system, installed the ordinary way (no services among them).
RUNTIME="libc6 libcrypt1 libpcre2-8-0 libpcre3 libssl3 zlib1g"
STAMP="$PREFIX/installed"

[ -f "$STAMP" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "nginx with lua-nginx-module is missing; run:  sudo sh $0" >&2
    exit 1
fi

echo "installing: nginx with lua-nginx-module into $PREFIX"
export DEBIAN_FRONTEND=noninteractive
lists_updated=""

missing=""
for p in $RUNTIME; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -qq -o DPkg::Lock::Timeout=300
    lists_updated=1
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 $missing >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/debs" "$work/root"
# apt fetches as the _apt user, which must be able to write where the .debs go.
if id _apt >/dev/null 2>&1; then chown _apt "$work/debs"; fi

download() {
    # shellcheck disable=SC2086
    (cd "$work/debs" && apt-get download -qq $DEBS >/dev/null 2>"$work/download.log")
}
if ! download; then
    # The package lists may never have been fetched on this machine.
    if [ -n "$lists_updated" ]; then
        cat "$work/download.log" >&2
        exit 1
    fi
    apt-get update -qq -o DPkg::Lock::Timeout=300
    download || { cat "$work/download.log" >&2; exit 1; }
fi

for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
done
# Records what was unpacked, for whoever wonders which versions run.
for deb in "$work"/debs/*.deb; do
    # shellcheck disable=SC2016 # dpkg-deb's own ${field} syntax
    dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb"
done >"$work/root/VERSIONS"

# The modules must load into this nginx (the same ABI) before the prefix is used.
luajit_lib=$(dirname "$(find "$work/root/usr/lib" -name 'libluajit-5.1.so.2' | head -n 1)")
modules="$work/root/usr/lib/nginx/modules"
cat >"$work/check.conf" <<EOF
load_module $modules/ndk_http_module.so;
load_module $modules/ngx_http_lua_module.so;
error_log stderr;
pid $work/nginx.pid;
events {}
http {
    access_log off;
    lua_package_path "$work/root/usr/share/lua/5.1/?.lua;;";
}
EOF
if ! LD_LIBRARY_PATH="$luajit_lib" "$work/root/usr/sbin/nginx" -p "$work" -c "$work/check.conf" -t \
    >"$work/check.log" 2>&1; then
    cat "$work/check.log" >&2
    echo "install-nginx: the unpacked nginx cannot load lua-nginx-module" >&2
    exit 1
fi

rm -rf "$PREFIX"
mkdir -p "$(dirname "$PREFIX")"
cp -a "$work/root" "$PREFIX"
ln -s "${luajit_lib#"$work/root/"}" "$PREFIX/luajit-lib"
touch "$STAMP"
