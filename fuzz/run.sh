#!/bin/sh
# Builds the libFuzzer harnesses in fuzz/ into build/fuzz/ and runs each for SECONDS (default 20)
# on a copy of its seed corpus in fuzz/corpus/; fails with the crash input's path on a finding.
set -eu

seconds=${1:-20}
case $seconds in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build/fuzz"
cc=${FUZZ_CC:-clang}
curl_cflags=$(pkg-config --cflags libcurl 2>/dev/null || true)
curl_libs=$(pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
mkdir -p "$out"

# name, longest input worth trying, the sources under test (comma-separated),
# extra libraries.
harnesses="retry_after 256 src/transport.c,src/image_file.c,src/poller.c,src/schedule.c $curl_libs
utf8_length 4096 src/rules.c
is_http_url 4096 src/rules.c
rules_check 8192 src/rules.c
schedule 4096 src/schedule.c
base64 8192 src/base64.c
callback_path 4096 src/callbacks.c,src/schedule.c
json_parse 8192 src/mock/json_in.c,src/mock/json_out.c,src/mock/util.c,src/rules.c"

build() {
    name=$1 sources=$2 libs=$3
    paths=""
    for source in $(echo "$sources" | tr , ' '); do paths="$paths $root/$source"; done
    # shellcheck disable=SC2086 # the curl flags, sources and libraries are word lists
    "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra \
        -I"$root/src" $curl_cflags "$root/fuzz/fuzz_$name.c" $paths \
        -o "$out/fuzz_$name" $libs
}

run() {
    name=$1 max_len=$2
    corpus="$out/corpus-$name"
    log="$out/$name.log"
    # A private copy: new inputs libFuzzer finds must never land in the committed corpus.
    rm -rf "$corpus"
    cp -R "$root/fuzz/corpus/$name" "$corpus"
    rm -f "$out/$name-"*-*
    if ! "$out/fuzz_$name" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
        -artifact_prefix="$out/$name-" "$corpus" </dev/null >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        for crash in "$out/$name-"*-*; do
            if [ -e "$crash" ]; then echo "fuzz $name: FAILED, input: $crash" >&2; fi
        done
        echo "fuzz $name: FAILED (log: $log)" >&2
        exit 1
    fi
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log")
    echo "fuzz $name: ${runs:-?} runs, ok"
}

while read -r name max_len sources libs; do
    build "$name" "$sources" "$libs"
done <<EOF
$harnesses
EOF
while read -r name max_len _; do
    run "$name" "$max_len"
done <<EOF
$harnesses
EOF
