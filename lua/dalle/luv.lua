-- Runs a client inside a libuv loop (luv): calls made in coroutines suspend
-- only their coroutine; a uv poll handle on client:pollfd() and a uv timer
-- set to client:timeout() drive the client and resume exactly the ready ones.
local uv = require "luv"

local M = {}

-- use(client) --> client, on the default uv loop.
function M.use(client)
  local poll = uv.new_poll(client:pollfd())
  local timer = uv.new_timer()
  local waiters = setmetatable({}, { __mode = "k" })
  local adapter = {}
  local drive

  -- The timer always stands at the client's next timer (a poll time, a
  -- deadline or libcurl's own), so the loop sleeps exactly until then.
  local function rearm()
    if client._closed then return end
    local left = client:timeout()
    timer:stop()
    if left then timer:start(math.ceil(left * 1000), 0, drive) end
  end

  function drive()
    if client._closed then return end
    client:_pump(0)
    rearm()
  end

  function adapter.waiter()
    local co, main = coroutine.running()
    if co and not main then return { co = co } end
    return nil
  end

  function adapter.suspend(_, waiter)
    waiters[waiter] = true
    rearm()
    coroutine.yield()
    waiters[waiter] = nil
  end

  function adapter.wake(_, waiter)
    local ok, problem = coroutine.resume(waiter.co)
    if not ok then error(problem, 0) end
  end

  function adapter.stop()
    poll:stop()
    timer:stop()
    if not poll:is_closing() then poll:close() end
    if not timer:is_closing() then timer:close() end
    for waiter in pairs(waiters) do
      if coroutine.status(waiter.co) == "suspended" then coroutine.resume(waiter.co) end
    end
  end

  client:use(adapter)
  poll:start("r", drive)
  return client
end

return M
