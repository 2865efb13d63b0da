#!/bin/sh
# curl_loop.sh: the curl CLI row of the benchmark: the same submit-then-poll jobs,
# one at a time, one curl process per request, read with shell pattern matching.

# Usage: curl_loop.sh BASE_URL API_KEY JOBS 1
# Prints "completed JOBS" when every job has succeeded; exits 1 on any failure.
set -eu

if [ $# -ne 4 ] || [ "$4" != 1 ]; then
    echo "usage: curl_loop.sh BASE_URL API_KEY JOBS 1 (one job at a time)" >&2
    exit 2
fi
base=$1
key=$2
jobs=$3
max_polls_per_job=100

n=0
while [ "$n" -lt "$jobs" ]; do
    n=$((n + 1))
    reply=$(curl -sS --fail -H "x-api-key: $key" -H "accept: application/json" -H "Expect:" \
        -F "callback=$base/_mock/callback" -F modelId=70 -F "prompt=bench job $n" \
        -F model=dall-e-2 -F size=1024x1024 "$base/sdk/models/dall-e")
    id=${reply#*\"id\":\"}
    id=${id%%\"*}
    if [ -z "$id" ] || [ "$id" = "$reply" ]; then
        echo "curl_loop: no job id in the submit reply: $reply" >&2
        exit 1
    fi
    polls=0
    while :; do
        polls=$((polls + 1))
        if [ "$polls" -gt "$max_polls_per_job" ]; then
            echo "curl_loop: job $id is still pending after $max_polls_per_job polls" >&2
            exit 1
        fi
        reply=$(curl -sS --fail -H "x-api-key: $key" -H "accept: application/json" \
            "$base/sdk/art/$id")
        case $reply in
            *'"status":"succeeded"'*) break ;;
            *'"status":"failed"'*)
                echo "curl_loop: job $id failed: $reply" >&2
                exit 1
                ;;
        esac
    done
done
echo "completed $jobs"
