-- lua-dalle inside a real Prosody 0.12 (Debian 12's, Lua 5.4, epoll
-- backend), no adapter: examples/prosody/mod_dalle.lua, run by the example's
-- own config, serves 20 GET /dalle/image requests side by side, each
-- generate then download in a coroutine that Prosody's loop resumes through
-- server.watchfd(client:pollfd()), while a 10 ms Prosody timer
-- (spec/hosts/prosody/mod_dalle_probe.lua) keeps ticking and Prosody stays
-- mostly idle, and idle once the jobs are done; unloading the module fails
-- a waiting request with the client's "closed" error.
local helper = require "helper"
local host = require "hosts.host"
local now = require("dalle.core").now

local JOBS = 20
-- Each job takes this long at the mock: a call that blocked Prosody would
-- stall its ticker about as long. With the example's own poll interval (the
-- client's default, 2 s) and one pending poll a job takes about 5 s.
local JOB_DELAY_MS = 1000
local MAX_TICK_LAG_MS = JOB_DELAY_MS / 2
-- The ticker ticked at least this share of the 10 ms slots of the run.
local MIN_TICK_SHARE = 0.3
local TICK_SECONDS = 0.01
-- Prosody's CPU time over the 20 jobs, as a share of the wall time, stays
-- under this: nothing spun.
local MAX_CPU_SHARE = 0.5
-- Once the jobs are done Prosody idles with only the ticker: its CPU time
-- over IDLE_SECONDS stays under this share of them.
local IDLE_SECONDS = 1
local MAX_IDLE_CPU_SHARE = 0.2
-- The watchdog kills Prosody by then if the spec never stopped it.
local HOST_TIMEOUT = 120
local START_SECONDS = 10
-- curl gives up on a request after this.
local REQUEST_SECONDS = 40
-- The request waiting on its first poll is this far in when the module
-- unloads.
local UNLOAD_AFTER_SECONDS = 0.5
local CORE_DIR = "build/lua5.4"

local sh_quote, wait_for, is_png = helper.sh_quote, host.wait_for, host.is_png

