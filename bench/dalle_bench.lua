-- dalle_bench: the lua-dalle side of the benchmark, on the public API only: jobs
-- through client:generate in coroutines, and the pending-memory and idle-CPU probes.

-- Usage (with LUA_PATH and LUA_CPATH pointing at lua/ and build/LUA/):
--   dalle_bench.lua throughput BASE_URL API_KEY JOBS CONCURRENCY
--     CONCURRENCY coroutines each generate their share of JOBS; prints "completed JOBS".
--   dalle_bench.lua pending BASE_URL API_KEY JOBS
--     submits JOBS, then awaits each in its own coroutine; prints VmRSS and VmHWM in KiB.
--   dalle_bench.lua idle BASE_URL API_KEY JOBS SECONDS STEP
--     the same JOBS waiting, their next poll 60 s away; prints the CPU seconds spent
--     driving them for SECONDS of wall time with step(STEP) calls.
local dalle = require "dalle"

-- Submits go out this many at a time in the pending and idle probes.
local SUBMITTERS = 64
-- Far enough out that no poll falls due while the idle probe watches.
local IDLE_POLL_INTERVAL = 60
-- The longest a driver blocks in one step, as in README's example.
local STEP_SECONDS = 1

local function new_client(base_url, api_key, poll_interval)
  return assert(dalle.new {
    api_key = api_key,
    base_url = base_url,
    callback = base_url .. "/_mock/callback",
    poll_interval = poll_interval,
    -- max_poll_interval must be positive; this keeps a poll of 0 at about 0.
    max_poll_interval = math.max(poll_interval, 0.001),
  })
end

-- Wall-clock seconds (0.01 s resolution) without reaching into dalle.core.
local function uptime()
  local file = assert(io.open("/proc/uptime"))
  local seconds = file:read("*n")
  file:close()
  return seconds
end

-- Resumes every suspended coroutine, then calls step(step_seconds), as
-- README's driver does, until all have ended or `seconds` of wall time have
-- passed. An error raised in a coroutine ends the run.
local function drive(client, coroutines, step_seconds, seconds)
  local stop_at = seconds and uptime() + seconds
  while true do
    local running = 0
    for _, co in ipairs(coroutines) do
      if coroutine.status(co) == "suspended" then
        local ok, problem = coroutine.resume(co)
        if not ok then error(problem, 0) end
        if coroutine.status(co) == "suspended" then running = running + 1 end
      end
    end
    if running == 0 then return end
    local step = step_seconds
    if stop_at then
      local left = stop_at - uptime()
      if left <= 0 then return end
      step = math.min(step, left)
    end
    client:step(step)
  end
end

local function throughput(client, jobs, concurrency)
  local completed = 0
  local workers = {}
  for worker = 1, math.min(concurrency, jobs) do
    workers[worker] = coroutine.create(function()
      for job = worker, jobs, concurrency do
        local result, err = client:generate { prompt = "bench job " .. job }
        if not result then error("job " .. job .. ": " .. tostring(err), 0) end
        completed = completed + 1
      end
    end)
  end
  drive(client, workers, STEP_SECONDS)
  assert(completed == jobs, "only " .. completed .. " of " .. jobs .. " jobs completed")
  print("completed " .. completed)
end

-- Submits `count` jobs, SUBMITTERS at a time, then starts one coroutine per
-- job waiting on it and resumes each once, so every job is awaited.
local function submit_and_await(client, count)
  local jobs, submitters = {}, {}
  for submitter = 1, math.min(SUBMITTERS, count) do
    submitters[submitter] = coroutine.create(function()
      for n = submitter, count, SUBMITTERS do
        local job, err = client:submit { prompt = "pending job " .. n }
        if not job then error("submit " .. n .. ": " .. tostring(err), 0) end
        jobs[n] = job
      end
    end)
  end
  drive(client, submitters, STEP_SECONDS)
  local waiters = {}
  for n, job in ipairs(jobs) do
    waiters[n] = coroutine.create(function()
      local result, err = job:wait()
      error("job " .. job.id .. " stopped waiting: " .. tostring(result or err), 0)
    end)
    assert(coroutine.resume(waiters[n]))
  end
  assert(#jobs == count, "only " .. #jobs .. " of " .. count .. " jobs were submitted")
  return waiters
end

local function status_kib(field)
  local file = assert(io.open("/proc/self/status"))
  local text = file:read("*a")
  file:close()
  return assert(tonumber(text:match(field .. ":%s*(%d+) kB")), field .. " not in /proc/self/status")
end

local function pending(client, count)
  submit_and_await(client, count)
  print(string.format("pending %d vmrss_kib %d vmhwm_kib %d", count, status_kib("VmRSS"),
    status_kib("VmHWM")))
end

local function idle(client, count, seconds, step_seconds)
  local waiters = submit_and_await(client, count)
  local cpu_before, wall_before = os.clock(), uptime()
  drive(client, waiters, step_seconds, seconds)
  print(string.format("idle %d step %g cpu_s %.4f wall_s %.2f", count, step_seconds,
    os.clock() - cpu_before, uptime() - wall_before))
end

local function count_arg(index, name)
  local n = tonumber(arg[index])
  if not n or n < 1 or n ~= math.floor(n) then
    error("argument " .. index .. " (" .. name .. ") must be a positive whole number", 0)
  end
  return n
end

local mode, base_url, api_key = arg[1], arg[2], arg[3]
if mode == "throughput" then
  local client = new_client(base_url, api_key, 0)
  throughput(client, count_arg(4, "JOBS"), count_arg(5, "CONCURRENCY"))
  client:close()
elseif mode == "pending" then
  local client = new_client(base_url, api_key, IDLE_POLL_INTERVAL)
  pending(client, count_arg(4, "JOBS"))
  client:close()
elseif mode == "idle" then
  local client = new_client(base_url, api_key, IDLE_POLL_INTERVAL)
  idle(client, count_arg(4, "JOBS"), count_arg(5, "SECONDS"), count_arg(6, "STEP"))
  client:close()
else
  io.stderr:write("usage: dalle_bench.lua throughput|pending|idle BASE_URL API_KEY JOBS "
    .. "[CONCURRENCY | SECONDS STEP]\n")
  os.exit(2)
end
