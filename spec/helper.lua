-- Shared by the specs: starts and stops a real dalle-mock on a free loopback
-- port, and reads what it received through its /_mock routes with curl.
local cjson = require "cjson"

local helper = {}

local MOCK = os.getenv("DALLE_MOCK") or "build/dalle-mock"
-- The dalle-mock binary the specs run, for a spec that starts one by hand.
helper.MOCK = MOCK
local START_SECONDS = 10

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
-- `s` as one word for sh, for specs that build command lines.
helper.sh_quote = sh_quote

-- Commands run by the specs leave out a sanitizer runtime preloaded into
-- the Lua process (make check-asan): it is for our code, not for sh or curl.
local function shell(cmd)
  return "unset LD_PRELOAD; " .. cmd
end

local function read_all(cmd)
  local f = assert(io.popen(shell(cmd), "r"))
  local out = f:read("*a")
  f:close()
  return out
end

-- os.execute says true/nil from 5.2 on and an exit status on 5.1.
local function run_ok(cmd)
  local r = os.execute(shell(cmd))
  return r == true or r == 0
end
helper.run_ok = run_ok

local function sleep(seconds)
  run_ok("sleep " .. seconds)
end
helper.sleep = sleep

function helper.url_escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local Mock = {}
Mock.__index = Mock

