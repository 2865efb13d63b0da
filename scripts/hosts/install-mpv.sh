#!/bin/sh
# Installs mpv (Debian's mpv package, Lua 5.2) for spec/hosts/mpv_spec.lua, as root; prints
# nothing when it is already there. mpv has no service.
set -eu
sh "$(dirname "$0")/apt-packages.sh" mpv
