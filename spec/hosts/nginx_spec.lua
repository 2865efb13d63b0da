-- lua-dalle inside real nginx (Debian's nginx and lua-nginx-module, unpacked
-- by scripts/hosts/install-nginx.sh): the natural code (a client per worker
-- made by dalle.new alone, generate then download in content handlers) picks
-- dalle.ngx and serves 20 requests at once while a 10 ms ngx.timer keeps
-- ticking and other requests are answered, then costs nothing while idle;
-- rewrite, access, timer and light-thread code waits the same way; phases
-- where nginx cannot wait get a clear error, and a client made before the
-- fork stops nginx from starting. spec/hosts/nginx/ holds the configs and
-- the app nginx runs.
local helper = require "helper"
local host = require "hosts.host"
local now = require("dalle.core").now

local JOBS = 20
-- Each job takes this long at the mock: a ticker that never paused that
-- long shows no wait held up the worker.
local JOB_DELAY_MS = 2000
-- nginx is killed by then whatever happens to this spec.
local HOST_TIMEOUT = 55
local START_SECONDS = 10
-- Seconds a curl request may take: every call in the app ends within 30.
local CURL_MAX_TIME = 40
-- The worker's CPU time over the run, as a share of the wall time, stays
-- under this: nothing spun (a spinning wait used it all).
local MAX_CPU_SHARE = 0.5
-- A /tick asked for mid-run is answered within this many seconds (a spinning
-- wait held it up for the whole job).
local MAX_TICK_SECONDS = 1
-- When the mid-run /tick is asked for, with every job waiting at the mock.
local MID_RUN_SECONDS = 0.5
-- With nobody waiting, the worker wakes for the ticker and little else; a
-- driver still stepping every few milliseconds adds well over 100 a second.
local MAX_IDLE_EXTRA_WAKEUPS = 50
local IDLE_SECONDS = 1
-- The app's calls made where nginx cannot wait, by phase.
local REFUSING_PHASES = { "init_worker", "set", "header_filter", "log" }

local sh_quote, read_lines, cpu_seconds, get = helper.sh_quote, host.read_lines, host.cpu_seconds, host.get
local nginx_host = host.nginx

