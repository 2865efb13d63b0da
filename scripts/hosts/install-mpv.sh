#!/bin/sh
# Installs mpv (Debian's mpv package, Lua 5.2) for spec/hosts/mpv_spec.lua, as root; prints
# nothing when it is already there. mpv has no service.
set -eu

dpkg-query -W -f='${Status}' mpv 2>/dev/null | grep -q "ok installed" && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "mpv is missing; run:  sudo sh $0" >&2
    exit 1
fi

echo "installing: mpv"
export DEBIAN_FRONTEND=noninteractive
# Waits for another install holding dpkg's lock rather than failing.
apt-get update -qq -o DPkg::Lock::Timeout=300
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 mpv >/dev/null
