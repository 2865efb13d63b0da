-- Shared by the specs that run lua-dalle inside a real app (spec/hosts/)
-- and by bench/hosts.lua: deciding whether the app can run here, starting
-- it under a watchdog (nginx with its configs) and stopping it, the
-- environment that points its Lua at this checkout and a mock, and
-- measuring it (CPU time, ticker lags, the files it wrote).
local helper = require "helper"
local now = require("dalle.core").now

local host = {}

local sh_quote = helper.sh_quote
local PNG_SIGNATURE = "\137PNG\r\n\26\n"
local CLOCK_TICKS = tonumber(helper.capture("getconf CLK_TCK"))
-- Seconds a curl request of host.get may take: every call in the apps ends within 30.
local CURL_MAX_TIME = 40
local NGINX_START_SECONDS = 10
-- Ports picked free can be taken before nginx binds them: tries this often.
local NGINX_PORT_ATTEMPTS = 3

-- The checkout's absolute path: the apps run elsewhere and load its code.
host.CHECKOUT = (helper.capture("pwd"):gsub("%s+$", ""))

-- What is missing for the app of `opts` (see host.skip_reason), or nil.
local function missing_part(opts)
  if opts.prefix then
    if not helper.read_file(opts.prefix .. "/installed") then
      return opts.package .. " is missing from " .. opts.prefix
    end
    return nil
  end
  for _, command in ipairs(opts.commands) do
    if not helper.run_ok("command -v " .. command .. " >/dev/null") then return command .. " is missing" end
  end
  return nil
end

-- Why the app cannot run here: the name and pending message of the one test
-- its describe block should hold instead, or nil when it can run. `opts`:
-- name, lua (the Lua the app embeds), core_dir (where the dalle.core built
-- for it is), install (the script that installs the app), and either commands (that
-- must be on PATH) or prefix and package (unpacked there, with a file
-- "installed"). The app runs its own Lua, so one busted run is enough.
function host.skip_reason(opts)
  if _VERSION ~= "Lua 5.4" then
    return "runs once, under the Lua 5.4 spec run",
      opts.name .. " runs its own " .. opts.lua .. " whatever Lua runs busted: one run is enough"
  end
  local missing = missing_part(opts)
  if missing then return "is not installed", missing .. " (" .. opts.install .. ")" end
  local core = opts.core_dir .. "/dalle/core.so"
  if not helper.read_file(core) then
    return "has no " .. opts.lua .. " core to load", core .. " is missing (make cores)"
  end
  return nil
end

-- `vars` ({name = value}) as environment assignments to put before a command.
function host.env(vars)
  local words = {}
  for name, value in pairs(vars) do words[#words + 1] = name .. "=" .. sh_quote(value) end
  return table.concat(words, " ")
end

-- The variables that make an app's Lua load this checkout with the core in
-- `core_dir` and make the examples' clients talk to the mock at `mock_url`.
function host.client_vars(mock_url, core_dir)
  return {
    AIRIGHT_API_KEY = "test-key",
    AIRIGHT_BASE_URL = mock_url,
    AIRIGHT_CALLBACK_URL = mock_url .. "/_mock/callback",
    LUA_PATH = host.CHECKOUT .. "/lua/?.lua;" .. host.CHECKOUT .. "/lua/?/init.lua;;",
    LUA_CPATH = host.CHECKOUT .. "/" .. core_dir .. "/?.so;;",
  }
end

-- Calls `probe` every 50 ms until it returns a true value (returned) or
-- `seconds` passed (nil).
function host.wait_for(probe, seconds)
  local deadline = now() + seconds
  repeat
    local value = probe()
    if value then return value end
    helper.sleep(0.05)
  until now() > deadline
  return nil
end

-- Whether process `pid` still runs.
function host.alive(pid)
  return helper.run_ok("kill -0 " .. pid .. " 2>/dev/null")
end

-- Starts `command` in the background with the environment `vars` (see
-- host.env) under timeout(1), killed after `timeout` seconds should the spec
-- never stop it, its output into `log_path` (with no sanitizer runtime
-- preloaded: the app is not what it is for); returns timeout's pid and, once
-- it forked, the command's (nil when either did not come within
-- `start_seconds`).
function host.start_watched(vars, command, timeout, log_path, start_seconds)
  local watchdog = helper.capture(host.env(vars) .. " timeout -k 5 " .. timeout .. " " .. command .. " >"
    .. sh_quote(log_path) .. " 2>&1 & echo $!"):match("%d+")
  if not watchdog then return nil end
  return watchdog, host.wait_for(function() return helper.capture("pgrep -P " .. watchdog):match("%d+") end,
    start_seconds)
end

-- Stops a command host.start_watched started, waiting up to `seconds` for it.
function host.stop_watched(watchdog, seconds)
  helper.run_ok("kill " .. watchdog .. " 2>/dev/null")
  host.wait_for(function() return not host.alive(watchdog) end, seconds)
end

-- The CPU seconds process `pid` has used (user and system).
function host.cpu_seconds(pid)
  local stat = assert(helper.read_file("/proc/" .. pid .. "/stat"), "no process " .. pid)
  local fields = {}
  for field in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = field end
  -- utime and stime, fields 14 and 15 of stat(5); the list starts at field 3, after the name.
  return (tonumber(fields[12]) + tonumber(fields[13])) / CLOCK_TICKS
