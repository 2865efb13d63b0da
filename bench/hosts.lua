-- bench/hosts.lua: the benchmark's rows for the apps that embed Lua (nginx,
-- HAProxy, Neovim, LÖVE, mpv, Prosody). Each app makes JOBS calls at once,
-- generate then download in its own handler or coroutine, against
-- dalle-mock while a 10 ms ticker ticks in it; then it rests with the ticker
-- on and idles with the ticker stopped. The apps, their code and how they
-- start are spec/hosts/'s.
--
-- Usage, from the checkout (bench/run.sh runs it last):
--   lua5.4 bench/hosts.lua [--rounds N] [--no-pin] [--smoke] [APP...]
--   --rounds N  runs of each app, interleaved; each row shows its median run
--               by the ticker's p99 lag while every call is in flight
--               (default 1)
--   --no-pin    let the scheduler place the mock and the app (by default, with
--               2 CPUs or more, the mock and what stands for the outside world
--               run on CPU 0 and the app on CPU 1, as in bench/run.sh)
--   --smoke     5 calls in each app and short windows: proves every row still
--               runs
--   APP...      some of nginx, haproxy, nvim, love, mpv, prosody (default all)
-- An app that is not installed (make deps-hosts) shows as such and fails
-- nothing; one that is installed and fails fails the run. The table goes to
-- stdout, progress and failures to stderr; exits 1 if an app failed.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/lua5.4/?.so;" .. package.cpath

local helper = require "helper"
local host = require "hosts.host"
local now = require("dalle.core").now

-- jobs: calls at once. delay_ms: how long a job takes at the mock (with one
-- pending poll), so every call is in flight that long; the apps that poll on
-- the client's default schedule (at 2, 4 and 7 s: LÖVE, mpv, Prosody)
-- finish at the first poll after it. window_from: when, after the first
-- call, the window "every call in flight" starts; it ends WINDOW_MARGIN
-- before the first job can be done. idle_seconds: the rest, then the idle
-- window.
local SETTINGS = { jobs = 200, delay_ms = 6500, window_from = 1, idle_seconds = 3 }
local SMOKE_SETTINGS = { jobs = 5, delay_ms = 1500, window_from = 0.5, idle_seconds = 0.5 }
local WINDOW_MARGIN = 0.5
local MOCK_POLLS = 1
-- The target: the ticker's p99 lag while every call is in flight.
local TARGET_P99_SECONDS = 0.002
-- An app is killed by then whatever happens.
local APP_TIMEOUT = 120
local START_SECONDS = 10
-- curl gives up on a request after this.
local REQUEST_SECONDS = 60

local sh_quote, capture, read_file = helper.sh_quote, helper.capture, helper.read_file
local read_lines, numbers = host.read_lines, host.numbers

local function say(...)
  io.stderr:write("bench: ", string.format(...), "\n")
end

local function sleep_until(time)
  local left = time - now()
  if left > 0 then helper.sleep(string.format("%.3f", left)) end
end

local function mkdir(path)
  assert(helper.run_ok("mkdir -p " .. sh_quote(path)))
  return path
end