describe("Prosody", function()
  local skipped, reason = host.skip_reason { name = "Prosody", lua = "Lua 5.4", core_dir = CORE_DIR,
    commands = { "prosody" }, install = "scripts/hosts/install-prosody.sh" }
  if skipped then
    it(skipped, function() pending(reason) end)
    return
  end

  local mock, dir, base, watchdog, pid

  local function log()
    return "Prosody's log:\n" .. (helper.read_file(dir .. "/prosody.log") or "(none)")
  end

  local function get(path)
    return helper.capture("curl -s --max-time " .. REQUEST_SECONDS .. " " .. sh_quote(base .. path))
  end

  -- The ticker's lags since the last call, in seconds.
  local function lags()
    local values = {}
    for lag in get("/dalle_probe/lags"):gmatch("%S+") do values[#values + 1] = tonumber(lag) end
    return values
  end

  setup(function()
    mock = helper.start_mock { "--delay-ms", tostring(JOB_DELAY_MS), "--polls", "1" }
    dir = helper.tmpdir()
    assert(helper.run_ok("mkdir " .. sh_quote(dir .. "/data") .. " " .. sh_quote(dir .. "/images")
      .. " " .. sh_quote(dir .. "/responses")))
    local port = helper.closed_port()
    base = "http://127.0.0.1:" .. port
    local vars = host.client_vars(mock.url, CORE_DIR)
    vars.DALLE_HTTP_PORT = port
    vars.DALLE_PROSODY_DATA = dir .. "/data"
    vars.DALLE_OUT_DIR = dir .. "/images"
    watchdog, pid = host.start_watched(vars, "prosody -F --config "
      .. sh_quote(host.CHECKOUT .. "/spec/hosts/prosody/prosody.cfg.lua"), HOST_TIMEOUT, dir .. "/prosody.log",
      START_SECONDS)
    assert(watchdog, "could not start prosody")
    assert(pid, "prosody did not start\n" .. log())
    assert(wait_for(function()
      return helper.capture("curl -s -o /dev/null -w '%{http_code}' " .. sh_quote(base .. "/dalle_probe/lags"))
        == "200"
    end, START_SECONDS), "prosody does not answer\n" .. log())
  end)

  teardown(function()
    if watchdog then host.stop_watched(watchdog, START_SECONDS) end
    if mock then mock:stop() end
    if dir then helper.rmdir(dir) end
  end)

  it("serves " .. JOBS .. " images side by side while its timer ticks and it stays idle", function()
    lags()
    local cpu_before, started = host.cpu_seconds(pid), now()
    -- One curl for all: 20 curl processes starting at once would compete
    -- with Prosody for the CPU.
    local transfers = {}
    for i = 1, JOBS do
      transfers[i] = "-o " .. sh_quote(dir .. "/responses/" .. i .. ".png") .. " "
        .. sh_quote(base .. "/dalle/image?prompt=prosody+job+" .. i)
    end
    local answers = helper.capture("curl -s --parallel --parallel-immediate --parallel-max " .. JOBS
      .. " --max-time " .. REQUEST_SECONDS .. " -w '%{http_code} %{content_type}\\n' "
      .. table.concat(transfers, " ") .. " 2>/dev/null")
    local seconds, cpu = now() - started, host.cpu_seconds(pid) - cpu_before
    local ticks = lags()

    assert.equals(string.rep("200 image/png\n", JOBS), answers, log())
    local saved = helper.list_dir(dir .. "/images")
    assert.equals(JOBS, #saved, log())
    for i = 1, JOBS do
      assert.is_true(is_png(dir .. "/responses/" .. i .. ".png"), "response " .. i)
      assert.is_true(is_png(dir .. "/images/" .. saved[i]), saved[i])
    end
    assert.equals(JOBS, #mock:requests_to("submit"))
    assert.equals(JOBS, #mock:requests_to("image"))
    assert.is_nil(log():find("error", 1, true), log())

    local p99, worst = host.p99_and_max(ticks)
    assert.is_true(#ticks >= MIN_TICK_SHARE * seconds / TICK_SECONDS,
      "the ticker hardly ticked: " .. #ticks .. " ticks in " .. seconds .. " s")
    assert.is_true(worst * 1000 < MAX_TICK_LAG_MS, "the ticker stalled for " .. worst .. " s")
    assert.is_true(cpu < MAX_CPU_SHARE * seconds,
      string.format("Prosody used %.2f s of CPU in %.2f s", cpu, seconds))

    local idle_before = host.cpu_seconds(pid)
    helper.sleep(IDLE_SECONDS)
    local idle_cpu = host.cpu_seconds(pid) - idle_before
    assert.is_true(idle_cpu < MAX_IDLE_CPU_SHARE * IDLE_SECONDS,
      string.format("idle Prosody used %.2f s of CPU in %d s", idle_cpu, IDLE_SECONDS))

    io.stdout:write(string.format("# hosts: prosody, %d jobs in %.1f s; 10 ms ticker p99 lag %.1f ms "
      .. "(max %.1f ms) over %d ticks; Prosody CPU %.2f s, then %.2f s idle in %d s\n", JOBS, seconds,
      p99 * 1000, worst * 1000, #ticks, cpu, idle_cpu, IDLE_SECONDS))
  end)

  it("answers a request without a prompt with 400", function()
    assert.equals("400", helper.capture("curl -s -o /dev/null -w '%{http_code}' " .. sh_quote(base .. "/dalle/image")))
  end)

  -- Last: mod_dalle is gone after it.
  it("answers a request waiting when the module unloads with the client's closed error", function()
    local body, status = dir .. "/unloaded.txt", dir .. "/unloaded.status"
    local answer = helper.capture("curl -s --max-time " .. REQUEST_SECONDS .. " -o " .. sh_quote(body)
      .. " -w '%{http_code}' " .. sh_quote(base .. "/dalle/image?prompt=prosody+unload") .. " >"
      .. sh_quote(status) .. " & sleep " .. UNLOAD_AFTER_SECONDS .. "; curl -s -X POST "
      .. sh_quote(base .. "/dalle_probe/unload") .. "; wait")
    assert.equals("unloaded\n", answer, log())
    assert.equals("503", helper.read_file(status), log())
    assert.matches("^dalle closed: ", helper.read_file(body))
  end)
end)
