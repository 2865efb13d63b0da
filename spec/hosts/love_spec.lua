-- lua-dalle inside a real LÖVE 11.4 (Debian 12's, LuaJIT) under Xvfb, no
-- adapter: examples/love, run as it is by spec/hosts/love (which holds each
-- frame to a 10 ms slot, as vsync would), makes 20 images side by side, each
-- generate then download in a coroutine that the example's love.update
-- resumes, stepping the client within its per-frame budget; the frames keep
-- coming on time, the example's update takes a small share of them, LÖVE
-- stays well under a CPU, and the example quits once all are saved.
local helper = require "helper"

local JOBS = 20
-- Each job takes this long at the mock: a call that blocked the frame loop
-- would hold a frame about as long. With the example's own poll interval
-- (the client's default, 2 s) and one pending poll a job takes about 5 s.
local JOB_DELAY_MS = 1000
local MAX_FRAME_LAG_MS = JOB_DELAY_MS / 2
-- Frames came in at least this share of the 10 ms slots of the run.
local MIN_FRAME_SHARE = 0.3
local FRAME_SECONDS = 0.01
-- The example's love.update, all frames together, took less than this share
-- of the run: it steps within its budget and only while calls wait.
local MAX_UPDATE_SHARE = 0.1
-- LÖVE's CPU time over the run, drawing included, as a share of the wall
-- time, stays under this: nothing spun.
local MAX_CPU_SHARE = 0.5
-- LÖVE (and Xvfb) are killed by then if the example never quit.
local HOST_TIMEOUT = 50
local PNG_SIGNATURE = "\137PNG\r\n\26\n"
local CORE = "build/luajit/dalle/core.so"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The results file: "key value" lines into {key = {values...}}.
local function read_results(path)
  local results = setmetatable({}, { __index = function() return {} end })
  for line in (helper.read_file(path) or ""):gmatch("[^\n]+") do
    local key, value = line:match("^(%S+) ?(.*)$")
    if rawget(results, key) == nil then results[key] = {} end
    table.insert(results[key], value)
  end
  return results
end

-- The 99th percentile and the largest of `values` (sorts them).
local function p99_and_max(values)
  table.sort(values)
  return values[math.max(1, math.ceil(#values * 0.99))] or 0, values[#values] or 0
end

local function numbers(values)
  local out = {}
  for i, value in ipairs(values) do out[i] = tonumber(value) end
  return out
end

local function is_png(path)
  return (helper.read_file(path) or ""):sub(1, #PNG_SIGNATURE) == PNG_SIGNATURE
end

describe("LÖVE", function()
  if _VERSION ~= "Lua 5.4" then
    it("runs once, under the Lua 5.4 spec run", function()
      pending("LÖVE runs its own LuaJIT whatever Lua runs busted: one run is enough")
    end)
    return
  end
  for _, command in ipairs { "love", "xvfb-run", "xauth" } do
    if not helper.run_ok("command -v " .. command .. " >/dev/null") then
      it("is not installed", function() pending(command .. " is missing (scripts/hosts/install-love.sh)") end)
      return
    end
  end
  if not helper.read_file(CORE) then
    it("has no LuaJIT core to load", function() pending(CORE .. " is missing (make cores)") end)
    return
  end

  local mock, dir

  setup(function()
    mock = helper.start_mock { "--delay-ms", tostring(JOB_DELAY_MS), "--polls", "1" }
    dir = helper.tmpdir()
    assert(helper.run_ok("mkdir " .. sh_quote(dir .. "/images")))
  end)

  teardown(function()
    if mock then mock:stop() end
    if dir then helper.rmdir(dir) end
  end)

  it("makes " .. JOBS .. " images side by side while its frames keep coming", function()
    local checkout = helper.capture("pwd"):gsub("%s+$", "")
    local env = {
      "DALLE_EXAMPLE=" .. sh_quote(checkout .. "/examples/love"),
      "DALLE_RESULTS=" .. sh_quote(dir .. "/results"),
      "DALLE_JOBS=" .. JOBS,
      "DALLE_QUIT_WHEN_DONE=1",
      "DALLE_OUT_DIR=" .. sh_quote(dir .. "/images"),
      "AIRIGHT_API_KEY=test-key",
      "AIRIGHT_BASE_URL=" .. sh_quote(mock.url),
      "AIRIGHT_CALLBACK_URL=" .. sh_quote(mock.url .. "/_mock/callback"),
      "LUA_PATH=" .. sh_quote(checkout .. "/lua/?.lua;" .. checkout .. "/lua/?/init.lua;;"),
      "LUA_CPATH=" .. sh_quote(checkout .. "/build/luajit/?.so;;"),
    }
    -- LÖVE is not the process a sanitizer runtime is preloaded for. timeout
    -- signals its whole process group: xvfb-run, Xvfb and LÖVE.
    local output = helper.capture("unset LD_PRELOAD; " .. table.concat(env, " ") .. " timeout -k 5 "
      .. HOST_TIMEOUT .. " xvfb-run -a love " .. sh_quote(checkout .. "/spec/hosts/love")
      .. " 2>&1; echo \"exit $?\"")
    local results = read_results(dir .. "/results")
    local context = output .. "\n" .. (helper.read_file(dir .. "/results") or "(no results file)")

    assert.matches("exit 0\n$", output, nil, false, context)
    assert.matches("\nimages saved: " .. JOBS .. "; frames drawn meanwhile: [1-9]%d*\n", output, nil, false, context)
    local saved = helper.list_dir(dir .. "/images")
    assert.equals(JOBS, #saved, context)
    for _, name in ipairs(saved) do assert.is_true(is_png(dir .. "/images/" .. name), name) end
    assert.equals(JOBS, #mock:requests_to("submit"))
    assert.equals(JOBS, #mock:requests_to("image"))

    local lags, updates = numbers(results.lag), numbers(results.update)
    local p99, worst = p99_and_max(lags)
    local update_seconds = 0
    for _, seconds in ipairs(updates) do update_seconds = update_seconds + seconds end
    local _, longest_update = p99_and_max(updates)
    local seconds, cpu = tonumber(results.run_seconds[1]), tonumber(results.run_cpu_seconds[1])
    assert.is_true(#lags >= MIN_FRAME_SHARE * seconds / FRAME_SECONDS,
      "the frames hardly came: " .. #lags .. " frames in " .. seconds .. " s")
    assert.is_true(worst * 1000 < MAX_FRAME_LAG_MS, "a frame was late by " .. worst .. " s")
    assert.is_true(update_seconds < MAX_UPDATE_SHARE * seconds,
      string.format("love.update took %.2f s of %.2f s", update_seconds, seconds))
    assert.is_true(cpu < MAX_CPU_SHARE * seconds, string.format("LÖVE used %.2f s of CPU in %.2f s", cpu, seconds))

    io.stdout:write(string.format("# hosts: love, %d jobs in %.1f s; 10 ms ticker p99 lag %.1f ms "
      .. "(max %.1f ms) over %d frames; love.update %.2f s in all, longest %.1f ms; LÖVE CPU %.2f s\n",
      JOBS, seconds, p99 * 1000, worst * 1000, #lags, update_seconds, longest_update * 1000, cpu))
  end)
end)
