-- Runs a client inside a cqueues controller: calls made in the controller's
-- coroutines suspend only their coroutine (on a cqueues condition), and one
-- driver coroutine polls the client and wakes exactly the ready waiters.
local cqueues = require "cqueues"
local condition = require "cqueues.condition"

local M = {}

-- use(client [, cq]) --> client: cq is the controller to run the driver on
-- (default: the one running now).
function M.use(client, cq)
  cq = cq or cqueues.running()
  if not cq then error("bad argument #2 to 'use' (a cqueues controller is needed)", 2) end
  -- Signalled whenever a waiter suspends, so the driver polls again with the
  -- client's new timeout (a request just started wants attention at once).
  local poke = condition.new()
  local fd = client:pollfd()
  local waiters = setmetatable({}, { __mode = "k" })
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

  function adapter.wake(_, waiter)
    waiter.ready:signal()
  end

  -- Called before the client closes pollfd: cqueues must forget a
  -- descriptor before it is closed.
  function adapter.stop()
    cqueues.cancel(fd)
    for waiter in pairs(waiters) do waiter.ready:signal() end
    poke:signal()
  end

  client:use(adapter)
  cq:wrap(function()
    while not client._closed do
      cqueues.poll(client, poke)
      if client._closed then break end
      client:_pump(0)
    end
  end)
  return client
end

return M
