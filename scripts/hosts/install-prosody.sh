#!/bin/sh
# Installs Prosody (Debian's prosody package, Lua 5.4) for spec/hosts/prosody_spec.lua, as root,
# without letting the package start its system service: the spec runs its own Prosody in the
# foreground. Prints nothing when it is already there.
set -eu

dpkg-query -W -f='${Status}' prosody 2>/dev/null | grep -q "ok installed" && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "prosody is missing; run:  sudo sh $0" >&2
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

echo "installing: prosody"
export DEBIAN_FRONTEND=noninteractive
# Waits for another install holding dpkg's lock rather than failing.
apt-get update -qq -o DPkg::Lock::Timeout=300
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 prosody >/dev/null

PIDFILE=/run/prosody/prosody.pid
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "prosody's system service is running (pid $(cat "$PIDFILE")); the spec does not need it" >&2
fi
