-- Runs a client inside a cqueues controller: calls made in the controller's
-- coroutines suspend only their coroutine (on a cqueues condition), and one
-- driver coroutine polls the client and wakes the ready waiters, a few per
-- controller turn so the controller's other coroutines keep their timing.
local cqueues = require "cqueues"
local condition = require "cqueues.condition"

local M = {}

-- Waiters woken per controller turn: each then runs in the same turn.
local WAKES_PER_TURN = 4
-- Where a client has no pollfd (no epoll), the driver steps it at least
-- this often, and when its next timer is due.
local FALLBACK_STEP_SECONDS = 0.005

-- use(client [, cq]) --> client: cq is the controller to run the driver on
-- (default: the one running now).
function M.use(client, cq)
  cq = cq or cqueues.running()
  if not cq then error("bad argument #2 to 'use' (a cqueues controller is needed)", 2) end
  -- Signalled whenever a waiter suspends, so the driver polls again with the
  -- client's new timeout (a request just started wants attention at once).
  local poke = condition.new()
  local fd = client:pollfd()
  local waiters = {}
  -- Woken waiters not yet signalled, in order: queue[first .. last].
  local queue, first, last = {}, 1, 0
  local adapter = {}

  function adapter.waiter()
    if cqueues.running() then return { ready = condition.new() } end
    return nil
  end

  function adapter.suspend(_, waiter)
    waiters[waiter] = true
    poke:signal()
    waiter.ready:wait()
    waiters[waiter] = nil
  end

  -- Also called outside the driver (a cancel): the poke gets it going.
  function adapter.wake(_, waiter)
    if waiter.queued then return end
    waiter.queued = true
    last = last + 1
    queue[last] = waiter
    poke:signal()
  end

  local function signal_some()
    for _ = 1, WAKES_PER_TURN do
      if first > last then return end
      local waiter = queue[first]
      queue[first], first = nil, first + 1
      waiter.queued = nil
      waiter.ready:signal()
    end
  end

  -- Called before the client closes pollfd: cqueues must forget a
  -- descriptor before it is closed.
  function adapter.stop()
    if fd then cqueues.cancel(fd) end
    queue, first, last = {}, 1, 0
    for waiter in pairs(waiters) do waiter.ready:signal() end
    poke:signal()
  end

  local driver
  client:use(adapter, function(given) driver = given end)
  -- Each turn either wakes a few waiters or does the client's ready work,
  -- never both, so no single turn of the controller runs long.
  cq:wrap(function()
    while not driver.closed() do
      if first <= last then
        signal_some()
        cqueues.poll(0)
      else
        -- Without a pollfd, a timeout stands in for the client.
        cqueues.poll(fd and client
          or math.min(client:timeout() or FALLBACK_STEP_SECONDS, FALLBACK_STEP_SECONDS), poke)
        if driver.closed() then break end
        driver.drive(0)
      end
    end
  end)
  return client
end

return M
