-- Runs a client inside Neovim: calls made in coroutines suspend only their
-- coroutine; a uv poll handle on client:pollfd() drives the client while
-- anyone waits, and the ready coroutines resume from vim.schedule, where
-- vim.api and vim.fn may be called, a slice at a time so the editor keeps
-- its timing. Calls made in Neovim's main thread block (the editor freezes
-- until they return), as they do outside Neovim.
-- luacheck: read globals vim
local now = require("dalle.core").now

local M = {}

-- Neovim's own libuv binding (vim.uv from 0.10): never a second copy of luv.
local uv = vim.uv or vim.loop
local isyieldable = coroutine.isyieldable

-- Seconds of resumed coroutines per scheduled callback; the rest resume
-- after the editor's loop had another turn.
local SLICE = 0.00025
-- Where a client has no pollfd (no epoll), a repeating uv timer steps it
-- this often while anyone waits.
local FALLBACK_STEP_MS = 5

-- Resumes a waiting coroutine; returns its error, with its traceback, if it
-- raised one.
local function resume(waiter)
  local ok, problem = coroutine.resume(waiter.co)
  if not ok then return debug.traceback(waiter.co, problem) end
  return nil
end

-- use(client) --> client, on Neovim's loop.
function M.use(client)
  local fd = client:pollfd()
  local poll = fd and uv.new_poll(fd) or uv.new_timer()
  -- A callback scheduled from a scheduled callback runs in the same batch,
  -- before the loop's timers and I/O; the next slice waits for this idle
  -- handle, which the loop runs on its next turn.
  local next_turn = uv.new_idle()
  local waiters, suspended, stopped = {}, 0, false
  -- Woken waiters not yet resumed, in order: queue[first .. last].
  local queue, first, last = {}, 1, 0
  local slice_pending = false
  local adapter = {}

  local driver
  local function drive()
    if not driver.closed() then driver.drive(0) end
  end

  local function start_driving()
    if fd then
      poll:start("r", drive)
    else
      poll:start(FALLBACK_STEP_MS, FALLBACK_STEP_MS, drive)
    end
  end

  local resume_slice
  local function schedule_slice()
    next_turn:stop()
    vim.schedule(resume_slice)
  end

  function resume_slice()
    local stop_at, failure = now() + SLICE, nil
    while first <= last and not failure do
      local waiter = queue[first]
      queue[first], first = nil, first + 1
      waiter.queued = nil
      -- A waiter its own code resumed meanwhile is no longer suspended here.
      if waiters[waiter] then failure = resume(waiter) end
      if now() >= stop_at then break end
    end
    -- Set before raising, so that one coroutine's error holds up no other.
    if first <= last then
      next_turn:start(schedule_slice)
    else
      slice_pending = false
    end
    if failure then error(failure, 0) end
  end

  function adapter.waiter()
    local co, main = coroutine.running()
    if co and not main and (not isyieldable or isyieldable()) then return { co = co } end
    return nil
  end

  function adapter.suspend(_, waiter)
    waiters[waiter] = true
    suspended = suspended + 1
    if suspended == 1 and not stopped then start_driving() end
    coroutine.yield()
    waiters[waiter] = nil
    suspended = suspended - 1
    if suspended == 0 and not stopped then poll:stop() end
  end

  -- Called from the poll callback, where vim.api may not be called, and
  -- from anywhere else (a cancel): the waiter resumes from vim.schedule.
  function adapter.wake(_, waiter)
    if waiter.queued then return end
    waiter.queued = true
    last = last + 1
    queue[last] = waiter
    if not slice_pending then
      slice_pending = true
      vim.schedule(resume_slice)
    end
  end

  -- close() may be called in a luv callback too, so the waiters resume from
  -- vim.schedule; each on its own, so that one's error holds up no other.
  function adapter.stop()
    stopped = true
    for _, handle in ipairs { poll, next_turn } do
      if not handle:is_closing() then handle:close() end
    end
    queue, first, last = {}, 1, 0
    for waiter in pairs(waiters) do
      vim.schedule(function()
        local failure = waiters[waiter] and resume(waiter)
        if failure then error(failure, 0) end
      end)
    end
  end

  client:use(adapter, function(given) driver = given end)
  return client
end

return M
