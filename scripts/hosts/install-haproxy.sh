#!/bin/sh
# Installs HAProxy (Debian's haproxy package, Lua 5.3) for spec/hosts/haproxy_spec.lua,
# without letting the package start its system service: the spec runs its own haproxy.
set -eu

dpkg-query -W -f='${Status}' haproxy 2>/dev/null | grep -q "ok installed" && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "haproxy is missing; run:  sudo sh $0" >&2
    exit 1
fi

# Services refuse to start while policy-rc.d exits 101; ours goes when done.
POLICY=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    made_policy=1
fi
trap '[ -z "$made_policy" ] || rm -f "$POLICY"' EXIT

echo "installing: haproxy"
export DEBIAN_FRONTEND=noninteractive
# Waits for another install holding dpkg's lock rather than failing.
apt-get update -qq -o DPkg::Lock::Timeout=300
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 haproxy >/dev/null
