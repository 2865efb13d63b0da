-- Runs a client inside copas: calls made in copas threads suspend only their
-- thread. Uses nothing but copas.receive and copas.addthread, which copas
-- 1.x (what Debian ships) and 4.x treat alike: each wait is a pseudo-socket
-- that copas's select finds "dirty" once its job has news, and one driver
-- thread watches client:pollfd(), which also turns readable when a timer is
-- due.
local copas = require "copas"

local M = {}

-- A pseudo-socket as LuaSocket's select sees it: getfd() names the
-- descriptor to watch; a dirty() object counts as readable at once. While
-- `ready` is false it reports no descriptor at all, so select skips it.
local Pending = {}
Pending.__index = Pending

function Pending:getfd()
  return self.ready and self.fd or -1
end

function Pending:dirty()
  return self.ready
end

function Pending:receive()
  if not self.ready then return nil, "timeout" end
  self.ready = false
  return true
end

-- copas 1.x closes the socket a thread last waited on when the thread ends.
function Pending.close() end

-- use(client) --> client | nil, err: starts the driver thread; run copas as
-- usual (copas.loop() or copas.step()). err (kind unsupported) where the
-- system gives a client no pollfd: LuaSocket's select needs a descriptor.
function M.use(client)
  local fd, err = client:pollfd()
  if not fd then return nil, err end
  local waiters = {}
  local adapter = {}

  function adapter.waiter()
    local co, main = coroutine.running()
    if co and not main then return setmetatable({ fd = fd, ready = false }, Pending) end
    return nil
  end

  function adapter.suspend(_, waiter)
    waiters[waiter] = true
    copas.receive(waiter)
    waiters[waiter] = nil
  end

  function adapter.wake(_, waiter)
    waiter.ready = true
  end

  -- pollfd closes right after this: every waiter and the driver turn dirty,
  -- so select never watches the closed descriptor and each thread resumes
  -- to see the client closed.
  local driver = setmetatable({ fd = fd, ready = false }, Pending)
  local stepper
  function adapter.stop()
    for waiter in pairs(waiters) do waiter.ready = true end
    driver.ready = true
  end

  -- The driver reports the descriptor while the client is open; each time
  -- copas finds it readable, receive() does the ready work and asks copas
  -- to keep waiting.
  function driver.getfd()
    return driver.fd
  end

  function driver.receive()
    if stepper.closed() then return nil, "closed" end
    stepper.drive(0)
    return nil, "timeout"
  end

  client:use(adapter, function(given) stepper = given end)
  copas.addthread(function() copas.receive(driver) end)
  return client
end

return M