-- start_mock{"--shape", "data", ...} --> mock with .url, .port
function helper.start_mock(args)
  local dir = os.tmpname()
  os.remove(dir)
  local port_file = dir .. ".port"
  local log_file = dir .. ".log"
  local argv = { MOCK, "--port", "0", "--port-file", port_file, "--api-key", "test-key" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  for i, a in ipairs(argv) do argv[i] = sh_quote(a) end
  -- $PPID is this Lua process: the mock exits by itself if we die.
  local pid = read_all(table.concat(argv, " ") .. " --watch-pid $PPID >/dev/null 2>"
    .. sh_quote(log_file) .. " & echo $!"):match("%d+")
  assert(pid, "could not start dalle-mock")
  local port
  for _ = 1, START_SECONDS * 20 do
    local f = io.open(port_file, "r")
    if f then
      port = f:read("*n")
      f:close()
      if port then break end
    end
    sleep(0.05)
  end
  if not port then
    local f = io.open(log_file)
    local log = f and f:read("*a") or ""
    if f then f:close() end
    error("dalle-mock did not start: " .. log)
  end
  os.remove(port_file)
  return setmetatable({ pid = pid, port = port, url = "http://127.0.0.1:" .. port,
    log_file = log_file }, Mock)
end

-- Whether process `pid` still runs. A mock is reparented once its starting
-- shell exits, and where nothing reaps orphans it stays a zombie: that is
-- ended too (kill -0 would still find it).
local function running(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local stat = f:read("*a") or ""
  f:close()
  return stat:match("^%d+ %b() (%a)") ~= "Z"
end
helper.running = running

function Mock:stop()
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not running(self.pid) then break end
    sleep(0.05)
  end
  os.remove(self.log_file)
end

-- A control request to the mock's /_mock routes; returns the decoded body.
function Mock:control(method, path, query)
  local q = {}
  for k, v in pairs(query or {}) do q[#q + 1] = k .. "=" .. helper.url_escape(tostring(v)) end
  table.sort(q)
  local url = self.url .. path .. (#q > 0 and "?" .. table.concat(q, "&") or "")
  local body = read_all("curl -s -X " .. method .. " " .. sh_quote(url))
  return cjson.decode(body)
end

function Mock:reset() return self:control("POST", "/_mock/reset") end
function Mock:fault(spec) return self:control("POST", "/_mock/fault", spec) end
function Mock:config(spec) return self:control("POST", "/_mock/config", spec) end
function Mock:requests() return self:control("GET", "/_mock/requests") end
function Mock:callbacks() return self:control("GET", "/_mock/callbacks") end
function Mock:jobs() return self:control("GET", "/_mock/jobs") end

-- The requests the mock received on one route: "submit", "poll" or "image".
function Mock:requests_to(route)
  local suffix = ({ submit = "/sdk/models/dall%-e$", poll = "/sdk/art/", image = "/images/" })[route]
  local out = {}
  for _, r in ipairs(self:requests()) do
    if r.path:find(suffix) then out[#out + 1] = r end
  end
  return out
end

-- A client for this mock with quick polling, as the specs want it.
function Mock:client(extra)
  local dalle = require "dalle"
  local config = {
    api_key = "test-key",
    base_url = self.url,
    callback = self.url .. "/_mock/callback",
    poll_interval = 0.05,
    max_poll_interval = 0.2,
  }
  for k, v in pairs(extra or {}) do config[k] = v end
  return assert(dalle.new(config))
end

-- Inside a describe block: one mock for the block, reset before each test,
-- and a fresh client (mock:client(client_config)) for each test, closed
-- after it. Returns a table whose `mock` and `client` are set while tests
-- run; a test may put another client in `client`.
function helper.mock_per_test(client_config, mock_args)
  local busted = require "busted"
  local state = {}
  busted.setup(function() state.mock = helper.start_mock(mock_args) end)
  busted.teardown(function() state.mock:stop() end)
  busted.before_each(function()
    state.mock:reset()
    state.client = state.mock:client(client_config)
  end)
  busted.after_each(function() state.client:close() end)
  return state
end

-- The command line of the Lua interpreter running the specs.
function helper.interpreter()
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return arg[i]
end

-- Runs a shell command and returns its output.
function helper.capture(cmd)
  return read_all(cmd)
end

local function lua_command(script, env)
  local preload = os.getenv("LD_PRELOAD")
  return (env or "") .. " LUA_PATH=" .. sh_quote(package.path)
    .. " LUA_CPATH=" .. sh_quote(package.cpath)
    .. (preload and " LD_PRELOAD=" .. sh_quote(preload) or "")
    .. " " .. helper.interpreter() .. " " .. script .. " 2>&1"
end

-- Runs a Lua script with the interpreter and paths of the specs (and a
-- preloaded sanitizer runtime, since the child loads our core too); `script`
-- is the script and its arguments, `env` goes before the command. Returns
-- what it printed, stderr included.
function helper.run_lua(script, env)
  return read_all(lua_command(script, env))
end

-- A shell command started now and read later, so that several run side by
-- side: returns a function that waits for it and returns its output.
function helper.start(cmd)
  local f = assert(io.popen(shell(cmd), "r"))
  return function()
    local out = f:read("*a")
    f:close()
    return out
  end
end

-- The same for a Lua script, as run_lua runs it.
function helper.start_lua(script, env)
  return helper.start(lua_command(script, env))
end

-- The driver the README shows: step the client, resume the coroutines still
-- waiting, until all ended. Each wait must have yielded the client. Returns
-- {value, err} per coroutine, and how many times they yielded.
function helper.drive(client, coroutines)
  local results, yields, alive = {}, 0, #coroutines
  while alive > 0 do
    client:step(1)
    alive = 0
    for i, co in ipairs(coroutines) do
      if coroutine.status(co) == "suspended" then
        local ok, value, err = coroutine.resume(co)
        assert(ok, value)
        if coroutine.status(co) == "dead" then
          results[i] = { value, err }
        else
          assert(value == client, "a wait yielded something other than its client")
          yields = yields + 1
          alive = alive + 1
        end
      end
    end
  end
  return results, yields
end

-- A loopback port that nothing listens on: one a mock just gave up.
function helper.closed_port()
  local mock = helper.start_mock()
  mock:stop()
  return mock.port
end

-- Standard base64 with padding, for inline images the specs make.
local BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function helper.base64(bytes)
  local out = {}
  for i = 1, #bytes, 3 do
    local a, b, c = bytes:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = {}
    for k = 1, 4 do
      local index = math.floor(n / 64 ^ (4 - k)) % 64
      chars[k] = BASE64:sub(index + 1, index + 1)
    end
    if not b then chars[3] = "=" end
    if not c then chars[4] = "=" end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end

-- A module if it loads (an optional package: an event loop), else nil.
function helper.loaded(name)
  local ok, module = pcall(require, name)
  return ok and module or nil
end

-- A file of JSON lines (a record, a journal), each line decoded.
function helper.json_lines(path)
  local out = {}
  for line in (helper.read_file(path) or ""):gmatch("[^\n]+") do
    out[#out + 1] = assert(cjson.decode(line))
  end
  return out
end

function helper.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

function helper.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(run_ok("mkdir -p " .. sh_quote(dir)))
  return dir
end

function helper.rmdir(dir)
  os.execute("rm -rf " .. sh_quote(dir))
end

function helper.list_dir(dir)
  local names = {}
  for line in read_all("ls -A " .. sh_quote(dir)):gmatch("[^\n]+") do names[#names + 1] = line end
  return names
end

return helper
