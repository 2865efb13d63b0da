-- How a call waits for the core's events. Outside a coroutine it blocks in
-- the core's step (never spinning); inside one it yields the client to a
-- driver that steps and resumes it; inside the event loop the client uses,
-- it suspends through that loop's adapter. The calls and the adapters use
-- the interface below, and nothing else of a client's waiting state.
--
--   waits.new(core, owner, can_yield) --> w: `owner` (the client) is what a
--       yield hands to the driver and what adapter functions are given
--   w:handle(id) --> h: job `id`'s hold on its waits; w:cancel(h) ends the one
--       it is in (h.canceled then stays true); h.released ends it quietly
--   w:await(id, deadline, h, due_by_deadline) --> event | nil, nil, sent |
--       nil, err: waits for the core event `id`
--   w:sleep(seconds, deadline, h [, wake_id]) --> true | nil, err: ends
--       early when an event `wake_id` is kept (see keep)
--   w:keep(id), w:take(id) --> event | nil, w:drop(id): events `id` (a job's
--       callbacks) are kept, the latest one, until taken, even when nobody
--       waits on them
--   w:group(tasks, deadline, enough) --> outcomes, stopped_at | nil, nil,
--       err: runs tasks side by side, each a {run = function, handle = h}
--   w:drive(timeout) --> active: steps the core, waking the waiters of what
--       it finished (what an adapter calls); w:abandon(token): an adapter's
--       waiter its loop dropped mid-wait is forgotten
--   w:step(timeout) --> active, ready: drive, then hand out the coroutines
--       with news (what a driver of yielded calls calls)
--   w:use(adapter), w:closed(), w:close(): an adapter's waiter(client)
--       returns a token, nil (not a coroutine the loop runs), or nil and a
--       reason the loop cannot wait here (the call fails "unsupported")
local errors = require "dalle.errors"
local now = require("dalle.core").now

local M = {}

local FOREVER = 1e9
local isyieldable = coroutine.isyieldable -- nil before Lua 5.3

local Waits = {}
Waits.__index = Waits

function M.new(core, owner, can_yield)
  return setmetatable({
    _core = core,
    _owner = owner,
    _can_yield = can_yield,
    _loop = nil,     -- the adapter of the event loop the client runs in
    _closed = false,
    _waiting = {},   -- event id --> the waiting coroutine (true: a blocking call)
    _events = {},    -- event id --> event, until that call picks it up
    _kept = {},      -- event ids whose events are kept with nobody waiting
    _grouped = setmetatable({}, { __mode = "k" }), -- coroutines of a group
    _runnable = {},  -- grouped coroutines whose event arrived
    _resumable = {}, -- coroutines with news, for step() to hand out (list and set)
    _drives = 0,     -- how many times the core was stepped: a driver's mark
    -- Coroutines resumed by someone who never steps the client (a host's
    -- scheduler): their waits block instead of yielding.
    _foreign = setmetatable({}, { __mode = "k" }),
  }, Waits)
end

function Waits.handle(_, id)
  return { id = id, canceled = false, released = false, waiting_on = false }
end

function Waits:closed()
  return self._closed
end

