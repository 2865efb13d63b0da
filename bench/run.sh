#!/bin/sh
# run.sh: the benchmark harness: builds what it needs, runs every client row against
# a fresh dalle-mock and prints one markdown table plus the pending-memory and idle-CPU lines,
# then bench/hosts.lua's table of the apps that embed Lua, bench/callbacks.lua's
# results by callback against polling, and bench/cli.sh's `dalle batch` cost.

# Usage: bench/run.sh [--jobs N] [--rounds N] [--no-pin] [--smoke]
#   --jobs N    jobs per row (default 5000; the curl CLI row runs at most 100)
#   --rounds N  runs of baseline-c and lua-dalle each, and of the lag probe,
#               interleaved (default 3); each shows its median run
#   --no-pin    let the scheduler place the mock and the client anywhere (by
#               default, with 2 CPUs or more, the mock runs on CPU 0 and
#               every client on CPU 1, as a remote service never shares the
#               client's CPU and caches)
#   --smoke   tiny runs (50 jobs, whatever --jobs says) that only prove every row
#             still works end to end; a row that fails or cannot run (a missing
#             package) fails the run; an app of bench/hosts.lua that is not
#             installed is left out, one that is installed and fails fails it
# --jobs applies to the client rows; bench/hosts.lua makes 200 calls in each app
# (5 with --smoke), --rounds times, placed as --no-pin says.
# The table goes to stdout, progress and client errors to stderr. Exits 1 if
# any row failed. All traffic goes to 127.0.0.1; every mock started is stopped.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

usage() {
    echo "usage: bench/run.sh [--jobs N] [--rounds N] [--no-pin] [--smoke]" >&2
    exit 2
}

jobs=5000
rounds=3
smoke=0
pin=1
while [ $# -gt 0 ]; do
    case $1 in
        --jobs)
            [ $# -ge 2 ] || usage
            jobs=$2
            shift 2
            ;;
        --rounds)
            [ $# -ge 2 ] || usage
            rounds=$2
            shift 2
            ;;
        --smoke)
            smoke=1
            shift
            ;;
        --no-pin)
            pin=0
            shift
            ;;
        *) usage ;;
    esac
done
for number in "$jobs" "$rounds"; do
    case $number in
        '' | *[!0-9]* | 0*) usage ;;
    esac
done

high_concurrency=64
api_key=bench-key
if [ "$smoke" = 1 ]; then
    jobs=50
    rounds=1
    curl_jobs=10
    pending_jobs=200
    idle_jobs=100
    idle_seconds=1
    lag_jobs=100
    lag_seconds=1
    row_limit=30
else
    # One curl process per request: a hundred jobs (400 requests) say enough.
    curl_jobs=$((jobs < 100 ? jobs : 100))
    pending_jobs=10000
    idle_jobs=1000
    idle_seconds=10
    lag_jobs=1000
    lag_seconds=5
    row_limit=600
fi

# Debian's python3 sees the python3-* packages; another python3 first on PATH may not.
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

mock=build/dalle-mock
run_child=build/bench/run_child
# Words put before the mock's and each client's command: taskset, or nothing.
pin_mock=
pin_client=
placement="not pinned: the scheduler places the mock and the client"
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    pin_mock="taskset -c 0"
    pin_client="taskset -c 1"
    placement="pinned: the mock on CPU 0, the client on CPU 1"
fi
state=$(mktemp -d)
mock_pid=
failures=0

stop_mock() {
    if [ -n "$mock_pid" ]; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
        mock_pid=
    fi
}
trap 'stop_mock; rm -rf "$state"' EXIT
trap 'exit 130' INT TERM

say() {
    echo "bench: $*" >&2
}

# start_mock POLLS: a fresh dalle-mock on a free loopback port whose jobs
# answer POLLS pending polls; sets base. --watch-pid ends it with this script.
# --single-thread: a thread made per connection (a submit opens one) would
# compete with the client for its CPU, as a service on another machine never does.
start_mock() {
    rm -f "$state/port"
    # shellcheck disable=SC2086
    $pin_mock "$mock" --single-thread --port 0 --port-file "$state/port" --api-key "$api_key" \
        --polls "$1" --quiet --watch-pid $$ >/dev/null &
    mock_pid=$!
    waited=0
    while [ ! -s "$state/port" ]; do
        waited=$((waited + 1))
        if [ "$waited" -gt 200 ]; then
            say "dalle-mock did not start"
            exit 1
        fi
        sleep 0.05
    done
    base="http://127.0.0.1:$(cat "$state/port")"
}

