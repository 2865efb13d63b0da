#!/bin/sh
# Runs the busted specs under each Lua interpreter named (default lua5.4) and
# ends with one line counting every test: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- lua5.4

passed=0
failed=0
mkdir -p build
for lua in "$@"; do
    log="build/spec-$lua.tap"
    echo "== specs on $lua"
    "$lua" /usr/bin/busted --output=TAP >"$log" 2>&1
    status=$?
    grep -E '^not ok' -A 30 "$log" | grep -vE '^ok ' | sed -n '1,400p'
    p=$(grep -cE '^ok ' "$log")
    f=$(grep -cE '^not ok ' "$log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "busted on $lua stopped before reporting (exit $status):"
        tail -n 30 "$log"
        f=1
    fi
    echo "$lua: $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