-- Marks whoever waits on `id` as having news, into `woken` (a set and, in
-- order, a list). A grouped coroutine is marked runnable and its group's
-- own waiter woken instead.
function Waits:_mark(id, woken)
  local waiter = self._waiting[id]
  if waiter == nil then return end
  local group = self._grouped[waiter]
  if group then
    self._runnable[waiter] = true
    waiter = group
  end
  if not woken[waiter] then
    woken[waiter] = true
    woken[#woken + 1] = waiter
  end
end

-- Wakes what `_mark` collected: loop tokens through the loop's adapter;
-- coroutines a driver resumes go on the list the next step() hands out.
-- Woken only now, so a woken coroutine never sees half-filed events.
function Waits:_wake(woken)
  local loop, resumable = self._loop, self._resumable
  for i = 1, #woken do
    local waiter = woken[i]
    local kind = type(waiter)
    if kind == "thread" then
      if not resumable[waiter] then
        resumable[waiter] = true
        resumable[#resumable + 1] = waiter
      end
    elseif loop and kind == "table" then
      loop.wake(self._owner, waiter)
    end
  end
end

function Waits:drive(timeout)
  self._drives = self._drives + 1
  local events, active = self._core:step(timeout)
  if events[1] == nil then return active end
  local waiting, filed, woken = self._waiting, self._events, {}
  local kept = self._kept
  for i = 1, #events do
    local event = events[i]
    if waiting[event.id] ~= nil then
      filed[event.id] = event
      self:_mark(event.id, woken)
    elseif kept[event.id] then
      filed[event.id] = event
    end
  end
  if #woken > 0 then self:_wake(woken) end
  return active
end

function Waits:step(timeout)
  local active = self:drive(timeout)
  local ready = self._resumable
  self._resumable = {}
  for i = 1, #ready do ready[ready[i]] = nil end
  return active, ready
end

function Waits:cancel(handle)
  handle.canceled = true
  local id = handle.waiting_on
  if not id or self._closed then return end
  self._core:cancel(id)
  local woken = {}
  self:_mark(id, woken)
  self:_wake(woken)
end

-- Forgets a loop's waiter that the loop let go of mid-wait (nginx ended its
-- request, HAProxy shut its session down): its waits will never return, so
-- their entries go, and the core's transfers and timers for them.
function Waits:abandon(token)
  local gone = { [token] = true }
  for co, group in pairs(self._grouped) do
    if group == token then gone[co] = true end
  end
  for id, waiter in pairs(self._waiting) do
    if gone[waiter] then
      self._waiting[id] = nil
      self._events[id] = nil
      self._core:cancel(id)
    end
  end
end

-- The loop lets go of pollfd before the core closes it.
function Waits:close()
  self._closed = true
  if self._loop then self._loop.stop(self._owner) end
  self._events = {}
end

function Waits:use(adapter)
  if self._loop then error("this client already runs in an event loop", 3) end
  self._loop = adapter
end

-- How the running coroutine waits: "group" (inside a group), "loop" with a
-- token (inside the event loop the client uses), "refused" with the loop's
-- reason (it runs the coroutine but cannot wait there: an nginx phase that
-- may not sleep), "yield", or "block"; then the loop's token (or reason),
-- and the running coroutine (nil on the main thread of Lua 5.1).
function Waits:_mode()
  local co, main = coroutine.running()
  if co and self._grouped[co] then return "group", nil, co end
  local loop = self._loop
  if loop then
    local token, refusal = loop.waiter(self._owner)
    if token then return "loop", token, co end
    if refusal then return "refused", refusal, co end
  end
  if not self._can_yield or (co and self._foreign[co]) then return "block", nil, co end
  local can_yield
  if isyieldable then
    can_yield = isyieldable()
  else
    can_yield = co ~= nil and not main
  end
  return can_yield and "yield" or "block", nil, co
end

-- Yields the client to its driver. Returns true when whoever resumed the
-- coroutine had not stepped the client since: a host that resumes what
-- yields at once (nginx's Lua module does). Waiting on by yielding would
-- then spin, so the coroutine blocks from now on: never a busy loop, and
-- the call still ends by its deadline.
function Waits:_yield(co)
  local drives = self._drives
  coroutine.yield(self._owner)
  if self._drives ~= drives or self._closed then return false end
  self._foreign[co] = true
  return true
end

function Waits:keep(id)
  self._kept[id] = true
end

function Waits:take(id)
  local event = self._events[id]
  self._events[id] = nil
  return event
end

function Waits:drop(id)
  self._kept[id] = nil
  self._events[id] = nil
end

function Waits:await(id, deadline, handle, due_by_deadline, wake_id)
  local waiting, alarm = self._waiting, nil
  local mode, token, co = self:_mode()
  if mode == "refused" then
    self._core:cancel(id)
    return nil, errors.new("unsupported", token)
  end
  local waiter = token or (mode == "block" and true) or co
  waiting[id] = waiter
  if wake_id then waiting[wake_id] = waiter end
  if handle then handle.waiting_on = id end
  if mode ~= "block" and deadline and not due_by_deadline then
    -- Makes the driver's step() return at the deadline even if all is quiet.
    alarm = self._core:timer(deadline - now())
    waiting[alarm] = waiter
  end
  while self._events[id] == nil and not self._closed
      and not (wake_id and self._events[wake_id])
      and not (handle and (handle.canceled or handle.released)) do
    local left = deadline and deadline - now() or FOREVER
    if left <= 0 then break end
    if mode == "block" then
      self:drive(left)
    elseif mode == "loop" then
      self._loop.suspend(self._owner, token)
    elseif self:_yield(co) then
      mode = "block"
    end
  end
  waiting[id] = nil
  if wake_id then waiting[wake_id] = nil end
  if handle then handle.waiting_on = false end
  if self._closed then return nil, errors.closed() end
  local event = self._events[id]
  self._events[id] = nil
  if alarm then
    waiting[alarm] = nil
    self._events[alarm] = nil
    self._core:cancel(alarm)
  end
  local sent
  if not event then sent = select(2, self._core:cancel(id)) end
  if handle and handle.canceled then return nil, errors.canceled(handle.id) end
  return event, nil, sent
end

function Waits:sleep(seconds, deadline, handle, wake_id)
  if deadline and now() + seconds > deadline then seconds = math.max(deadline - now(), 0) end
  local _, err = self:await(self._core:timer(seconds), deadline, handle, true, wake_id)
  if err then return nil, err end
  return true
end

-- Runs every task in its own coroutine, resuming only those whose events
-- arrived, until all are done or `enough(index, outcome)` says stop (then
-- the rest are released: their waits end, their jobs stay usable). Waits
-- between rounds the way any call does (yield, suspend or block).
function Waits:group(tasks, deadline, enough)
  local members, remaining = {}, 0
  local grouped, runnable = self._grouped, self._runnable
  local mode, token, co_of_group = self:_mode()
  if mode == "refused" then return nil, nil, errors.new("unsupported", token) end
  local outcomes = {}
  -- Resumes one member; when it ended, files its outcome and says whether
  -- that is enough to stop.
  local function advance(co)
    local i = members[co]
    runnable[co] = nil
    local ok, result, err = coroutine.resume(co)
    if coroutine.status(co) ~= "dead" then return false end
    members[co] = nil
    grouped[co] = nil
    remaining = remaining - 1
    if not ok then error(result, 0) end
    outcomes[i] = { result, err }
    return enough ~= nil and enough(i, outcomes[i]) and i
  end
  local order = {}
  for i, task in ipairs(tasks) do
    local co = coroutine.create(task.run)
    members[co] = i
    grouped[co] = token or true
    remaining = remaining + 1
    order[i] = co
  end
  local stop
  for _, co in ipairs(order) do
    stop = advance(co)
    if stop then break end
  end
  while remaining > 0 and not stop do
    local ready = {}
    for co in pairs(runnable) do
      if members[co] then ready[#ready + 1] = co end
    end
    if #ready == 0 then
      if self._closed then break end
      local left = deadline - now()
      if mode == "loop" then
        self._loop.suspend(self._owner, token)
      elseif mode == "block" then
        self:drive(left > 0 and left or 0)
      elseif self:_yield(co_of_group) then
        mode = "block"
      end
    end
    for _, co in ipairs(ready) do
      stop = advance(co)
      if stop then break end
    end
  end
  for co, i in pairs(members) do
    local handle = tasks[i].handle
    handle.released = true
    coroutine.resume(co)
    handle.released = false
    grouped[co] = nil
    runnable[co] = nil
  end
  return outcomes, stop
end

return M