# missing_package CLIENT: prints the Debian package that CLIENT needs and
# lacks, or nothing when it can run.
missing_package() {
    case $1 in
        luajit) command -v luajit >/dev/null 2>&1 || echo luajit ;;
        requests) "$python" -c 'import requests' 2>/dev/null || echo python3-requests ;;
        aiohttp) "$python" -c 'import aiohttp' 2>/dev/null || echo python3-aiohttp ;;
        luasocket) lua5.4 -e 'require "socket.http"; require "cjson"' 2>/dev/null ||
            echo "lua-socket lua-cjson" ;;
        curl) command -v curl >/dev/null 2>&1 || echo curl ;;
    esac
}

# Every row lands in $state/rows as "label|concurrency|jobs|outcome" where the
# outcome is "ok wall user sys maxrss_kib", "missing PACKAGES" or "failed WHY".
record() {
    echo "$1|$2|$3|$4" >>"$state/rows"
}

fail() {
    failures=$((failures + 1))
    say "$1 FAILED: $2"
    if [ -s "$state/err" ]; then tail -n 20 "$state/err" >&2; fi
}

# row LABEL CLIENT CONCURRENCY JOBS COMMAND...: runs COMMAND BASE KEY JOBS
# CONCURRENCY against a fresh mock (jobs done after two pending polls).
row() {
    label=$1
    client=$2
    concurrency=$3
    count=$4
    shift 4
    : >"$state/err"
    missing=$(missing_package "$client")
    if [ -n "$missing" ]; then
        if [ "$smoke" = 1 ]; then
            fail "$label" "not installed (apt-get install $missing)"
            record "$label" "$concurrency" "$count" "failed not installed: $missing"
        else
            say "$label: not installed ($missing)"
            record "$label" "$concurrency" "$count" "missing $missing"
        fi
        return 0
    fi
    say "$label, concurrency $concurrency, $count jobs"
    start_mock 2
    status=0
    # shellcheck disable=SC2086
    "$run_child" "$row_limit" "$state/stats" $pin_client "$@" "$base" "$api_key" "$count" "$concurrency" \
        >"$state/out" 2>"$state/err" || status=$?
    stop_mock
    if [ "$status" != 0 ]; then
        fail "$label" "exit status $status"
        record "$label" "$concurrency" "$count" "failed exit status $status"
    elif ! grep -qx "completed $count" "$state/out"; then
        fail "$label" "it did not report $count completed jobs"
        record "$label" "$concurrency" "$count" "failed incomplete"
    else
        record "$label" "$concurrency" "$count" "ok $(cat "$state/stats")"
    fi
}

lua_path="$repo/lua/?.lua;$repo/lua/?/init.lua;;"

# probe LUA MODE ARG...: one dalle_bench.lua probe against a mock
# whose jobs never finish; appends "LUA <its last line of output>" to
# $state/MODE, or why it could not run.
probe() {
    lua=$1
    mode=$2
    shift 2
    : >"$state/err"
    missing=$(missing_package "$lua")
    if [ -n "$missing" ]; then
        if [ "$smoke" = 1 ]; then fail "$mode probe on $lua" "not installed ($missing)"; fi
        echo "$lua not installed ($missing)" >>"$state/$mode"
        return 0
    fi
    say "$mode probe on $lua"
    start_mock 1000000
    status=0
    # shellcheck disable=SC2086
    "$run_child" "$row_limit" "$state/stats" $pin_client env "LUA_PATH=$lua_path" \
        "LUA_CPATH=$repo/build/$lua/?.so;;" "$lua" bench/dalle_bench.lua "$mode" "$base" \
        "$api_key" "$@" >"$state/out" 2>"$state/err" || status=$?
    stop_mock
    if [ "$status" != 0 ]; then
        fail "$mode probe on $lua" "exit status $status"
        echo "$lua FAILED (exit status $status)" >>"$state/$mode"
        return 0
    fi
    echo "$lua $(tail -n 1 "$state/out")" >>"$state/$mode"
}