end

-- "key value" lines (an app's results file or response) into
-- {key = {values...}}, where a key never seen reads as {}.
function host.read_lines(text)
  local lines = setmetatable({}, { __index = function() return {} end })
  for line in (text or ""):gmatch("[^\n]+") do
    local key, value = line:match("^(%S+) ?(.*)$")
    if rawget(lines, key) == nil then lines[key] = {} end
    table.insert(lines[key], value)
  end
  return lines
end

-- `values` (strings, as read_lines gives them) as numbers.
function host.numbers(values)
  local out = {}
  for i, value in ipairs(values) do out[i] = tonumber(value) end
  return out
end

-- The 99th percentile and the largest of `values`, 0 for none (sorts them).
function host.p99_and_max(values)
  table.sort(values)
  return values[math.max(1, math.ceil(#values * 0.99))] or 0, values[#values] or 0
end

-- Whether the file at `path` exists and starts as a PNG does.
function host.is_png(path)
  return (helper.read_file(path) or ""):sub(1, #PNG_SIGNATURE) == PNG_SIGNATURE
end

-- GET url --> body, seconds it took (nil, curl's words when it failed).
function host.get(url)
  local out = helper.capture("curl -sS --max-time " .. CURL_MAX_TIME .. " -w '\\n%{time_total}' "
    .. sh_quote(url) .. " 2>&1")
  local body, seconds = out:match("^(.*)\n([%d.]+)$")
  if not body then return nil, out end
  return body, tonumber(seconds)
end

-- nginx with lua-nginx-module, as scripts/hosts/install-nginx.sh unpacks it
-- beside Debian's luajit, running spec/hosts/nginx/'s configs and app.
local nginx = {
  PREFIX = os.getenv("DALLE_NGINX_PREFIX") or "/opt/lua-dalle-hosts/nginx",
  CORE_DIR = "build/luajit",
}
host.nginx = nginx

-- Writes run/<name> from spec/hosts/nginx/<name> with its @NAME@s filled.
function nginx.write_config(name, run, port)
  local checkout = host.CHECKOUT
  local values = {
    MODULES = nginx.PREFIX .. "/usr/lib/nginx/modules",
    RUN = run,
    PORT = port and tostring(port),
    LUA_PATH = checkout .. "/lua/?.lua;" .. checkout .. "/lua/?/init.lua;" .. checkout
      .. "/spec/hosts/nginx/?.lua;" .. nginx.PREFIX .. "/usr/share/lua/5.1/?.lua;;",
    LUA_CPATH = checkout .. "/" .. nginx.CORE_DIR .. "/?.so;;",
  }
  local template = assert(helper.read_file("spec/hosts/nginx/" .. name))
  local file = assert(io.open(run .. "/" .. name, "w"))
  file:write((template:gsub("@([%u_]+)@", values)))
  file:close()
end

-- The command line running the unpacked nginx on run/<config>.
function nginx.command(run, config)
  return "env -u LUA_PATH -u LUA_CPATH -u LUA_INIT LD_LIBRARY_PATH=" .. sh_quote(nginx.PREFIX .. "/luajit-lib")
    .. " " .. sh_quote(nginx.PREFIX .. "/usr/sbin/nginx") .. " -p " .. sh_quote(run .. "/") .. " -c "
    .. sh_quote(run .. "/" .. config)
end

-- Starts nginx in the foreground on a free loopback port, running
-- spec/hosts/nginx/app.lua against the mock at `mock_url` with its images
-- into `images`, killed after `timeout` seconds; `wrapper` (words such as
-- "taskset -c 1", or nil) goes before nginx's command. Returns {pid (of
-- timeout), worker (nginx's pid), url} once it answers.
function nginx.start(run, mock_url, images, timeout, wrapper)
  local context = ""
  for _ = 1, NGINX_PORT_ATTEMPTS do
    local port = helper.closed_port()
    nginx.write_config("nginx.conf", run, port)
    local pid = helper.capture("DALLE_MOCK_URL=" .. sh_quote(mock_url) .. " DALLE_NGINX_IMAGES="
      .. sh_quote(images) .. " timeout -k 5 " .. timeout .. " " .. (wrapper and wrapper .. " " or "")
      .. nginx.command(run, "nginx.conf") .. " >" .. sh_quote(run .. "/stderr.log") .. " 2>&1 & echo $!"):match("%d+")
    local url = "http://127.0.0.1:" .. port
    local started = now()
    while host.alive(pid) and now() - started < NGINX_START_SECONDS do
      local body = host.get(url .. "/tick")
      local worker = body and host.read_lines(body).pid[1]
      if worker then return { pid = pid, worker = worker, url = url } end
      helper.sleep(0.05)
    end
    context = (helper.read_file(run .. "/stderr.log") or "") .. (helper.read_file(run .. "/error.log") or "")
    if host.alive(pid) then
      os.execute("kill " .. pid)
      break
    end
    if not context:find("Address already in use", 1, true) then break end
  end
  error("nginx did not start:\n" .. context)
end

-- Stops what nginx.start started.
function nginx.stop(started)
  os.execute("kill " .. started.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not host.alive(started.pid) and not host.alive(started.worker) then return end
    helper.sleep(0.05)
  end
  os.execute("kill -9 " .. started.pid .. " " .. started.worker .. " 2>/dev/null")
end

return host
