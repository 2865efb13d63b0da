-- Runs a client inside nginx's Lua module (lua-nginx-module): a call made in a
-- rewrite, access or content handler or in a timer sleeps on an ngx.semaphore,
-- and one driver per client and worker, an ngx.timer living while anyone waits,
-- steps the client every few milliseconds and wakes the waiters with news.
-- In a phase where nginx cannot sleep, a call fails at once, naming the phase.
-- luacheck: read globals ngx
local semaphore = require "ngx.semaphore"

local M = {}

-- Seconds the driver sleeps between turns while anyone waits. nginx cannot
-- watch the client's pollfd, and ngx.sleep(0) would keep the worker from
-- serving anything else.
local TURN_INTERVAL = 0.005
-- Steps per driver turn: a step takes at most two socket events and two new
-- transfers, so a burst of requests needs several; a step with nothing ready
-- returns at once.
local STEPS_PER_TURN = 4
-- The shortest sleep, when the client's next timer is due sooner than
-- TURN_INTERVAL: ngx.sleep counts whole milliseconds.
local MIN_TURN_INTERVAL = 0.001
-- Seconds a waiter sleeps on its semaphore before it makes sure the driver
-- still runs (the driver wakes it long before, at its reply or its deadline)
-- and says it still waits.
local RECHECK_SECONDS = 5

-- The phases where lua-nginx-module lets Lua both sleep and wait on a
-- semaphore (ngx.get_phase's names).
local CAN_WAIT = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
}

-- use(client) --> client, on this worker.
function M.use(client)
  if ngx.get_phase() == "init" then
    error("lua-dalle: a client made in nginx's init phase (init_by_lua*) would be shared by every "
      .. "worker process after the fork; make it in init_worker_by_lua* or in a handler", 0)
  end
  -- Token --> the time (ngx.now) by which its waiter looks again. A waiter
  -- nginx let go of mid-wait (its request ended, its thread was killed)
  -- never does, and the driver forgets it then.
  local suspended = {}
  local driving = false
  local driver
  local adapter = {}

  local function pause()
    local due = not driver.closed() and client:timeout()
    if due and due < TURN_INTERVAL then return math.max(due, MIN_TURN_INTERVAL) end
    return TURN_INTERVAL
  end

  local function anyone_waits()
    local t = ngx.now()
    for token, looks_again_by in pairs(suspended) do
      if looks_again_by >= t then return true end
      suspended[token] = nil
      driver.abandon(token)
    end
    return false
  end

  local function turn()
    for _ = 1, STEPS_PER_TURN do driver.drive(0) end
  end

  local function drive_while_anyone_waits()
    while not driver.closed() and anyone_waits() do
      turn()
      ngx.sleep(pause())
    end
  end

  -- premature (nginx is shutting down) changes nothing: the requests still
  -- waiting keep the worker alive until they have their replies.
  local function run_driver()
    local ok, problem = pcall(drive_while_anyone_waits)
    driving = false
    if not ok then ngx.log(ngx.ERR, "lua-dalle: the client's driver stopped: ", problem) end
  end

  -- Returns false when nginx takes no new timer (the worker is exiting, or
  -- too many timers are pending).
  local function start_driver()
    if not driving then driving = ngx.timer.at(0, run_driver) and true or false end
    return driving
  end

  function adapter.waiter()
    local phase = ngx.get_phase()
    if not CAN_WAIT[phase] then
      return nil, "nginx cannot wait in the " .. phase .. " phase: call lua-dalle from "
        .. "rewrite_by_lua*, access_by_lua*, content_by_lua* or an ngx.timer callback"
    end
    local ready, problem = semaphore.new(0)
    if not ready then return nil, "no ngx.semaphore to wait on: " .. problem end
    return { ready = ready, woken = false }
  end

  function adapter.suspend(_, token)
    while not token.woken and not driver.closed() do
      suspended[token] = ngx.now() + 2 * RECHECK_SECONDS
      if start_driver() then
        local ok, problem = token.ready:wait(RECHECK_SECONDS)
        if not ok and problem ~= "timeout" then
          suspended[token] = nil
          error("lua-dalle: cannot wait on an ngx.semaphore: " .. problem, 0)
        end
      else
        -- No timer to drive the client: this waiter steps it itself.
        ngx.sleep(pause())
        if not driver.closed() then turn() end
      end
    end
    token.woken = false
    suspended[token] = nil
  end

  -- Also called outside the driver (a cancel, a close). A post nobody takes
  -- is harmless: the semaphore is this one wait's, and a later suspend that
  -- it ends early finds the token not woken and waits again.
  function adapter.wake(_, token)
    if token.woken then return end
    token.woken = true
    token.ready:post(1)
  end

  function adapter.stop()
    for token in pairs(suspended) do adapter.wake(nil, token) end
  end

  client:use(adapter, function(given) driver = given end)
  return client
end

return M
