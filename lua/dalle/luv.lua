-- Runs a client inside a libuv loop (luv): calls made in coroutines suspend
-- only their coroutine; a uv poll handle on client:pollfd() (readable for
-- sockets and timers alike; without epoll, a 5 ms uv timer) drives the
-- client and resumes exactly the ready ones, a slice at a time so the loop's
-- other callbacks keep their timing.
local uv = require "luv"
local now = require("dalle.core").now

local M = {}

-- Seconds of resumed coroutines per loop turn; the rest wait for the next
-- turn, after the loop's timers and I/O had theirs.
local SLICE = 0.00025
-- Where a client has no pollfd (no epoll), a repeating uv timer steps it
-- this often instead.
local FALLBACK_STEP_MS = 5

-- use(client) --> client, on the default uv loop.
function M.use(client)
  local fd = client:pollfd()
  local poll = fd and uv.new_poll(fd) or uv.new_timer()
  local idle = uv.new_idle()
  local waiters = {}
  -- Woken waiters not yet resumed, in order: queue[first .. last].
  local queue, first, last = {}, 1, 0
  local adapter = {}

  local function resume(co)
    local ok, problem = coroutine.resume(co)
    if not ok then error(problem, 0) end
  end

  local function resume_slice()
    local stop_at = now() + SLICE
    while first <= last do
      local waiter = queue[first]
      queue[first], first = nil, first + 1
      waiter.queued = nil
      -- A waiter that already resumed (the client closed, say) is skipped.
      if waiters[waiter] then resume(waiter.co) end
      if now() >= stop_at then break end
    end
    if first > last and not idle:is_closing() then idle:stop() end
  end

  -- No uv timer for client:timeout(): pollfd turns readable when a timer
  -- is due, and libuv (before 1.45) runs a 0 ms timer re-armed from its own
  -- callback over and over without updating its clock, starving the rest.
  local driver
  local function drive()
    if driver.closed() then return end
    -- What it wakes is resumed on the loop's next turn, from the idle
    -- handle: one callback never does both.
    driver.drive(0)
  end

  function adapter.waiter()
    local co, main = coroutine.running()
    if co and not main then return { co = co } end
    return nil
  end

  function adapter.suspend(_, waiter)
    waiters[waiter] = true
    coroutine.yield()
    waiters[waiter] = nil
  end

  -- Also called outside drive() (a cancel), so it makes sure the queue drains.
  function adapter.wake(_, waiter)
    if waiter.queued then return end
    waiter.queued = true
    last = last + 1
    queue[last] = waiter
    idle:start(resume_slice)
  end

  function adapter.stop()
    for _, handle in ipairs { poll, idle } do
      handle:stop()
      if not handle:is_closing() then handle:close() end
    end
    queue, first, last = {}, 1, 0
    for waiter in pairs(waiters) do
      if coroutine.status(waiter.co) == "suspended" then resume(waiter.co) end
    end
  end

  client:use(adapter, function(given) driver = given end)
  if fd then
    poll:start("r", drive)
  else
    poll:start(FALLBACK_STEP_MS, FALLBACK_STEP_MS, drive)
  end
  return client
end

return M
