#!/bin/sh
# make demo: starts dalle-mock on a free loopback port, runs
# examples/generate.lua against it, stops the mock, and prints the image path.
set -eu
cd "$(dirname "$0")/.."
lua=${1:-lua5.4}
out="$PWD/demo-out"
mkdir -p "$out"
rm -f "$out/mock.port"

build/dalle-mock --port 0 --port-file "$out/mock.port" --api-key demo-key \
    --delay-ms 1500 --quiet >/dev/null &
mock=$!
trap 'kill $mock 2>/dev/null || true' EXIT INT TERM

i=0
while [ ! -s "$out/mock.port" ]; do
    i=$((i + 1))
    if [ $i -gt 200 ]; then echo "dalle-mock did not start" >&2; exit 1; fi
    sleep 0.05
done
port=$(cat "$out/mock.port")
base="http://127.0.0.1:$port"
echo "dalle-mock listening on $base"

AIRIGHT_API_KEY=demo-key AIRIGHT_BASE_URL="$base" AIRIGHT_CALLBACK_URL="$base/_mock/callback" \
    "$lua" examples/generate.lua "a lighthouse on a cliff at dusk, watercolour" "$out/lighthouse.png"

kill $mock 2>/dev/null || true
wait $mock 2>/dev/null || true
trap - EXIT INT TERM
echo "$out/lighthouse.png"