say "building (make all cores, bench/*.c)"
make --no-print-directory all cores >&2
mkdir -p build/bench
# The flags the Makefile builds the core with; each is a word of its own.
c_flags="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra"
curl_cflags=$(pkg-config --cflags libcurl 2>/dev/null || true)
curl_libs=$(pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
# shellcheck disable=SC2086
${CC:-cc} $c_flags bench/run_child.c -o "$run_child"
# shellcheck disable=SC2086
${CC:-cc} $c_flags $curl_cflags bench/baseline.c -o build/bench/baseline $curl_libs
# baseline-c sends the same header lines as lua-dalle, its User-Agent included.
user_agent=$(env "LUA_PATH=$lua_path" "LUA_CPATH=$repo/build/lua5.4/?.so;;" lua5.4 \
    -e 'io.write(require("dalle").DEFAULT_USER_AGENT)')

# The machine's speed drifts (it is shared); interleaved rounds expose
# baseline-c and lua-dalle to the same drift, and the median drops outliers.
for concurrency in 1 "$high_concurrency"; do
    round=0
    while [ "$round" -lt "$rounds" ]; do
        round=$((round + 1))
        row baseline-c c "$concurrency" "$jobs" build/bench/baseline --user-agent "$user_agent"
        for lua in lua5.4 luajit; do
            row "lua-dalle ($lua)" "$lua" "$concurrency" "$jobs" env "LUA_PATH=$lua_path" \
                "LUA_CPATH=$repo/build/$lua/?.so;;" "$lua" bench/dalle_bench.lua throughput
        done
    done
    if [ "$concurrency" = 1 ]; then
        row "python requests" requests 1 "$jobs" "$python" bench/python_peers.py requests
    fi
    row "python aiohttp" aiohttp "$concurrency" "$jobs" "$python" bench/python_peers.py aiohttp
    if [ "$concurrency" = 1 ]; then
        row "LuaSocket socket.http (lua5.4)" luasocket 1 "$jobs" lua5.4 bench/luasocket_bench.lua
        row "sh loop of curl CLI" curl 1 "$curl_jobs" bench/curl_loop.sh
    fi
done

# The idle probe runs twice: with README's step(1) driver, which wakes every
# second and resumes the waiters step() says have news, and with one step
# over the whole window, which step() may be given since it returns as soon
# as a timer is due.
for lua in lua5.4 luajit; do
    probe "$lua" pending "$pending_jobs"
    probe "$lua" idle "$idle_jobs" "$idle_seconds" 1
    probe "$lua" idle "$idle_jobs" "$idle_seconds" "$idle_seconds"
done
# The lag probe runs --rounds times too, interleaved: a few seconds of a
# shared machine's bad moment would otherwise decide the figure alone.
round=0
while [ "$round" -lt "$rounds" ]; do
    round=$((round + 1))
    for lua in lua5.4 luajit; do
        for loop in cqueues luv; do
            probe "$lua" lag "$lag_jobs" "$lag_seconds" "$loop"
        done
    done
done

# The apps that embed Lua, each installed one (make deps-hosts) in a row.
say "apps that embed Lua (bench/hosts.lua)"
host_options="--rounds $rounds"
if [ "$smoke" = 1 ]; then host_options=--smoke; fi
if [ "$pin" = 0 ]; then host_options="$host_options --no-pin"; fi
# shellcheck disable=SC2086
if ! lua5.4 bench/hosts.lua $host_options >"$state/hosts"; then
    failures=$((failures + 1))
    say "an app of bench/hosts.lua FAILED"
fi

# Results by callback against polling alone, on one mock whose jobs need no
# polls, placed as the client rows are.
callback_jobs=$((smoke == 1 ? 50 : 1000))
idle_probe_seconds=$((smoke == 1 ? 1 : 5))
: >"$state/callbacks"
for mode in callback trust burst poll idle-receiver idle-none; do
    say "callbacks: $mode (bench/callbacks.lua)"
    start_mock 0
    case $mode in
        idle-*) args="idle $base $api_key $idle_probe_seconds ${mode#idle-}" ;;
        *) args="run $base $api_key $callback_jobs $mode" ;;
    esac
    # shellcheck disable=SC2086
    if $pin_client env "LUA_PATH=$lua_path" "LUA_CPATH=$repo/build/lua5.4/?.so;;" \
        lua5.4 bench/callbacks.lua $args >"$state/out" 2>"$state/err"; then
        echo "$mode $(tail -n 1 "$state/out")" >>"$state/callbacks"
    else
        fail "callbacks: $mode" "$(tail -n 1 "$state/err")"
        echo "$mode FAILED" >>"$state/callbacks"
    fi
    stop_mock
