#!/bin/sh
# Runs the busted specs under each Lua interpreter named (default lua5.4)
# and ends with one line counting every test: "N passed, N failed".
# DALLE_BUILD picks the build folder (default build); DALLE_SPEC_ROOT, the
# specs to run (default: all of spec/); DALLE_WRAP, a command
# to run each interpreter under (valgrind, say); DALLE_PRELOAD, a library
# preloaded into the interpreter alone (a sanitizer runtime).
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- lua5.4
build=${DALLE_BUILD:-build}

# The interpreters run side by side (the specs mostly wait on sockets and
# timers), at most DALLE_SPEC_JOBS at a time (default 2); each writes its own
# TAP log, and the reports below come in the order given.
jobs=${DALLE_SPEC_JOBS:-2}
running=0
pids="" # oldest first, each followed by a space
for lua in "$@"; do
    if [ "$running" -ge "$jobs" ]; then
        wait "${pids%% *}"
        pids=${pids#* }
        running=$((running - 1))
    fi
    log="$build/spec-$lua.tap"
    # shellcheck disable=SC2086
    (
        env DALLE_CORE_DIR="$build/$lua" DALLE_MOCK="$build/dalle-mock" \
            ${DALLE_PRELOAD:+"LD_PRELOAD=$DALLE_PRELOAD"} \
            ${DALLE_WRAP:-} "$lua" /usr/bin/busted --output=TAP ${DALLE_SPEC_ROOT:-} >"$log" 2>&1
        echo $? >"$log.status"
    ) &
    pids="$pids$! "
    running=$((running + 1))
done
wait

passed=0
failed=0
for lua in "$@"; do
    log="$build/spec-$lua.tap"
    status=$(cat "$log.status")
    echo "== specs on $lua${DALLE_WRAP:+ under ${DALLE_WRAP%% *}}"
    awk '/^not ok/ {show = 1} /^ok / {show = 0} show' "$log" | head -n 400
    # What specs report for people: the fault matrix, the soak, loop and host figures.
    grep -E '^# (\||soak:|loops:|hosts:)' "$log" | sed 's/^# //'
    # A spec skipped (its event loop not installed for this Lua) is not a pass.
    p=$(grep -E '^ok ' "$log" | grep -cv '# SKIP')
    skipped=$(grep -cE '^ok .*# SKIP' "$log")
    f=$(grep -cE '^not ok ' "$log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "busted stopped before reporting (exit $status):"
        tail -n 40 "$log"
        f=1
    fi
    note=""
    [ "$skipped" -eq 0 ] || note=", $skipped skipped (what they test is not available for $lua in this build)"
    echo "$lua: $p passed, $f failed$note"
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
