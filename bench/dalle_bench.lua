-- dalle_bench: the lua-dalle side of the benchmark, on the public API only: jobs
-- through client:generate in coroutines, and the pending-memory and idle-CPU probes.

-- Usage (with LUA_PATH and LUA_CPATH pointing at lua/ and build/LUA/):
--   dalle_bench.lua throughput BASE_URL API_KEY JOBS CONCURRENCY
--     CONCURRENCY coroutines each generate their share of JOBS; prints "completed JOBS".
--   dalle_bench.lua pending BASE_URL API_KEY JOBS
--     submits JOBS, then awaits each in its own coroutine; prints VmRSS and VmHWM in KiB,
--     and the CPU microseconds of one step(0) with nothing ready, and on an empty client.
--   dalle_bench.lua idle BASE_URL API_KEY JOBS SECONDS STEP
--     the same JOBS waiting, their next poll 60 s away; prints the CPU seconds spent
--     driving them for SECONDS of wall time with step(STEP) calls.
--   dalle_bench.lua lag BASE_URL API_KEY JOBS SECONDS LOOP
--     JOBS generates in flight inside LOOP (cqueues or luv) next to a 1 ms timer;
--     prints the timer's lag percentiles over SECONDS once every job is in flight.
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

-- README's driver: resumes every coroutine once (unless `started`: they
-- already wait), then calls step(step_seconds) and resumes the coroutines it
-- says have news, until all have ended or `seconds` of wall time have
-- passed. An error raised in a coroutine ends the run.
local function drive(client, coroutines, step_seconds, seconds, started)
  local stop_at = seconds and uptime() + seconds
  local running = 0
  local function run(co)
    local ok, problem = coroutine.resume(co)
    if not ok then error(problem, 0) end
    return coroutine.status(co) == "dead"
  end
  for _, co in ipairs(coroutines) do
    if coroutine.status(co) == "suspended" and (started or not run(co)) then
      running = running + 1
    end
  end
  while running > 0 do
    local step = step_seconds
    if stop_at then
      local left = stop_at - uptime()
      if left <= 0 then return end
      step = math.min(step, left)
    end
    local _, ready = client:step(step)
    for _, co in ipairs(ready) do
      if run(co) then running = running - 1 end
    end
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

-- Microseconds of CPU per step(0) with nothing ready: a frame loop's cost.
local function idle_step_us(client)
  local calls = 20000
  local start = os.clock()
  for _ = 1, calls do client:step(0) end
  return (os.clock() - start) / calls * 1e6
end

local function pending(client, count, base_url, api_key)
  submit_and_await(client, count)
  local vmrss, vmhwm = status_kib("VmRSS"), status_kib("VmHWM")
  local empty = new_client(base_url, api_key, IDLE_POLL_INTERVAL)
  print(string.format("pending %d vmrss_kib %d vmhwm_kib %d step0_us %.2f empty_step0_us %.2f",
    count, vmrss, vmhwm, idle_step_us(client), idle_step_us(empty)))
  empty:close()
end

local function idle(client, count, seconds, step_seconds)
  local waiters = submit_and_await(client, count)
  local cpu_before, wall_before = os.clock(), uptime()
  drive(client, waiters, step_seconds, seconds, true)
  print(string.format("idle %d step %g cpu_s %.4f wall_s %.2f", count, step_seconds,
    os.clock() - cpu_before, uptime() - wall_before))
end

-- Polls as often as the specs poll, so the jobs keep the client busy.
local LAG_POLL_INTERVAL, LAG_MAX_POLL_INTERVAL = 0.05, 0.2
local TICK = 0.001

-- The generate each lag job runs: the mock never finishes it, so it ends
-- when the probe closes the client.
local function generate_until_closed(client, n)
  local _, err = client:generate { prompt = "lag job " .. n, timeout = 3600 }
  if err.kind ~= "closed" then error("lag job " .. n .. ": " .. tostring(err), 0) end
end

-- Each loop runs `count` generates in its own coroutines and a 1 ms timer;
-- `record(t)` is given the loop clock at each tick once all jobs started,
-- and returns true when enough was seen.
local lag_loops = {}

function lag_loops.cqueues(client, count, record)
  local cqueues = require "cqueues"
  local cq = cqueues.new()
  assert(require("dalle.cqueues").use(client, cq))
  local started = 0
  for n = 1, count do
    cq:wrap(function()
      started = started + 1
      generate_until_closed(client, n)
    end)
  end
  cq:wrap(function()
    repeat cqueues.sleep(TICK) until started == count and record(cqueues.monotime())
    client:close()
  end)
  assert(cq:loop())
end

function lag_loops.luv(client, count, record)
  local uv = require "luv"
  assert(require("dalle.luv").use(client))
  for n = 1, count do coroutine.wrap(generate_until_closed)(client, n) end
  local ticker = uv.new_timer()
  ticker:start(1, 1, function()
    if record(uv.hrtime() / 1e9) then
      ticker:close()
      client:close()
    end
  end)
  uv.run()
end

local function lag(client, count, seconds, loop)
  local run = lag_loops[loop] or error("LOOP must be cqueues or luv", 0)
  local lags, last, stop_at = {}, nil, nil
  run(client, count, function(t)
    if last then lags[#lags + 1] = math.max(0, t - last - TICK) end
    last, stop_at = t, stop_at or t + seconds
    return t >= stop_at
  end)
  table.sort(lags)
  local function ms(q) return lags[math.max(1, math.ceil(#lags * q))] * 1000 end
  print(string.format("lag %s jobs %d ticks %d p50_ms %.2f p99_ms %.2f max_ms %.2f", loop, count,
    #lags, ms(0.5), ms(0.99), ms(1)))
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
  pending(client, count_arg(4, "JOBS"), base_url, api_key)
  client:close()
elseif mode == "idle" then
  local client = new_client(base_url, api_key, IDLE_POLL_INTERVAL)
  idle(client, count_arg(4, "JOBS"), count_arg(5, "SECONDS"), count_arg(6, "STEP"))
  client:close()
elseif mode == "lag" then
  local client = assert(dalle.new {
    api_key = api_key,
    base_url = base_url,
    callback = base_url .. "/_mock/callback",
    poll_interval = LAG_POLL_INTERVAL,
    max_poll_interval = LAG_MAX_POLL_INTERVAL,
  })
  lag(client, count_arg(4, "JOBS"), count_arg(5, "SECONDS"), arg[6])
else
  io.stderr:write("usage: dalle_bench.lua throughput|pending|idle|lag BASE_URL API_KEY JOBS "
    .. "[CONCURRENCY | SECONDS STEP | SECONDS LOOP]\n")
  os.exit(2)
end
