-- callbacks: results by callback against polling alone, side by side on one
-- dalle-mock. How soon after a job's callback POST reached the client's
-- receiver the job's wait returned (its confirming GET included); with
-- polling alone, how long after the job was done at the mock (its callback
-- to the mock's own sink). GETs per job as the mock counted them, and a
-- burst of callbacks released together.
--
-- Usage (with LUA_PATH and LUA_CPATH pointing at lua/ and build/LUA/):
--   callbacks.lua run BASE_URL API_KEY JOBS MODE
--     MODE: callback (the client's receiver on loopback), trust (the same
--     with callback_confirm = false: no confirming GET), poll (polling alone,
--     the callbacks going to the mock's own sink) or burst (callback, with
--     every POST held at the mock until all jobs wait, then released
--     together). Prints one line:
--     "completed N p50 MS p99 MS max MS gets_mean G gets_max G wall S".
--   callbacks.lua idle BASE_URL API_KEY SECONDS receiver|none
--     a client with nothing in flight, driven by step(1) for SECONDS; prints
--     "returns N": how many times step came back (1 a second when nothing
--     wakes it), with or without a receiver listening.
local cjson = require "cjson"
local dalle = require "dalle"
local now = require("dalle.core").now

-- Jobs stay at the mock this long: every job is in flight before any ends.
local JOB_MS = 3000
local STEP_SECONDS = 1

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function control(base_url, path)
  local pipe = assert(io.popen("curl -s -X POST " .. sh_quote(base_url .. path)))
  local body = pipe:read("*a")
  pipe:close()
  return body
end

local function jobs_at_mock(base_url)
  local pipe = assert(io.popen("curl -s " .. sh_quote(base_url .. "/_mock/jobs")))
  local jobs = cjson.decode(pipe:read("*a"))
  pipe:close()
  return jobs
end

local function percentile(sorted, p)
  return sorted[math.max(1, math.ceil(#sorted * p))]
end

-- Job id --> when its callback reached the receiver (the log says).
local received = {}

local function new_client(base_url, api_key, mode)
  local config = { api_key = api_key, base_url = base_url, max_transfers = 256,
    log = function(record)
      if record.event == "callback" then received[record.job] = record.received_at end
    end }
  if mode == "poll" then
    config.callback = base_url .. "/_mock/callback"
  else
    config.callback_listen = "127.0.0.1:0"
    config.callback_confirm = mode ~= "trust"
  end
  return assert(dalle.new(config))
end

-- Every job in its own coroutine, driven by step as README shows, with
-- `each_turn()` called between steps; returns job id --> when its generate
-- returned.
local function run_jobs(client, count, each_turn)
  local finished, waiting = {}, 0
  local function resume(co)
    local ok, problem = coroutine.resume(co)
    if not ok then error(problem, 0) end
    if coroutine.status(co) == "dead" then waiting = waiting - 1 end
  end
  for i = 1, count do
    waiting = waiting + 1
    resume(coroutine.create(function()
      local result, err = client:generate { prompt = "bench " .. i, size = "256x256" }
      if not result then error(tostring(err), 0) end
      finished[result.id] = now()
    end))
  end
  while waiting > 0 do
    local _, ready = client:step(STEP_SECONDS)
    for _, co in ipairs(ready) do resume(co) end
    each_turn()
  end
  return finished
end

local function run(base_url, api_key, count, mode)
  control(base_url, "/_mock/reset")
  control(base_url, "/_mock/config?polls=0&delay_ms=" .. JOB_MS
    .. (mode == "burst" and "&callback_hold=1" or ""))
  local client = new_client(base_url, api_key, mode)
  local started = now()
  -- A burst is held until every job waits and is done at the mock.
  local release_at = mode == "burst" and started + JOB_MS / 1000 + 0.2
  local finished = run_jobs(client, count, function()
    if release_at and now() >= release_at then
      release_at = nil
      control(base_url, "/_mock/config?callback_hold=0")
    end
  end)
  local wall = now() - started
  client:close()
  local lags, gets_total, gets_max, completed = {}, 0, 0, 0
  for _, job in ipairs(jobs_at_mock(base_url)) do
    local seen, posted = finished[job.id], job.callbacks[1]
    local arrived = received[job.id] or (mode == "poll" and posted and posted.at)
    if seen and arrived then
      completed = completed + 1
      lags[#lags + 1] = (seen - arrived) * 1000
      gets_total = gets_total + job.gets
      gets_max = math.max(gets_max, job.gets)
    end
  end
  table.sort(lags)
  print(string.format("completed %d p50 %.2f p99 %.2f max %.2f gets_mean %.2f gets_max %d "
    .. "wall %.2f", completed, percentile(lags, 0.5) or -1, percentile(lags, 0.99) or -1,
    lags[#lags] or -1, gets_total / math.max(completed, 1), gets_max, wall))
end

local function idle(base_url, api_key, seconds, kind)
  local client = new_client(base_url, api_key, kind == "receiver" and "callback" or "poll")
  local stop, returns = now() + seconds, 0
  while now() < stop do
    client:step(1)
    returns = returns + 1
  end
  client:close()
  print("returns " .. returns)
end

local command = arg[1]
if command == "run" then
  run(arg[2], arg[3], tonumber(arg[4]), arg[5])
elseif command == "idle" then
  idle(arg[2], arg[3], tonumber(arg[4]), arg[5])
else
  io.stderr:write("usage: callbacks.lua run BASE_URL API_KEY JOBS callback|trust|poll|burst\n"
    .. "       callbacks.lua idle BASE_URL API_KEY SECONDS receiver|none\n")
  os.exit(2)
end
