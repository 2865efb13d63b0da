#!/bin/sh
# Installs LÖVE (Debian's love package, LuaJIT) and Xvfb to run it without a display, for
# spec/hosts/love_spec.lua, as root; prints nothing when they are already there. xauth is what
# xvfb-run needs (only a recommendation of xvfb); libgl1-mesa-dri gives Xvfb's GL a renderer.
# None of them has a service.
set -eu

PACKAGES="love xvfb xauth libgl1-mesa-dri"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "missing:$missing; run:  sudo sh $0" >&2
    exit 1
fi

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Waits for another install holding dpkg's lock rather than failing.
apt-get update -qq -o DPkg::Lock::Timeout=300
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 $missing >/dev/null
