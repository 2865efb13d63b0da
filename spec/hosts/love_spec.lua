-- lua-dalle inside a real LÖVE 11.4 (Debian 12's, LuaJIT) under Xvfb, no
-- adapter: examples/love, run as it is by spec/hosts/love (which holds each
-- frame to a 10 ms slot, as vsync would), makes 20 images side by side, each
-- generate then download in a coroutine that the example's love.update
-- resumes, stepping the client within its per-frame budget; the frames keep
-- coming on time, the example's update takes a small share of them, LÖVE
-- stays well under a CPU, and the example quits once all are saved.
local helper = require "helper"
local host = require "hosts.host"

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
local CORE_DIR = "build/luajit"

local sh_quote = helper.sh_quote

describe("LÖVE", function()
  local skipped, reason = host.skip_reason { name = "LÖVE", lua = "LuaJIT", core_dir = CORE_DIR,
    commands = { "love", "xvfb-run", "xauth" }, install = "scripts/hosts/install-love.sh" }
  if skipped then
    it(skipped, function() pending(reason) end)
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
    local vars = host.client_vars(mock.url, CORE_DIR)
    vars.DALLE_EXAMPLE = host.CHECKOUT .. "/examples/love"
    vars.DALLE_RESULTS = dir .. "/results"
    vars.DALLE_JOBS = JOBS
    vars.DALLE_QUIT_WHEN_DONE = "1"
    vars.DALLE_OUT_DIR = dir .. "/images"
    -- LÖVE is not the process a sanitizer runtime is preloaded for. timeout
    -- signals its whole process group: xvfb-run, Xvfb and LÖVE.
    local output = helper.capture("unset LD_PRELOAD; " .. host.env(vars) .. " timeout -k 5 "
      .. HOST_TIMEOUT .. " xvfb-run -a love " .. sh_quote(host.CHECKOUT .. "/spec/hosts/love")
      .. " 2>&1; echo \"exit $?\"")
    local results = host.read_lines(helper.read_file(dir .. "/results"))
    local context = output .. "\n" .. (helper.read_file(dir .. "/results") or "(no results file)")

    assert.matches("exit 0\n$", output, nil, false, context)
    assert.matches("\nimages saved: " .. JOBS .. "; frames drawn meanwhile: [1-9]%d*\n", output, nil, false, context)
    local saved = helper.list_dir(dir .. "/images")
    assert.equals(JOBS, #saved, context)
    for _, name in ipairs(saved) do assert.is_true(host.is_png(dir .. "/images/" .. name), name) end
    assert.equals(JOBS, #mock:requests_to("submit"))
    assert.equals(JOBS, #mock:requests_to("image"))

    local lags, updates = host.numbers(results.lag), host.numbers(results.update)
    local p99, worst = host.p99_and_max(lags)
    local update_seconds = 0
    for _, seconds in ipairs(updates) do update_seconds = update_seconds + seconds end
    local _, longest_update = host.p99_and_max(updates)
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
