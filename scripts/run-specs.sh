#!/bin/sh
# Runs the busted specs under each Lua command named (default lua5.4; a
# command may carry a wrapper, e.g. "valgrind ... lua5.4") and ends with one
# line counting every test: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- lua5.4

passed=0
failed=0
run=0
mkdir -p build
for lua in "$@"; do
    run=$((run + 1))
    log="build/spec-$run.tap"
    echo "== specs on: $lua"
    # shellcheck disable=SC2086
    $lua /usr/bin/busted --output=TAP >"$log" 2>&1
    status=$?
    awk '/^not ok/ {show = 1} /^ok / {show = 0} show' "$log" | head -n 400
    p=$(grep -cE '^ok ' "$log")
    f=$(grep -cE '^not ok ' "$log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "busted stopped before reporting (exit $status):"
        tail -n 40 "$log"
        f=1
    fi
    echo "$lua: $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
