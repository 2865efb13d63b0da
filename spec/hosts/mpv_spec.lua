-- lua-dalle inside a real mpv 0.35 (Debian 12's, Lua 5.2), no adapter:
-- examples/mpv.lua, run as it is by spec/hosts/mpv/with_ticker.lua, makes 20
-- images side by side (19 at start, one from a script message), each
-- generate then download in a coroutine that the example's periodic timer
-- resumes, while a 10 ms mpv timer in the same script keeps ticking and mpv
-- stays mostly idle; the example's timer runs only while a call waits, and
-- the example quits mpv once all are saved.
local helper = require "helper"
local host = require "hosts.host"

local JOBS = 20
-- Each job takes this long at the mock: a call that blocked the script
-- thread would stall its ticker about as long. With the example's own poll
-- interval (the client's default, 2 s) and one pending poll a job takes
-- about 5 s.
local JOB_DELAY_MS = 1000
local MAX_TICK_LAG_MS = JOB_DELAY_MS / 2
-- The ticker ticked at least this share of the 10 ms slots of the run.
local MIN_TICK_SHARE = 0.3
local TICK_SECONDS = 0.01
-- mpv's CPU time over the run, as a share of the wall time, stays under
-- this: nothing spun.
local MAX_CPU_SHARE = 0.5
-- mpv is killed by then if the example never quit it.
local HOST_TIMEOUT = 50
local MESSAGE_PROMPT = "mpv script message"
local CORE_DIR = "build/lua5.2"

local sh_quote = helper.sh_quote

describe("mpv", function()
  local skipped, reason = host.skip_reason { name = "mpv", lua = "Lua 5.2", core_dir = CORE_DIR,
    commands = { "mpv" }, install = "scripts/hosts/install-mpv.sh" }
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

  it("makes " .. JOBS .. " images side by side while its timer ticks and mpv stays idle", function()
    local vars = host.client_vars(mock.url, CORE_DIR)
    vars.DALLE_EXAMPLE = host.CHECKOUT .. "/examples/mpv.lua"
    vars.DALLE_RESULTS = dir .. "/results"
    vars.DALLE_JOBS = JOBS - 1
    vars.DALLE_QUIT_WHEN_DONE = "1"
    vars.DALLE_OUT_DIR = dir .. "/images"
    -- mpv is not the process a sanitizer runtime is preloaded for; it ends
    -- before this returns, whatever happens, by the example or by timeout.
    local output = helper.capture("unset LD_PRELOAD; " .. host.env(vars) .. " timeout -k 5 "
      .. HOST_TIMEOUT .. " mpv --no-config --idle=yes --vo=null --ao=null --script="
      .. sh_quote(host.CHECKOUT .. "/spec/hosts/mpv/with_ticker.lua") .. " 2>&1; echo \"exit $?\"")
    local results = host.read_lines(helper.read_file(dir .. "/results"))
    local context = output .. "\n" .. (helper.read_file(dir .. "/results") or "(no results file)")

    assert.matches("exit 0\n$", output, nil, false, context)
    assert.truthy(output:find("images saved so far: " .. JOBS .. "%s"), context)
    local saved = helper.list_dir(dir .. "/images")
    assert.equals(JOBS, #saved, context)
    for _, name in ipairs(saved) do assert.is_true(host.is_png(dir .. "/images/" .. name), name) end
    local submits = mock:requests_to("submit")
    assert.equals(JOBS, #submits)
    assert.equals(JOBS, #mock:requests_to("image"))
    local from_message = 0
    for _, submit in ipairs(submits) do
      if submit.fields.prompt == MESSAGE_PROMPT then from_message = from_message + 1 end
    end
    assert.equals(1, from_message)

    -- The example's stepper ran while calls waited, and not once they ended.
    assert.same({ "1" }, results.example_timers, context)
    assert.same({ "true" }, results.waiting_timer_enabled, context)
    assert.same({ "false" }, results.idle_timer_enabled, context)

    local lags = host.numbers(results.lag)
    local p99, worst = host.p99_and_max(lags)
    local seconds, cpu = tonumber(results.run_seconds[1]), tonumber(results.run_cpu_seconds[1])
    assert.is_true(#lags >= MIN_TICK_SHARE * seconds / TICK_SECONDS,
      "the ticker hardly ticked: " .. #lags .. " ticks in " .. seconds .. " s")
    assert.is_true(worst * 1000 < MAX_TICK_LAG_MS, "the ticker stalled for " .. worst .. " s")
    assert.is_true(cpu < MAX_CPU_SHARE * seconds, string.format("mpv used %.2f s of CPU in %.2f s", cpu, seconds))

    io.stdout:write(string.format("# hosts: mpv, %d jobs in %.1f s; 10 ms ticker p99 lag %.1f ms "
      .. "(max %.1f ms) over %d ticks; mpv CPU %.2f s\n", JOBS, seconds, p99 * 1000, worst * 1000, #lags, cpu))
  end)
end)
