#!/bin/sh
# Runs the specs with the ASan/UBSan build (make check-asan): every sanitizer
# report in build/asan/report.* fails the run.
#
# One exception, retried once: LeakSanitizer's own stop-the-world tracer
# sometimes segfaults as a process exits ("Tracer caught signal 11", then
# "LeakSanitizer has encountered a fatal error"; google/sanitizers#1353).
# That is a crash of the checker, not a finding. When that is all a run
# produced (every spec passed, no other report), the whole run is repeated
# once; a second crash, or anything else, fails.
# Usage: scripts/check-asan.sh LUA (with the variables run-specs.sh takes)
set -u
cd "$(dirname "$0")/.." || exit 1
reports=build/asan/report

# Succeeds when the run's only problem is the tracer crash: each report is
# that signature and nothing else, and no spec failed (the only failure,
# if any, is busted's exit status when the crash was its own).
tracer_crash_only() {
    ls "$reports".* >/dev/null 2>&1 || return 1
    for report in "$reports".*; do
        grep -q 'Tracer caught signal 11' "$report" || return 1
        grep -q 'LeakSanitizer has encountered a fatal error' "$report" || return 1
        if grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|SUMMARY:|runtime error' "$report"; then
            return 1
        fi
    done
    # The crash may be the Lua process's own (busted then stops before its
    # report) or a child's (dalle-mock, a script a spec runs, which every
    # spec then still passes): either way no spec may have failed.
    grep -qE '^busted stopped before reporting|^[0-9]+ passed, 0 failed$' "$1" || return 1
    ! grep -qE '^not ok ' build/asan/spec-*.tap
}

run() {
    rm -f "$reports".*
    scripts/run-specs.sh "$@" | tee build/asan/run.log
}

mkdir -p build/asan
run "$@"
if tracer_crash_only build/asan/run.log; then
    cat "$reports".*
    echo "check-asan: LeakSanitizer's tracer crashed at exit with nothing else wrong; running once more"
    run "$@"
fi
if ls "$reports".* >/dev/null 2>&1; then
    cat "$reports".*
    echo "check-asan: sanitizer reports above"
    exit 1
fi
if grep -qE '^[0-9]+ passed, 0 failed$' build/asan/run.log; then
    echo "check-asan: no reports"
    exit 0
fi
exit 1
