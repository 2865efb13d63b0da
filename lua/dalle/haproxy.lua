-- Runs a client inside HAProxy's Lua (core.register_task, services, actions):
-- a call suspends its own HAProxy context in short core.msleep ticks until
-- woken, while one driver task steps the client without blocking, and only
-- while someone waits. Where HAProxy cannot resume a context (init functions,
-- sample fetches, converters) a call fails at once, naming it.
-- luacheck: read globals core
-- luacheck: globals core.register_fetches core.register_converters
local now = require("dalle.core").now

local isyieldable = coroutine.isyieldable -- nil before Lua 5.3

local M = {}

-- How often a suspended call looks whether it was woken: each look is a
-- yield to HAProxy's scheduler, never a spin.
local WAKE_CHECK_MS = 5
-- How often the driver task steps the client, and how many non-blocking
-- steps it takes each time (each does a bounded amount of work).
local DRIVE_TICK_MS = 5
local STEPS_PER_TICK = 4
-- The driver stops once no waiter has looked this long: every call ended,
-- or HAProxy dropped the contexts still waiting (a session shut down).
local DRIVER_LINGER = 0.1
-- A waiter that has not looked for this long was dropped by HAProxy mid-wait
-- (its session shut down): its waits are abandoned.
local ABANDONED_AFTER = 1

local INSTEAD = ": call it from a task, a service or an action"
local INIT_REFUSAL = "HAProxy cannot wait in an init function (core.register_init)" .. INSTEAD

-- Sample fetches and converters run to the end without ever yielding: the
-- functions registered as such once this module loaded are marked, so that
-- a call inside one fails at once (HAProxy would abort it at its first
-- wait, reporting only "yield not allowed").
local refusal_of = setmetatable({}, { __mode = "k" }) -- marked function --> refusal

local function pass(...) return ... end

-- Not a tail call: the marked function stays on the stack while `fn` runs.
local function mark(fn, refusal)
  local function marked(...) return pass(fn(...)) end
  refusal_of[marked] = refusal
  return marked
end

local function marking(register, refusal)
  return function(keyword, fn, ...)
    if type(fn) == "function" then fn = mark(fn, refusal) end
    return register(keyword, fn, ...)
  end
end

core.register_fetches = marking(core.register_fetches,
  "HAProxy cannot wait in a sample fetch (core.register_fetches)" .. INSTEAD)
core.register_converters = marking(core.register_converters,
  "HAProxy cannot wait in a converter (core.register_converters)" .. INSTEAD)

-- The refusal of the fetch or converter the running code was called from.
local function refusal_on_stack()
  local level = 2
  while true do
    local info = debug.getinfo(level, "f")
    if not info then return nil end
    local refusal = refusal_of[info.func]
    if refusal then return refusal end
    level = level + 1
  end
end

-- HAProxy keeps the thread of every context it runs in the registry. A
-- coroutine the script made itself is not there (core.msleep would return
-- at once inside it): a call there yields to whoever resumes it, as
-- anywhere outside a host.
local run_by_haproxy = setmetatable({}, { __mode = "k" })

local function haproxy_runs(co)
  local known = run_by_haproxy[co]
  if known == nil then
    known = false
    for _, value in pairs(debug.getregistry()) do
      if value == co then
        known = true
        break
      end
    end
    run_by_haproxy[co] = known
  end
  return known
end

-- use(client) --> client
function M.use(client)
  local driver
  local driving, stopped = false, false
  -- When a suspended call last looked: the driver's sign that someone waits.
  local last_look = 0
  local looked_at = {} -- waiter --> when it last looked
  local adapter = {}

  local function someone_waits()
    local t = now()
    for waiter, looked in pairs(looked_at) do
      if t - looked > ABANDONED_AFTER then
        looked_at[waiter] = nil
        driver.abandon(waiter)
      end
    end
    return t - last_look < DRIVER_LINGER
  end

  local function drive_while_someone_waits()
    while not driver.closed() and someone_waits() do
      for _ = 1, STEPS_PER_TICK do driver.drive(0) end
      core.msleep(DRIVE_TICK_MS)
    end
  end

  -- A waiter's next look starts a driver again, even after one failed.
  local function run_driver()
    local ok, problem = pcall(drive_while_someone_waits)
    driving = false
    if not ok then error(problem, 0) end
  end

  -- The main thread runs the script's body (not yieldable: a call blocks
  -- as in plain Lua, before HAProxy serves anything) and its init functions
  -- (yieldable, but HAProxy fails one that yields, and core.msleep there
  -- returns at once).
  function adapter.waiter()
    local co, main = coroutine.running()
    if not co or main then
      if isyieldable and isyieldable() then return nil, INIT_REFUSAL end
      return nil
    end
    local refusal = refusal_on_stack()
    if refusal then return nil, refusal end
    if not haproxy_runs(co) then return nil end
    return { woken = false }
  end

  function adapter.suspend(_, waiter)
    while not waiter.woken and not stopped do
      last_look = now()
      looked_at[waiter] = last_look
      if not driving then
        driving = true
        core.register_task(run_driver)
      end
      core.msleep(WAKE_CHECK_MS)
    end
    looked_at[waiter] = nil
    waiter.woken = false
  end

  function adapter.wake(_, waiter)
    waiter.woken = true
  end

  -- Every waiter sees it at its next look; the driver ends at its next tick.
  function adapter.stop()
    stopped = true
  end

  client:use(adapter, function(given) driver = given end)
  return client
end

return M
