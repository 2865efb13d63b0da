#!/bin/sh
# Installs HAProxy (Debian's haproxy package, Lua 5.3) for spec/hosts/haproxy_spec.lua,
# without letting the package start its system service: the spec runs its own haproxy.
set -eu
sh "$(dirname "$0")/apt-packages.sh" --no-service haproxy
