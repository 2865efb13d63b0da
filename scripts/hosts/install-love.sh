#!/bin/sh
# Installs LÖVE (Debian's love package, LuaJIT) and Xvfb to run it without a display, for
# spec/hosts/love_spec.lua, as root; prints nothing when they are already there. xauth is what
# xvfb-run needs (only a recommendation of xvfb); libgl1-mesa-dri gives Xvfb's GL a renderer.
# None of them has a service.
set -eu
sh "$(dirname "$0")/apt-packages.sh" love xvfb xauth libgl1-mesa-dri