done

# The command's cost against the library's (it starts its own mock).
cli_prompts=$((smoke == 1 ? 50 : 1000))
say "dalle batch against the library (bench/cli.sh)"
if ! bench/cli.sh "$cli_prompts" 64 >"$state/cli" 2>"$state/err"; then
    fail "dalle batch" "$(tail -n 1 "$state/err")"
    echo "FAILED" >>"$state/cli"
fi

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
memory_gib=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
os_name=$(sed -n 's/^PRETTY_NAME="\(.*\)"$/\1/p' /etc/os-release 2>/dev/null || true)
echo "Machine: $(nproc) CPUs ($cpu_model), $memory_gib GiB, ${os_name:-unknown OS};" \
    "libcurl $(pkg-config --modversion libcurl 2>/dev/null || echo '?')," \
    "$(lua5.4 -v 2>&1 | cut -d' ' -f1-2), $(luajit -v 2>/dev/null | cut -d' ' -f1-2 || echo 'no LuaJIT')," \
    "$("$python" --version 2>&1); $placement."
echo

# An awk function both tables below use: rank[1..n] lists the runs 1..n of
# `key` in order of values[key, run], smallest first.
rank_runs_awk='
function rank_runs(values, key, n, rank,    i, j, t) {
    for (i = 1; i <= n; i++) rank[i] = i
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && values[key, rank[j]] < values[key, rank[j - 1]]; j--) {
            t = rank[j]; rank[j] = rank[j - 1]; rank[j - 1] = t
        }
}'

# A client that ran several rounds shows its median round (by CPU per job)
# and the range; the ratio column compares medians with baseline-c's at the
# same concurrency.
awk -F'|' "$rank_runs_awk"'
{
    key = $1 "|" $2
    if (!(key in runs)) { order[++keys] = key; label[key] = $1; conc[key] = $2; count[key] = $3 }
    split($4, f, " ")
    if (f[1] != "ok") { failed[key] = $4; next }
    n = ++runs[key]
    cpu[key, n] = (f[3] + f[4]) * 1000 / $3
    wall[key, n] = f[2]
    rss[key, n] = f[5]
}
END {
    for (k = 1; k <= keys; k++) {
        key = order[k]
        n = runs[key]
        if (key in failed || n == 0) continue
        rank_runs(cpu, key, n, rank)
        median[key] = rank[int((n + 1) / 2)]
        low[key] = cpu[key, rank[1]]; high[key] = cpu[key, rank[n]]
        if (label[key] == "baseline-c") base_cpu[conc[key]] = cpu[key, median[key]]
    }
    print "| client | concurrency | jobs | jobs/s | CPU ms/job | peak RSS MiB | CPU/job vs baseline-c | rounds (CPU ms/job range) |"
    print "|---|---:|---:|---:|---:|---:|---:|---|"
    for (k = 1; k <= keys; k++) {
        key = order[k]
        if (key in failed || runs[key] == 0) {
            why = failed[key]; split(why, f, " "); sub(/^(missing|failed) /, "", why)
            printf "| %s | %s | %s | %s | | | | |\n", label[key], conc[key], count[key],
                (f[1] == "missing" ? "not installed (" why ")" : "FAILED: " why)
            continue
        }
        m = median[key]
        c = cpu[key, m]
        ratio = (conc[key] in base_cpu) ? sprintf("%.2fx", c / base_cpu[conc[key]]) : "n/a"
        spread = runs[key] > 1 ? sprintf("%d (%.3f-%.3f)", runs[key], low[key], high[key]) : "1"
        printf "| %s | %s | %s | %.0f | %.3f | %.1f | %s | %s |\n", label[key], conc[key],
            count[key], count[key] / wall[key, m], c, rss[key, m] / 1024, ratio, spread
    }
}' "$state/rows"

