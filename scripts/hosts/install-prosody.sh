#!/bin/sh
# Installs Prosody (Debian's prosody package, Lua 5.4) for spec/hosts/prosody_spec.lua, as root,
# without letting the package start its system service: the spec runs its own Prosody in the
# foreground. Prints nothing when it is already there.
set -eu

dpkg-query -W -f='${Status}' prosody 2>/dev/null | grep -q "ok installed" && exit 0
sh "$(dirname "$0")/apt-packages.sh" --no-service prosody

PIDFILE=/run/prosody/prosody.pid
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "prosody's system service is running (pid $(cat "$PIDFILE")); the spec does not need it" >&2
fi
