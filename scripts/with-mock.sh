#!/bin/sh
# with-mock.sh COMMAND...: starts build/dalle-mock on a free loopback port,
# runs COMMAND with AIRIGHT_API_KEY, AIRIGHT_BASE_URL and AIRIGHT_CALLBACK_URL
# pointing at it, stops the mock, and exits with COMMAND's status.
# DALLE_MOCK_DELAY_MS and DALLE_MOCK_POLLS set the mock's --delay-ms and --polls.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d)

"$repo/build/dalle-mock" --port 0 --port-file "$state/port" --api-key demo-key \
    --delay-ms "${DALLE_MOCK_DELAY_MS:-1500}" --polls "${DALLE_MOCK_POLLS:-2}" --quiet >/dev/null &
mock=$!
trap 'kill $mock 2>/dev/null || true; rm -rf "$state"' EXIT INT TERM

i=0
while [ ! -s "$state/port" ]; do
    i=$((i + 1))
    if [ $i -gt 200 ]; then echo "dalle-mock did not start" >&2; exit 1; fi
    sleep 0.05
done
base="http://127.0.0.1:$(cat "$state/port")"
echo "dalle-mock listening on $base"

status=0
AIRIGHT_API_KEY=demo-key AIRIGHT_BASE_URL="$base" AIRIGHT_CALLBACK_URL="$base/_mock/callback" \
    "$@" || status=$?
exit $status