-- The CPU seconds the threads of process `pid` have run so far, to the
-- nanosecond (the first field of each /proc/PID/task/*/schedstat), which a
-- short idle window needs: /proc/PID/stat counts in 10 ms ticks.
local function precise_cpu_seconds(pid)
  local total = 0
  for ns in capture("cat /proc/" .. pid .. "/task/*/schedstat 2>/dev/null"):gmatch("(%d+) %d+ %d+") do
    total = total + tonumber(ns)
  end
  return total / 1e9
end

-- Fails the run unless `dir` holds `count` PNG files.
local function check_images(dir, count, context)
  local pngs = 0
  for _, name in ipairs(helper.list_dir(dir)) do
    if host.is_png(dir .. "/" .. name) then pngs = pngs + 1 end
  end
  if pngs ~= count then error(string.format("%d images saved of %d\n%s", pngs, count, context()), 0) end
end

-- Starts `command` as host.start_watched does, its output into
-- run.dir/app.log; returns its pid, stopped when the run ends.
local function start_server(run, vars, command)
  local watchdog, pid = host.start_watched(vars, command, APP_TIMEOUT, run.dir .. "/app.log", START_SECONDS)
  assert(watchdog, "could not start " .. command)
  run.finally(function() host.stop_watched(watchdog, START_SECONDS) end)
  if not pid then error("it did not start:\n" .. (read_file(run.dir .. "/app.log") or ""), 0) end
  return pid
end

local function concat(...)
  local all = {}
  for _, list in ipairs { ... } do
    for _, value in ipairs(list) do all[#all + 1] = value end
  end
  return all
end

-- A server app's run: `server` has pid, base (its URL), path(i) (the
-- request of job i), reply_ok(i, reply) (whether job i's reply is right),
-- lags(stop) (the ticker's lags since the last call, in seconds, cleared;
-- stopping it for good if `stop`) and log() (for a failure to show). One curl
-- (on the mock's side of the machine) sends every request at once; the
-- lags are read as the window starts and ends. Then the app rests, its
-- lags read again, and idles with the ticker stopped. Returns the figures
-- of APPS below.
local function serve(run, server)
  local args = {}
  for i = 1, run.jobs do
    args[i] = "-o " .. sh_quote(run.dir .. "/reply-" .. i) .. " " .. sh_quote(server.base .. server.path(i))
  end
  server.lags()
  local cpu_before, started = host.cpu_seconds(server.pid), now()
  local curl = assert(io.popen("unset LD_PRELOAD; " .. run.pin.outside .. "curl -sS --no-progress-meter --max-time "
    .. REQUEST_SECONDS .. " --parallel --parallel-immediate --parallel-max " .. run.jobs .. " "
    .. table.concat(args, " ") .. " 2>&1"))
  sleep_until(started + run.window[1])
  local before = server.lags()
  local pending = 0
  for _, job in ipairs(run.mock:jobs()) do
    if job.state == "pending" then pending = pending + 1 end
  end
  sleep_until(started + run.window[2])
  local window = server.lags()
  local output = curl:read("a")
  curl:close()
  local figures = { wall = now() - started, cpu = host.cpu_seconds(server.pid) - cpu_before, in_flight = pending }
  figures.lags, figures.window_lags = concat(before, window, server.lags()), window
  for i = 1, run.jobs do
    local reply = read_file(run.dir .. "/reply-" .. i) or "(no reply)"
    if not server.reply_ok(i, reply) then error("job " .. i .. ": " .. reply .. "\n" .. output .. server.log(), 0) end
  end
  helper.sleep(run.idle_seconds)
  figures.rest_lags = server.lags(true)
  local idle_before = precise_cpu_seconds(server.pid)
  helper.sleep(run.idle_seconds)
  figures.idle_cpu = precise_cpu_seconds(server.pid) - idle_before
  return figures
end

-- Runs `command` (an app that ends by itself, writing its figures to
-- run.dir/results) to its end; returns its results and a function giving
-- its output and results, for a failure to show.
local function run_to_end(run, vars, command)
  local output = capture("unset LD_PRELOAD; cd " .. sh_quote(run.dir) .. " && " .. host.env(vars) .. " timeout -k 5 "
    .. APP_TIMEOUT .. " " .. command .. " 2>&1; echo \"exit $?\"")
  local results = read_file(run.dir .. "/results")
  local function context() return output .. "\n" .. (results or "(no results file)") end
  if not output:match("exit 0\n$") then error(context(), 0) end
  return read_lines(results), context
end

-- The figures of APPS below from run_to_end's results: lag and tick_at
-- (seconds since the jobs started) for each tick, rest_lag,
-- run_seconds, run_cpu_seconds and idle_cpu_seconds.
local function figures_of(run, results, idle_note)
  local lags, ticks_at = numbers(results.lag), numbers(results.tick_at)
  assert(#ticks_at == #lags, "a tick_at for each lag")
  local window_lags = {}
  for i, at in ipairs(ticks_at) do
    if at >= run.window[1] and at < run.window[2] then window_lags[#window_lags + 1] = lags[i] end
  end
  return {
    wall = tonumber(results.run_seconds[1]),
    lags = lags,
    window_lags = window_lags,
    rest_lags = numbers(results.rest_lag),
    cpu = tonumber(results.run_cpu_seconds[1]),
    idle_cpu = tonumber(results.idle_cpu_seconds[1]),
    idle_note = idle_note,
  }
end

-- The apps, in the order of the table. Each `measure(run)` makes run.jobs
-- calls and returns what it saw: wall (seconds from the first call to the
-- last result), cpu (the app's CPU seconds meanwhile), lags (seconds late, a
-- tick each), window_lags (those of the ticks while every call was in
-- flight), rest_lags (the ticks' over run.idle_seconds after the jobs),
-- idle_cpu (its CPU seconds over run.idle_seconds more, the ticker stopped),
-- maybe in_flight (the jobs pending at the mock as the window opened) and
-- idle_note; it raises an error if any call failed.
local APPS = {}
local ORDER = { "nginx", "haproxy", "nvim", "love", "mpv", "prosody" }

APPS.nginx = {
  title = "nginx + lua-nginx-module (LuaJIT)",
  skip = { name = "nginx", lua = "LuaJIT", core_dir = host.nginx.CORE_DIR, prefix = host.nginx.PREFIX,
    package = "nginx with lua-nginx-module", install = "scripts/hosts/install-nginx.sh" },
  measure = function(run)
    local images = mkdir(run.dir .. "/images")
    local nginx = host.nginx.start(run.dir, run.mock.url, images, APP_TIMEOUT, run.pin.app)
    run.finally(function() host.nginx.stop(nginx) end)
    local figures = serve(run, {
      pid = nginx.worker,
      base = nginx.url,
      path = function(i) return "/job?i=" .. i end,
      reply_ok = function(i, reply) return reply == "saved job-" .. i .. "\n" end,
      lags = function(stop)
        return numbers(read_lines(assert(host.get(nginx.url .. "/tick?clear=1" .. (stop and "&stop=1" or "")))).lag)
      end,
      log = function() return read_file(run.dir .. "/error.log") or "" end,
    })
    check_images(images, run.jobs, function() return read_file(run.dir .. "/error.log") or "" end)
    return figures
  end,
}

APPS.haproxy = {
  title = "HAProxy (Lua 5.3)",
  skip = { name = "HAProxy", lua = "Lua 5.3", core_dir = "build/lua5.3", commands = { "haproxy" },
    install = "scripts/hosts/install-haproxy.sh" },
  measure = function(run)
    local port = helper.closed_port()
    local cli_port
    repeat cli_port = helper.closed_port() until cli_port ~= port
    local base = "http://127.0.0.1:" .. port
    local vars = host.client_vars(run.mock.url, "build/lua5.3")
    vars.DALLE_CHECKOUT = host.CHECKOUT
    vars.DALLE_PORT = port
    vars.DALLE_CLI_PORT = cli_port
    vars.DALLE_MOCK_URL = run.mock.url
    vars.DALLE_OUT_DIR = mkdir(run.dir .. "/images")
    local pid = start_server(run, vars, run.pin.app .. "haproxy -db -f "
      .. sh_quote(host.CHECKOUT .. "/spec/hosts/haproxy/haproxy.cfg"))
    local function log() return read_file(run.dir .. "/app.log") or "" end
    -- The app's own task makes an image as HAProxy starts: done before the jobs.
    if not host.wait_for(function()
      local task = read_lines(host.get(base .. "/report")).task[1]
      return task and task ~= "pending"
    end, REQUEST_SECONDS) then error("HAProxy's task did not end\n" .. log(), 0) end
    local figures = serve(run, {
      pid = pid,
      base = base,
      path = function(i) return "/job?name=" .. i end,
      reply_ok = function(_, reply) return reply:match("^ok\n") ~= nil end,
      -- The app's ticker notes its lags in ms.
      lags = function(stop)
        local values = {}
        for lag in assert(host.get(base .. "/tick" .. (stop and "?stop=1" or ""))):gmatch("[%d.]+") do
          values[#values + 1] = lag / 1000
        end
        return values
      end,
      log = log,
    })
    -- The jobs' images and the task's.
    check_images(vars.DALLE_OUT_DIR, run.jobs + 1, log)
    return figures
  end,
}

APPS.nvim = {
  title = "Neovim, headless (LuaJIT)",
  skip = { name = "Neovim", lua = "LuaJIT", core_dir = "build/luajit", commands = { "nvim" },
    install = "scripts/hosts/install-nvim.sh" },
  measure = function(run)
    local images = mkdir(run.dir .. "/images")
    local results, context = run_to_end(run, {
      DALLE_MOCK_URL = run.mock.url,
      DALLE_NVIM_IMAGES = images,
      DALLE_NVIM_RESULTS = run.dir .. "/results",
      DALLE_NVIM_JOBS = run.jobs,
      DALLE_NVIM_IDLE_SECONDS = run.idle_seconds,
    }, run.pin.app .. "nvim --headless -u NONE -i NONE -n -c "
      .. sh_quote("luafile " .. host.CHECKOUT .. "/spec/hosts/nvim/jobs.lua"))
    if results.jobs_done[1] ~= tostring(run.jobs) or #results.error > 0 then error(context(), 0) end
    check_images(images, run.jobs, context)
    return figures_of(run, results)
  end,
}

APPS.love = {
  title = "LÖVE under Xvfb (LuaJIT)",
  skip = { name = "LÖVE", lua = "LuaJIT", core_dir = "build/luajit", commands = { "love", "xvfb-run", "xauth" },
    install = "scripts/hosts/install-love.sh" },
  measure = function(run)
    local vars = host.client_vars(run.mock.url, "build/luajit")
    vars.DALLE_EXAMPLE = host.CHECKOUT .. "/examples/love"
    vars.DALLE_RESULTS = run.dir .. "/results"
    vars.DALLE_JOBS = run.jobs
    vars.DALLE_QUIT_WHEN_DONE = "1"
    vars.DALLE_OUT_DIR = mkdir(run.dir .. "/images")
    vars.DALLE_IDLE_SECONDS = run.idle_seconds
    -- Xvfb stands for the display: it runs on the mock's side, LÖVE on the app's.
    local results, context = run_to_end(run, vars, run.pin.outside .. "xvfb-run -a " .. run.pin.app .. "love "
      .. sh_quote(host.CHECKOUT .. "/spec/hosts/love"))
    if not context():find("\nimages saved: " .. run.jobs .. ";") then error(context(), 0) end
    check_images(vars.DALLE_OUT_DIR, run.jobs, context)
    -- LÖVE draws its frames while idle too: the example's love.update is its driver's part.
    return figures_of(run, results, string.format("drawing frames; love.update %.2f ms",
      1000 * tonumber(results.idle_update_seconds[1])))
  end,
}

APPS.mpv = {
  title = "mpv (Lua 5.2)",
  skip = { name = "mpv", lua = "Lua 5.2", core_dir = "build/lua5.2", commands = { "mpv" },
    install = "scripts/hosts/install-mpv.sh" },
  measure = function(run)
    local vars = host.client_vars(run.mock.url, "build/lua5.2")
    vars.DALLE_EXAMPLE = host.CHECKOUT .. "/examples/mpv.lua"
    vars.DALLE_RESULTS = run.dir .. "/results"
    -- with_ticker.lua sends one more, as a script message.
    vars.DALLE_JOBS = run.jobs - 1
    vars.DALLE_QUIT_WHEN_DONE = "1"
    vars.DALLE_OUT_DIR = mkdir(run.dir .. "/images")
    vars.DALLE_IDLE_SECONDS = run.idle_seconds
    local results, context = run_to_end(run, vars, run.pin.app .. "mpv --no-config --idle=yes --vo=null --ao=null "
      .. "--script=" .. sh_quote(host.CHECKOUT .. "/spec/hosts/mpv/with_ticker.lua"))
    if not context():find("images saved so far: " .. run.jobs .. "%s") then error(context(), 0) end
    check_images(vars.DALLE_OUT_DIR, run.jobs, context)
    return figures_of(run, results)
  end,
}

APPS.prosody = {
  title = "Prosody (Lua 5.4)",
  skip = { name = "Prosody", lua = "Lua 5.4", core_dir = "build/lua5.4", commands = { "prosody" },
    install = "scripts/hosts/install-prosody.sh" },
  measure = function(run)
    local port = helper.closed_port()
    local base = "http://127.0.0.1:" .. port
    local vars = host.client_vars(run.mock.url, "build/lua5.4")
    vars.DALLE_HTTP_PORT = port
    vars.DALLE_PROSODY_DATA = mkdir(run.dir .. "/data")
    vars.DALLE_OUT_DIR = mkdir(run.dir .. "/images")
    local pid = start_server(run, vars, run.pin.app .. "prosody -F --config "
      .. sh_quote(host.CHECKOUT .. "/spec/hosts/prosody/prosody.cfg.lua"))
    local function log() return read_file(run.dir .. "/app.log") or "" end
    if not host.wait_for(function()
      return capture("curl -s -o /dev/null -w '%{http_code}' " .. sh_quote(base .. "/dalle_probe/lags")) == "200"
    end, START_SECONDS) then
      error("Prosody does not answer\n" .. log(), 0)
    end
    local figures = serve(run, {
      pid = pid,
      base = base,
      path = function(i) return "/dalle/image?prompt=prosody+job+" .. i end,
      reply_ok = function(i) return host.is_png(run.dir .. "/reply-" .. i) end,
      lags = function(stop)
        local body, values = assert(host.get(base .. "/dalle_probe/lags")), {}
        for lag in body:gmatch("%S+") do values[#values + 1] = assert(tonumber(lag), body) end
        if stop then assert(capture("curl -s -X POST " .. sh_quote(base .. "/dalle_probe/stop")) == "stopped\n") end
        return values
      end,
      log = log,
    })
    check_images(vars.DALLE_OUT_DIR, run.jobs, log)
    return figures
  end,
}

local function usage()
  io.stderr:write("usage: lua5.4 bench/hosts.lua [--rounds N] [--no-pin] [--smoke] [APP...]\n")
  os.exit(2)
end

-- The options, from the command line.
local function parse(args)
  local options = { rounds = 1, pin = true, settings = SETTINGS, apps = {} }
  local i = 1
  while args[i] do
    local word = args[i]
    if word == "--rounds" then
      options.rounds = tonumber(args[i + 1] or "")
      if not options.rounds or options.rounds < 1 or options.rounds % 1 ~= 0 then usage() end
      i = i + 1
    elseif word == "--no-pin" then
      options.pin = false
    elseif word == "--smoke" then
      options.settings = SMOKE_SETTINGS
    elseif APPS[word] then
      options.apps[#options.apps + 1] = word
    else
      usage()
    end
    i = i + 1
  end
  if #options.apps == 0 then options.apps = ORDER end
  return options
end

-- Words put before commands: taskset, or nothing; and what the placement is.
local function placement(pin)
  if pin and tonumber(capture("nproc")) >= 2 and helper.run_ok("command -v taskset >/dev/null") then
    return { mock = "0", outside = "taskset -c 0 ", app = "taskset -c 1 " },
      "pinned: the mock, curl and Xvfb on CPU 0, the app on CPU 1"
  end
  return { outside = "", app = "" }, "not pinned: the scheduler places the mock and the app"
end

-- One run of app `name` against a fresh mock: its figures, or nil and why it failed.
local function run_once(name, settings, pin)
  local run = { jobs = settings.jobs, pin = pin, dir = helper.tmpdir(), idle_seconds = settings.idle_seconds,
    window = { settings.window_from, settings.delay_ms / 1000 - WINDOW_MARGIN } }
  local cleanups = {}
  function run.finally(cleanup) cleanups[#cleanups + 1] = cleanup end
  local ok, outcome = pcall(function()
    run.mock = helper.start_mock { "--single-thread", "--quiet", "--polls", tostring(MOCK_POLLS), "--delay-ms",
      tostring(settings.delay_ms) }
    run.finally(function() run.mock:stop() end)
    if pin.mock then assert(helper.run_ok("taskset -apc " .. pin.mock .. " " .. run.mock.pid .. " >/dev/null")) end
    return APPS[name].measure(run)
  end)
  for i = #cleanups, 1, -1 do cleanups[i]() end
  helper.rmdir(run.dir)
  if not ok then return nil, tostring(outcome) end
  return outcome
end

local function ms(seconds) return string.format("%.2f", seconds * 1000) end

-- "p50 / p99 / max" of `values` in ms (sorts them), and the p99 in seconds.
local function spread(values)
  table.sort(values)
  local function at(share) return values[math.max(1, math.ceil(#values * share))] or 0 end
  return string.format("%s / %s / %s", ms(at(0.5)), ms(at(0.99)), ms(values[#values] or 0)), at(0.99)
end

-- The table row of an app's median run of `list`.
local function row(title, jobs, list)
  for _, figures in ipairs(list) do
    figures.window_text, figures.p99 = spread(figures.window_lags)
  end
  table.sort(list, function(a, b) return a.p99 < b.p99 end)
  local median = list[math.floor((#list + 1) / 2)]
  local rounds = #list > 1 and string.format("%d (%s-%s)", #list, ms(list[1].p99), ms(list[#list].p99)) or "1"
  local late = ""
  for _, figures in ipairs(list) do
    if figures.in_flight and figures.in_flight < jobs then
      late = string.format(" (a run had %d in flight as the window opened)", figures.in_flight)
    end
  end
  return string.format("| %s | %d | %.1f | %d: %s%s | %s | %s | %s | %.2f (%.0f%%) | %s%s | %s |", title, jobs,
    median.wall, #median.window_lags, median.window_text, late, median.p99 < TARGET_P99_SECONDS and "yes" or "no",
    (spread(median.lags)), (spread(median.rest_lags)), median.cpu, 100 * median.cpu / median.wall,
    ms(median.idle_cpu), median.idle_note and " (" .. median.idle_note .. ")" or "", rounds)
end

local function main()
  local options = parse(arg)
  local settings = options.settings
  local pin, where = placement(options.pin)
  local runs, skipped, failed = {}, {}, {}
  for _, name in ipairs(options.apps) do
    runs[name] = {}
    local why, detail = host.skip_reason(APPS[name].skip)
    if why then skipped[name] = why .. ": " .. detail end
  end
  for round = 1, options.rounds do
    for _, name in ipairs(options.apps) do
      if not skipped[name] and not failed[name] then
        say("%s, %d calls at once (round %d of %d)", name, settings.jobs, round, options.rounds)
        local figures, problem = run_once(name, settings, pin)
        if figures then
          table.insert(runs[name], figures)
        else
          failed[name] = problem:match("^[^\n]*")
          say("%s FAILED: %s", name, problem)
        end
      end
    end
  end

  local window_to = settings.delay_ms / 1000 - WINDOW_MARGIN
  print(string.format("Inside other apps: %d calls at once, each generate then download in the app's own handler "
    .. "or coroutine, against dalle-mock (one thread; a job is done after %g s and one pending poll), with a 10 ms "
    .. "ticker in the app. Every call is in flight from %g s to %g s after the first; after the jobs the app rests "
    .. "%g s, then idles %g s with the ticker stopped. %s.", settings.jobs, settings.delay_ms / 1000,
    settings.window_from, window_to, settings.idle_seconds, settings.idle_seconds, (where:gsub("^%l", string.upper))))
  print()
  print("| app | calls | wall s | all in flight: ticks: lag p50 / p99 / max ms | p99 under 2 ms "
    .. "| whole run: lag p50 / p99 / max ms | at rest: lag p50 / p99 / max ms | app CPU s in the run "
    .. "| idle: app CPU ms | rounds (p99 range in flight, ms) |")
  print("|---|---:|---:|---|---|---|---|---:|---|---|")
  for _, name in ipairs(options.apps) do
    local title = APPS[name].title
    if skipped[name] then
      print(string.format("| %s | | | %s | | | | | | |", title, skipped[name]))
    elseif failed[name] then
      print(string.format("| %s | | | FAILED: %s | | | | | | |", title, failed[name]))
    else
      print(row(title, settings.jobs, runs[name]))
    end
  end
  if next(failed) then os.exit(1) end
end

main()