echo
echo "The curl CLI row runs $curl_jobs jobs: one process per request makes more pointless."
echo
echo "Pending jobs in memory ($pending_jobs submitted, each awaited in its own coroutine, next poll 60 s away):"
awk '$2 == "pending" {
        printf "- %s: VmRSS %.1f MiB, VmHWM (peak) %.1f MiB; step(0) with nothing ready: %.2f us" \
            " (%.2f us on an empty client)\n", $1, $5 / 1024, $7 / 1024, $9, $11
        next
    }
    { print "- " $0 }' "$state/pending"
echo
echo "Waiting on $idle_jobs pending jobs for $idle_seconds s" \
    "(next poll 60 s away; the driver resumes the waiters step() lists as ready):"
awk '$2 == "idle" {
        printf "- %s, step(%s): %.4f CPU s in %.2f s = %.3f%% of one core\n", $1, $5, $7, $9, 100 * $7 / $9
        next
    }
    { print "- " $0 }' "$state/idle"

echo
echo "Host-loop lag with $lag_jobs jobs in flight (each polled every 0.05-0.2 s)," \
    "a 1 ms timer in the same loop, over $lag_seconds s:"
# Each interpreter and loop shows its median run by p99, and the range of
# p99 over its runs; a probe that could not run shows as it is.
awk "$rank_runs_awk"'
$2 == "lag" {
        key = $1 ", " $3
        if (!(key in runs)) order[++keys] = key
        n = ++runs[key]
        p99[key, n] = $11
        line[key, n] = sprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d ticks", $9, $11, $13, $7)
        next
    }
    !($0 in seen) { seen[$0]; other[++others] = $0 }
    END {
        for (k = 1; k <= keys; k++) {
            key = order[k]
            n = runs[key]
            rank_runs(p99, key, n, rank)
            spread = n > 1 ? sprintf(" (median of %d runs; p99 %.2f-%.2f ms)", n,
                p99[key, rank[1]], p99[key, rank[n]]) : ""
            printf "- %s: %s%s\n", key, line[key, rank[int((n + 1) / 2)]], spread
        }
        for (i = 1; i <= others; i++) print "- " other[i]
    }' "$state/lag"

echo
cat "$state/hosts"

echo
echo "Results by callback, $callback_jobs jobs in flight, each done at the mock 3 s after its" \
    "submit (ms from the callback reaching the client's receiver to the job's wait returning;" \
    "for polling alone, from the job being done at the mock):"
echo
echo "| mode | jobs | p50 ms | p99 ms | max ms | GETs/job (mean, max) | wall s |"
echo "|---|---:|---:|---:|---:|---|---:|"
awk '$2 == "completed" {
        what = $1 == "callback" ? "callback, confirmed by a GET" : \
            $1 == "trust" ? "callback, callback_confirm = false" : \
            $1 == "burst" ? "callback, all released at once" : "polling alone"
        printf "| %s | %s | %s | %s | %s | %s, %s | %s |\n", what, $3, $5, $7, $9, $11, $13, $15
    }
    $2 == "FAILED" { printf "| %s | FAILED | | | | | |\n", $1 }' "$state/callbacks"
echo
awk '$1 ~ /^idle-/ && $2 == "returns" {
        printf "- idle %ds, step(1) in a loop, %s: step returned %s times\n", seconds, \
            ($1 == "idle-receiver" ? "a receiver listening" : "no receiver"), $3
    }' seconds="$idle_probe_seconds" "$state/callbacks"

echo
echo "dalle batch, $cli_prompts prompts at -j 64, against a Lua script doing the same with the library:"
sed 's/^/- /' "$state/cli"

if [ "$failures" != 0 ]; then
    say "$failures row(s) failed"
    exit 1
fi