-- Starts one curl fetching every request {path, name} from `base` side by
-- side, each body into dir/<name>; returns a function that waits for it and
-- returns its output, and one that reads the body of a name.
local function fetch_all(base, requests, dir)
  local args = {}
  for _, request in ipairs(requests) do
    args[#args + 1] = "-o " .. sh_quote(dir .. "/" .. request.name) .. " " .. sh_quote(base .. request.path)
  end
  local curl = assert(io.popen("unset LD_PRELOAD; curl -sS --no-progress-meter --max-time " .. CURL_MAX_TIME
    .. " --parallel --parallel-immediate --parallel-max " .. #requests .. " " .. table.concat(args, " ")
    .. " 2>&1", "r"))
  local function wait()
    local out = curl:read("*a")
    curl:close()
    return out
  end
  return wait, function(name) return helper.read_file(dir .. "/" .. name) end
end

-- How many times process `pid` went to sleep of its own accord: once per
-- turn of nginx's event loop that waited.
local function wakeups(pid)
  local status = assert(helper.read_file("/proc/" .. pid .. "/status"), "nginx is gone")
  return tonumber(status:match("\nvoluntary_ctxt_switches:%s*(%d+)"))
end

describe("nginx", function()
  local skipped, reason = host.skip_reason { name = "nginx", lua = "LuaJIT", core_dir = nginx_host.CORE_DIR,
    prefix = nginx_host.PREFIX, package = "nginx with lua-nginx-module", install = "scripts/hosts/install-nginx.sh" }
  if skipped then
    it(skipped, function() pending(reason) end)
    return
  end

  local mock, run, images, responses, nginx, submits_at_start

  setup(function()
    mock = helper.start_mock { "--delay-ms", tostring(JOB_DELAY_MS), "--polls", "2" }
    run = helper.tmpdir()
    images, responses = run .. "/images", run .. "/responses"
    assert(helper.run_ok("mkdir " .. sh_quote(images) .. " " .. sh_quote(responses)))
    nginx = nginx_host.start(run, mock.url, images, HOST_TIMEOUT)
    submits_at_start = #mock:requests_to("submit")
  end)

  teardown(function()
    if nginx then nginx_host.stop(nginx) end
    if mock then mock:stop() end
    if run then helper.rmdir(run) end
  end)

  -- error.log, for a failing check to show.
  local function log()
    return "error.log:\n" .. (helper.read_file(run .. "/error.log") or "(none)")
  end

  it("serves " .. JOBS .. " natural generate+download requests at once; the worker stays free", function()
    local submits = #mock:requests_to("submit")
    assert(get(nginx.url .. "/tick?clear=1"))
    local cpu_before, started = cpu_seconds(nginx.worker), now()
    local requests = {}
    for i = 1, JOBS do requests[i] = { path = "/job?i=" .. i, name = "job-" .. i } end
    local wait, body_of = fetch_all(nginx.url, requests, responses)
    helper.sleep(MID_RUN_SECONDS)
    local mid_run, mid_run_seconds = get(nginx.url .. "/tick")
    local curl_output = wait()
    local seconds, cpu = now() - started, cpu_seconds(nginx.worker) - cpu_before
    local after = read_lines(assert(get(nginx.url .. "/tick?clear=1")))

    for i = 1, JOBS do
      assert.equals("saved job-" .. i .. "\n", body_of("job-" .. i), curl_output .. "\n" .. log())
      assert.is_true(host.is_png(images .. "/job-" .. i .. ".png"), "image " .. i)
    end
    assert.equals(JOBS, #mock:requests_to("submit") - submits)

    -- Answered while the jobs waited, and at once.
    assert.is_string(mid_run, mid_run_seconds)
    assert.is_true(tonumber(read_lines(mid_run).in_flight[1]) > 0, mid_run)
    assert.is_true(mid_run_seconds < MAX_TICK_SECONDS, "/tick took " .. mid_run_seconds .. " s mid-run")

    local lags = host.numbers(after.lag)
    local p99, worst = host.p99_and_max(lags)
    assert.is_true(#lags >= 10, "the ticker hardly ticked: " .. #lags .. " ticks")
    assert.is_true(worst < JOB_DELAY_MS / 1000, "the ticker stalled for " .. worst .. " s")
    assert.is_true(cpu < MAX_CPU_SHARE * seconds,
      string.format("the worker used %.2f s of CPU in %.2f s", cpu, seconds))

    io.stdout:write(string.format("# hosts: nginx, %d jobs in %.1f s; 10 ms ticker p99 lag %.1f ms "
      .. "over %d ticks; worker CPU %.2f s; /tick mid-run answered in %.1f ms\n", JOBS, seconds,
      p99 * 1000, #lags, cpu, mid_run_seconds * 1000))
  end)

  it("stops driving once nobody waits: an idle worker wakes for its ticker alone", function()
    assert(get(nginx.url .. "/tick?clear=1"))
    local before, started = wakeups(nginx.worker), now()
    helper.sleep(IDLE_SECONDS)
    local woke, seconds = wakeups(nginx.worker) - before, now() - started
    local ticks = #read_lines(assert(get(nginx.url .. "/tick?clear=1"))).lag
    local extra = (woke - ticks) / seconds
    assert.is_true(ticks > 0, "the ticker stopped")
    assert.is_true(extra < MAX_IDLE_EXTRA_WAKEUPS, string.format(
      "idle, the worker woke %d times in %.2f s besides its %d ticks", woke - ticks, seconds, ticks))
  end)

  it("waits the same way in rewrite, access and timer code, in light threads, on a client made in "
    .. "a handler, and on a cancel or close from a timer", function()
    local submits, downloads = #mock:requests_to("submit"), #mock:requests_to("image")
    local requests = {
      { path = "/rewrite", name = "rewrite" }, { path = "/access", name = "access" },
      { path = "/timer", name = "timer" }, { path = "/threads", name = "threads" },
      { path = "/own-client", name = "own-client" },
      { path = "/cancel", name = "cancel" }, { path = "/close", name = "close" },
    }
    local wait, body_of = fetch_all(nginx.url, requests, responses)
    local context = wait() .. "\n" .. log()

    for _, phase in ipairs { "rewrite", "access", "timer" } do
      assert.equals("saved " .. phase .. "\n", body_of(phase), context)
      assert.is_true(host.is_png(images .. "/" .. phase .. ".png"), phase)
    end
    for name, image in pairs { threads = "thread", ["own-client"] = "own" } do
      assert.equals(string.format("saved %s-1\nsaved %s-2\n", image, image), body_of(name), context)
      for i = 1, 2 do assert.is_true(host.is_png(images .. "/" .. image .. "-" .. i .. ".png"), image .. i) end
    end
    -- The job takes JOB_DELAY_MS at the mock: only the interruption ends the wait sooner.
    for _, interruption in ipairs { { "cancel", "canceled" }, { "close", "closed" } } do
      local lines = read_lines(body_of(interruption[1]))
      assert.same({ interruption[2] }, lines.ended, context)
      assert.is_true(tonumber(lines.waited[1]) < JOB_DELAY_MS / 1000, body_of(interruption[1]))
    end
    -- rewrite, access, timer, two threads, two on the handler's client, the canceled and the closed.
    assert.equals(9, #mock:requests_to("submit") - submits)
    assert.equals(7, #mock:requests_to("image") - downloads)
  end)

  it("fails a call at once, naming the phase, where nginx cannot wait", function()
    local submits = #mock:requests_to("submit")
    local set_phase = assert(get(nginx.url .. "/set"))
    assert(get(nginx.url .. "/header-filter"))
    assert(get(nginx.url .. "/log"))
    -- The log phase runs after its response went out.
    local refusals
    for _ = 1, 20 do
      refusals = read_lines(assert(get(nginx.url .. "/refusals")))
      if rawget(refusals, "log") then break end
      helper.sleep(0.05)
    end
    for _, phase in ipairs(REFUSING_PHASES) do
      assert.equals("dalle unsupported: nginx cannot wait in the " .. phase .. " phase: call lua-dalle "
        .. "from rewrite_by_lua*, access_by_lua*, content_by_lua* or an ngx.timer callback",
        refusals[phase][1], log())
    end
    assert.equals(refusals.set[1] .. "\n", set_phase)
    -- None reached the service, nor did the one in init_worker, before any test.
    assert.equals(0, #mock:requests_to("submit") - submits)
    assert.equals(0, submits_at_start)
  end)

  it("refuses a client made in init_by_lua, which every worker would share after the fork", function()
    local check = helper.tmpdir()
    finally(function() helper.rmdir(check) end)
    nginx_host.write_config("init_phase.conf", check)
    local output = helper.capture("timeout -k 5 " .. START_SECONDS .. " "
      .. nginx_host.command(check, "init_phase.conf") .. " 2>&1; echo \"exit $?\"")
      .. (helper.read_file(check .. "/error.log") or "")
    assert.matches("lua-dalle: a client made in nginx's init phase (init_by_lua*) would be shared by every "
      .. "worker process after the fork; make it in init_worker_by_lua* or in a handler", output, 1, true)
    assert.matches("exit 1\n", output)
  end)

  it("logged no error in the worker all along", function()
    local problems = {}
    for line in (helper.read_file(run .. "/error.log") or ""):gmatch("[^\n]+") do
      if line:match("%[error%]") or line:match("%[crit%]") or line:match("%[alert%]")
          or line:match("%[emerg%]") then
        problems[#problems + 1] = line
      end
    end
    assert.same({}, problems)
  end)
end)
