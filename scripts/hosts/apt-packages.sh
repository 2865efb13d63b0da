#!/bin/sh
# Installs Debian packages for a host spec, as root: apt-packages.sh [--no-service] PACKAGE...
# Prints nothing when all are there. --no-service keeps a package's system service from
# starting (policy-rc.d exits 101 during the install): the spec runs its own instance.
set -eu

no_service=""
if [ "${1:-}" = --no-service ]; then
    no_service=1
    shift
fi

missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "missing:$missing; run:  sudo apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

# Services refuse to start while policy-rc.d exits 101; ours goes when done.
POLICY=/usr/sbin/policy-rc.d
made_policy=""
if [ -n "$no_service" ] && [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    made_policy=1
fi
trap '[ -z "$made_policy" ] || rm -f "$POLICY"' EXIT

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Waits for another install holding dpkg's lock rather than failing.
apt-get update -qq -o DPkg::Lock::Timeout=300
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 $missing >/dev/null
