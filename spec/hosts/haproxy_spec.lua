-- lua-dalle inside a real HAProxy (Debian 12's 2.6, Lua 5.3): the natural
-- code in spec/hosts/haproxy/app.lua (dalle.new with no loop option as the
-- script loads) picks dalle.haproxy. 20 requests to its Lua service, each
-- running generate then download, are served side by side while a 10 ms
-- ticker task keeps ticking and HAProxy stays mostly idle; a task does the
-- same once, and so does examples/haproxy.lua; a call's timeout holds; the driver task ends once nobody waits,
-- also when HAProxy drops a waiting request; and a call where HAProxy cannot
-- wait (init, sample fetch, converter) fails at once, naming the place.
local helper = require "helper"
local host = require "hosts.host"
local now = require("dalle.core").now

local JOBS = 20
-- Each job takes this long at the mock: a call that blocked HAProxy would
-- stall its ticker about as long.
local JOB_DELAY_MS = 1000
local MAX_TICK_LAG_MS = JOB_DELAY_MS / 2
-- The app's ticker task sleeps this long between ticks.
local TICK_SECONDS = 0.01
-- HAProxy's CPU time over the 20 jobs, as a share of the wall time, stays
-- under this: nothing spun.
local MAX_CPU_SHARE = 0.5
-- The watchdog kills HAProxy by then if the spec never stopped it.
local HOST_TIMEOUT = 120
local START_SECONDS = 10
-- curl gives up on a request after this.
local REQUEST_SECONDS = 40
-- The call with `timeout = CALL_TIMEOUT` against a job that never finishes
-- returns within these (generous: the mock may run under valgrind).
local CALL_TIMEOUT = 1
local TIMEOUT_BOUNDS = { 0.9, 5 }
-- The adapter's driver lingers 0.1 s after the last waiter: ended by then.
local DRIVER_END_SECONDS = 3
local NEVER_DONE_POLLS = 100000
local CORE_DIR = "build/lua5.3"

local sh_quote, wait_for, is_png = helper.sh_quote, host.wait_for, host.is_png

describe("HAProxy", function()
  local skipped, reason = host.skip_reason { name = "HAProxy", lua = "Lua 5.3", core_dir = CORE_DIR,
    commands = { "haproxy" }, install = "scripts/hosts/install-haproxy.sh" }
  if skipped then
    it(skipped, function() pending(reason) end)
    return
  end

  local mock, dir, base, cli_port, watchdog, pid

  local function log()
    return "HAProxy's log:\n" .. (helper.read_file(dir .. "/haproxy.log") or "(none)")
  end

  local function get(path)
    return helper.capture("curl -s --max-time " .. REQUEST_SECONDS .. " " .. sh_quote(base .. path))
  end

  -- The app's /report: its "key value" lines as a table.
  local function report()
    local values = {}
    for key, value in get("/report"):gmatch("(%S+) ([^\n]*)") do values[key] = value end
    return values
  end

  -- A command on HAProxy's admin socket; its answer.
  local function cli(command)
    local socket = require "socket"
    local connection = assert(socket.connect("127.0.0.1", cli_port))
    connection:settimeout(5)
    assert(connection:send(command .. "\n"))
    local answer = connection:receive("*a")
    connection:close()
    return answer or ""
  end

  local function drivers_running(count)
    return wait_for(function() return report().drivers_running == tostring(count) end,
      DRIVER_END_SECONDS)
  end

  setup(function()
    mock = helper.start_mock { "--delay-ms", tostring(JOB_DELAY_MS), "--polls", "2" }
    dir = helper.tmpdir()
    local port = helper.closed_port()
    repeat cli_port = helper.closed_port() until cli_port ~= port
    base = "http://127.0.0.1:" .. port
    local vars = host.client_vars(mock.url, CORE_DIR)
    vars.DALLE_CHECKOUT = host.CHECKOUT
    vars.DALLE_PORT = port
    vars.DALLE_CLI_PORT = cli_port
    vars.DALLE_MOCK_URL = mock.url
    vars.DALLE_OUT_DIR = dir
    watchdog, pid = host.start_watched(vars, "haproxy -db -f "
      .. sh_quote(host.CHECKOUT .. "/spec/hosts/haproxy/haproxy.cfg"), HOST_TIMEOUT, dir .. "/haproxy.log",
      START_SECONDS)
    assert(watchdog, "could not start haproxy")
    assert(pid, "haproxy did not start\n" .. log())
    assert(wait_for(function() return report().task end, START_SECONDS),
      "haproxy does not answer\n" .. log())
  end)

  teardown(function()
    if watchdog then host.stop_watched(watchdog, START_SECONDS) end
    mock:stop()
    helper.rmdir(dir)
  end)

  it("fails a call at once where HAProxy cannot wait, naming the place", function()
    local outcomes = {
      ["core.register_init"] = report().init,
      ["core.register_fetches"] = get("/fetch"),
      ["core.register_converters"] = get("/converter"),
    }
    for registration, outcome in pairs(outcomes) do
      assert.matches("^unsupported dalle unsupported: HAProxy cannot wait in ", outcome)
      assert.truthy(outcome:find("(" .. registration .. ")", 1, true), outcome)
    end
    -- Nothing went out for them: the only job submitted so far is the task's.
    for _, submit in ipairs(mock:requests_to("submit")) do
      assert.equals("haproxy task", submit.fields.prompt)
    end
  end)

  it("runs generate then download in a task started with HAProxy", function()
    local outcome = wait_for(function()
      local task = report().task
      return task ~= "pending" and task
    end, REQUEST_SECONDS)
    assert.equals("ok", outcome, log())
    assert.is_true(is_png(dir .. "/task.png"))
  end)

  it("serves examples/haproxy.lua: GET /image?prompt=... answers with the PNG", function()
    -- The example polls on the client's defaults (first after 2 s): the
    -- job is done by its first poll.
    mock:config { polls = 0 }
    finally(function() mock:config { polls = 2 } end)
    local image = dir .. "/example.png"
    local answer = helper.capture("curl -s --max-time " .. REQUEST_SECONDS .. " -o " .. sh_quote(image)
      .. " -w '%{http_code} %{content_type}' " .. sh_quote(base .. "/image?prompt=a%20red%20fox"))
    assert.equals("200 image/png", answer, (helper.read_file(image) or "") .. log())
    assert.is_true(is_png(image))
    local submits = mock:requests_to("submit")
    assert.equals("a red fox", submits[#submits].fields.prompt)
  end)

  it("serves " .. JOBS .. " requests at once, each generate then download, while a 10 ms ticker ticks",
    function()
      mock:reset()
      get("/tick")
      local cpu_before, started = host.cpu_seconds(pid), now()
      local requests = {}
      for i = 1, JOBS do
        requests[i] = "-o " .. sh_quote(dir .. "/reply-" .. i) .. " " .. sh_quote(base .. "/job?name=" .. i)
      end
      helper.capture("curl -s --parallel --parallel-immediate --parallel-max " .. JOBS .. " --max-time "
        .. REQUEST_SECONDS .. " " .. table.concat(requests, " ") .. " 2>/dev/null")
      local wall = now() - started
      local cpu = host.cpu_seconds(pid) - cpu_before
      local lags = {}
      for lag in get("/tick"):gmatch("[%d.]+") do lags[#lags + 1] = tonumber(lag) end

      for i = 1, JOBS do
        local reply = helper.read_file(dir .. "/reply-" .. i) or "(no reply)"
        assert.equals("ok", reply:match("^[^\n]*"), "job " .. i .. ": " .. reply .. "\n" .. log())
        assert.is_true(is_png(dir .. "/job-" .. i .. ".png"), "job " .. i)
      end
      assert.equals(JOBS, #mock:requests_to("submit"))
      -- The ticker ticked all along, never stalled as a blocking call would
      -- stall it, and HAProxy mostly slept.
      local p99, max = host.p99_and_max(lags)
      assert.is_true(#lags >= wall / TICK_SECONDS / 2, #lags .. " ticks in " .. wall .. " s")
      assert.is_true(max < MAX_TICK_LAG_MS, "a tick came " .. max .. " ms late")
      assert.is_true(cpu < MAX_CPU_SHARE * wall, string.format("%.2f s of CPU in %.2f s", cpu, wall))
      io.stdout:write(string.format("# hosts: haproxy, %d jobs in %.1f s; 10 ms ticker p99 lag %.1f ms "
        .. "over %d ticks; HAProxy CPU %.2f s (%.0f%% of the run)\n", JOBS, wall, p99, #lags, cpu,
        100 * cpu / wall))
    end)

  it("returns a call's timeout (timeout = " .. CALL_TIMEOUT .. ") at its deadline when the job never ends",
    function()
      mock:config { polls = NEVER_DONE_POLLS }
      finally(function() mock:config { polls = 2 } end)
      local started = now()
      local reply = get("/job?name=late&timeout=" .. CALL_TIMEOUT)
      local wall = now() - started
      local outcome, elapsed = reply:match("^([^\n]*)\n([%d.]+)")
      assert.matches("^timeout ", outcome or reply)
      elapsed = tonumber(elapsed)
      assert.is_true(elapsed >= TIMEOUT_BOUNDS[1] and elapsed <= TIMEOUT_BOUNDS[2],
        "the call returned after " .. elapsed .. " s")
      assert.is_true(wall <= TIMEOUT_BOUNDS[2], "the reply came after " .. wall .. " s")
    end)

  it("ends its driver task once nobody waits, also when HAProxy drops a waiting request", function()
    assert.is_truthy(drivers_running(0), "a driver still runs with nobody waiting")
    if not pcall(require, "socket") then
      pending("LuaSocket is missing: HAProxy's admin socket cannot be reached")
      return
    end
    mock:config { polls = NEVER_DONE_POLLS }
    finally(function() mock:config { polls = 2 } end)
    local curl = helper.capture("curl -s --max-time " .. REQUEST_SECONDS .. " "
      .. sh_quote(base .. "/job?name=dropped") .. " >/dev/null 2>&1 & echo $!"):match("%d+")
    finally(function() helper.run_ok("kill " .. curl .. " 2>/dev/null") end)
    assert.is_truthy(drivers_running(1), "no driver runs while a request waits")
    local session = cli("show sess"):match("(0x%x+): [^\n]*fe=dalle")
    assert(session, "the waiting request is not among HAProxy's sessions")
    cli("shutdown session " .. session)
    assert.is_truthy(drivers_running(0), "the driver outlived the dropped request")
  end)
end)
