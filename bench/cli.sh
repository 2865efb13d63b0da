#!/bin/sh
# cli.sh [PROMPTS] [JOBS]: the CPU the `dalle batch` command spends on
# PROMPTS prompts (default 1000) at -j JOBS (default 64), against the CPU of
# a plain Lua script that does the same work with the library (submit, wait,
# download, JOBS at a time, with a journal as the command keeps one; and
# without, for scale), all against one dalle-mock (--single-thread), writing
# to the same file system (TMPDIR, default /tmp). With strace installed, also
# counts the command's fsyncs. Prints one line per row; the targets are a
# ratio of at most 1.5 to the script with a journal, and 3 fsyncs a job.
set -eu
prompts=${1:-1000}
jobs=${2:-64}
lua=${LUA:-lua5.4}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
work=$(mktemp -d)
mock=""
trap '[ -z "$mock" ] || kill "$mock" 2>/dev/null; rm -rf "$work"' EXIT INT TERM

# With 2 CPUs or more the mock gets CPU 0 and the client CPU 1, as a remote
# service never shares the client's CPU.
mock_cpu="" client_cpu=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    mock_cpu="taskset -c 0" client_cpu="taskset -c 1"
fi
$mock_cpu build/dalle-mock --port 0 --port-file "$work/port" --api-key bench-key --polls 1 \
    --single-thread --quiet >/dev/null &
mock=$!
while [ ! -s "$work/port" ]; do sleep 0.05; done
base="http://127.0.0.1:$(cat "$work/port")"
export AIRIGHT_API_KEY=bench-key AIRIGHT_BASE_URL="$base" AIRIGHT_CALLBACK_URL="$base/_mock/callback"
export LUA_PATH="$repo/lua/?.lua;$repo/lua/?/init.lua;;" LUA_CPATH="$repo/build/?.so;;"

i=1
while [ "$i" -le "$prompts" ]; do
    echo "{\"prompt\": \"bench prompt $i\", \"size\": \"256x256\", \"output\": \"$i.png\"}"
    i=$((i + 1))
done >"$work/batch.txt"

cat >"$work/library.lua" <<'LUA'
-- The same work as `dalle batch`, with the library alone: JOBS coroutines
-- at a time, each a submit, a wait and a download.
local dalle = require "dalle"
local prompts, jobs, dir, journal = tonumber(arg[1]), tonumber(arg[2]), arg[3], arg[4]
local client = assert(dalle.new { poll_interval = 0.05, loop = "none", journal = journal,
  callback = os.getenv("AIRIGHT_CALLBACK_URL"),
  max_transfers = math.max(64, jobs) })
local function work(i)
  local result = assert(client:generate { prompt = "bench prompt " .. i, size = "256x256" })
  assert(client:download(result, dir .. "/" .. i .. ".png"))
end
local next_item, alive = 1, 0
local function start()
  local co = coroutine.create(work)
  assert(coroutine.resume(co, next_item))
  next_item = next_item + 1
  if coroutine.status(co) ~= "dead" then alive = alive + 1 end
end
while next_item <= prompts or alive > 0 do
  while alive < jobs and next_item <= prompts do start() end
  local _, ready = client:step(1)
  for _, co in ipairs(ready) do
    assert(coroutine.resume(co))
    if coroutine.status(co) == "dead" then alive = alive - 1 end
  end
end
client:close()
LUA

# The CPU seconds (user + system) of one command, from the shell's `times`.
cpu_of() {
    sh -c '"$@" >/dev/null 2>>"$0"; times' "$work/errors.txt" "$@" | tail -n 1 |
        awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}

reset() { curl -s -X POST "$base/_mock/reset" >/dev/null; rm -rf "$work/out"; mkdir -p "$work/out"; }

reset
bare=$(cpu_of $client_cpu "$lua" "$work/library.lua" "$prompts" "$jobs" "$work/out")
[ "$(ls "$work/out" | wc -l)" -eq "$prompts" ] || { echo "the library script saved too few images:" >&2; cat "$work/errors.txt" >&2; exit 1; }
reset
library=$(cpu_of $client_cpu "$lua" "$work/library.lua" "$prompts" "$jobs" "$work/out" "$work/out/.journal")
reset
command=$(cpu_of $client_cpu "$lua" bin/dalle batch "$work/batch.txt" -o "$work/out" -j "$jobs" \
    --poll-interval 0.05)
[ "$(ls "$work/out" | wc -l)" -eq "$prompts" ] || { echo "dalle batch saved too few images:" >&2; cat "$work/errors.txt" >&2; exit 1; }
echo "library script, no journal: $bare s CPU for $prompts prompts at $jobs at a time"
echo "library script, journal:    $library s CPU"
echo "dalle batch:                $command s CPU ($(echo "$command $library" | awk '{ printf "%.2f", $1 / $2 }')x the script with a journal)"

if command -v strace >/dev/null 2>&1; then
    reset
    strace -f -c -e trace=fsync,fdatasync -o "$work/strace.txt" \
        "$lua" bin/dalle batch "$work/batch.txt" -o "$work/out" -j "$jobs" --poll-interval 0.05 \
        >/dev/null 2>&1
    syncs=$(awk '$NF == "fsync" || $NF == "fdatasync" { n += $4 } END { print n + 0 }' "$work/strace.txt")
    echo "fsyncs:                     $syncs for $prompts jobs ($(echo "$syncs $prompts" | awk '{ printf "%.2f", $1 / $2 }') a job)"
fi
