#!/bin/sh
# Runs the busted specs under each Lua interpreter named (default lua5.4)
# and ends with one line counting every test: "N passed, N failed".
# DALLE_BUILD picks the build folder (default build); DALLE_WRAP, a command
# to run each interpreter under (valgrind, say); DALLE_PRELOAD, a library
# preloaded into the interpreter alone (a sanitizer runtime).
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- lua5.4
build=${DALLE_BUILD:-build}

passed=0
failed=0
for lua in "$@"; do
    log="$build/spec-$lua.tap"
    echo "== specs on $lua${DALLE_WRAP:+ under ${DALLE_WRAP%% *}}"
    # shellcheck disable=SC2086
    env DALLE_CORE_DIR="$build/$lua" DALLE_MOCK="$build/dalle-mock" \
        ${DALLE_PRELOAD:+"LD_PRELOAD=$DALLE_PRELOAD"} \
        ${DALLE_WRAP:-} "$lua" /usr/bin/busted --output=TAP >"$log" 2>&1
    status=$?
    awk '/^not ok/ {show = 1} /^ok / {show = 0} show' "$log" | head -n 400
    # What specs report for people: the fault matrix, the soak and loop figures.
    grep -E '^# (\||soak:|loops:)' "$log" | sed 's/^# //'
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
