#!/bin/sh
# make demo: runs examples/generate.lua against dalle-mock and prints the
# saved image's path as the last line.
set -eu
cd "$(dirname "$0")/.."
lua=${1:-lua5.4}
out="$PWD/demo-out"
mkdir -p "$out"
rm -f "$out/lighthouse.png"
scripts/with-mock.sh "$lua" examples/generate.lua \
    "a lighthouse on a cliff at dusk, watercolour" "$out/lighthouse.png"
echo "$out/lighthouse.png"
