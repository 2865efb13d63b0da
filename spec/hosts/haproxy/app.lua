-- What HAProxy runs for spec/hosts/haproxy_spec.lua: the natural code (one
-- client made as the script loads, no loop option) in a service whose every
-- request generates then downloads an image, in a task, and in an init
-- function, a sample fetch and a converter (where HAProxy cannot wait); a
-- 10 ms ticker task; and a count of the adapter's driver tasks running.
-- luacheck: read globals core
-- luacheck: globals core.register_task
local dalle = require "dalle"
local now = require("dalle.core").now

local MOCK_URL = assert(os.getenv("DALLE_MOCK_URL"), "DALLE_MOCK_URL is not set")
local OUT_DIR = assert(os.getenv("DALLE_OUT_DIR"), "DALLE_OUT_DIR is not set")
local TICK_MS = 10
-- Small images: the mock drawing large ones takes the CPUs HAProxy shares
-- with it, and the ticker would measure that.
local SIZE = "256x256"

-- How many of the adapter's driver tasks run.
local drivers_running = 0

local client = assert(dalle.new {
  api_key = "test-key",
  base_url = MOCK_URL,
  callback = MOCK_URL .. "/_mock/callback",
  poll_interval = 0.05,
  max_poll_interval = 0.2,
})

-- generate then download to OUT_DIR/<name>.png: "ok", or the error's kind
-- and text; and the seconds it took.
local function make_image(name, timeout)
  local started = now()
  local result, err = client:generate { prompt = "haproxy " .. name, size = SIZE, timeout = timeout }
  if result then
    local _
    _, err = client:download(result, OUT_DIR .. "/" .. name .. ".png")
  end
  local elapsed = now() - started
  if err then return err.kind .. " " .. tostring(err), elapsed end
  return "ok", elapsed
end

local function reply(applet, status, body)
  applet:set_status(status)
  applet:add_header("content-type", "text/plain")
  applet:add_header("content-length", tostring(#body))
  applet:start_response()
  applet:send(body)
end

-- /job?name=N[&timeout=S]: "<outcome>\n<seconds>\n"
core.register_service("dalle", "http", function(applet)
  local name = applet.qs:match("name=([%w-]+)")
  if not name then return reply(applet, 400, "name= is missing\n") end
  local outcome, elapsed = make_image("job-" .. name, tonumber(applet.qs:match("timeout=([%d.]+)")))
  reply(applet, 200, outcome .. "\n" .. string.format("%.3f", elapsed) .. "\n")
end)

-- How late each tick came, in ms, since /tick was last read.
local lags = {}
local ticking = true
core.register_task(function()
  local last = now()
  while ticking do
    core.msleep(TICK_MS)
    local t = now()
    lags[#lags + 1] = math.max(0, (t - last) * 1000 - TICK_MS)
    last = t
  end
end)

-- /tick?stop=1 also stops the ticker for good (bench/hosts.lua measures
-- HAProxy idle without it).
core.register_service("tick", "http", function(applet)
  if applet.qs:find("stop=1", 1, true) then ticking = false end
  local lines = {}
  for i, lag in ipairs(lags) do lines[i] = string.format("%.3f", lag) end
  lags = {}
  reply(applet, 200, table.concat(lines, "\n") .. "\n")
end)

local task_outcome = "pending"
core.register_task(function()
  task_outcome = make_image("task")
end)

local init_outcome = "not run"
core.register_init(function()
  init_outcome = make_image("init")
end)

core.register_fetches("dalle_in_fetch", function()
  return (make_image("fetch"))
end)

core.register_converters("dalle_in_converter", function()
  return (make_image("converter"))
end)

-- "key value" lines.
core.register_service("report", "http", function(applet)
  reply(applet, 200, table.concat({
    "task " .. task_outcome,
    "init " .. init_outcome,
    "drivers_running " .. drivers_running,
  }, "\n") .. "\n")
end)

-- Tasks started from here on are the adapter's drivers (the script's own
-- started above).
local register_task = core.register_task
function core.register_task(fn)
  return register_task(function()
    drivers_running = drivers_running + 1
    local ok, problem = pcall(fn)
    drivers_running = drivers_running - 1
    if not ok then error(problem, 0) end
  end)
end
