-- Run by spec/hosts/nvim_spec.lua inside headless Neovim (luafile): the
-- natural code in Neovim's own coroutines next to a 10 ms uv ticker, then a
-- cancel and a close from luv callbacks, then a call in the main thread;
-- writes what it saw, one "key value" line each, to $DALLE_NVIM_RESULTS and
-- quits. The spec passes the mock's URL and the image directory;
-- bench/hosts.lua also passes DALLE_NVIM_JOBS (default 20) and
-- DALLE_NVIM_IDLE_SECONDS: after the jobs, Neovim then rests that long with
-- the ticker ticking, and idles as long with it stopped, before the cancel.
-- luacheck: read globals vim
local script = debug.getinfo(1, "S").source:sub(2)
local root = script:match("^(.*)/spec/hosts/nvim/[^/]+$")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/luajit/?.so;" .. package.cpath

local uv = vim.loop
local mock_url = os.getenv("DALLE_MOCK_URL")
local images = os.getenv("DALLE_NVIM_IMAGES")
local results_file = os.getenv("DALLE_NVIM_RESULTS")

local JOBS = tonumber(os.getenv("DALLE_NVIM_JOBS")) or 20
local IDLE_SECONDS = tonumber(os.getenv("DALLE_NVIM_IDLE_SECONDS"))
local TICK_MS = 10
-- Small images: the mock drawing large ones takes the CPUs Neovim shares
-- with it, and the ticker would measure that.
local SIZE = "256x256"
-- The script ends itself by then, whatever happened.
local DEADLINE_MS = 40000
-- Jobs are canceled, and the client closed, this long after they started.
local INTERRUPT_MS = 100

local lines = {}
local function note(key, value)
  lines[#lines + 1] = key .. " " .. tostring(value):gsub("\n", " | ")
end

local function finish(finished)
  note("finished", finished)
  local file = assert(io.open(results_file, "w"))
  file:write(table.concat(lines, "\n"), "\n")
  file:close()
  vim.cmd("qa!")
end

local deadline = uv.new_timer()
deadline:start(DEADLINE_MS, 0, function() vim.schedule(function() finish(false) end) end)

-- Process CPU seconds so far, all threads.
local function cpu_seconds()
  local usage = uv.getrusage()
  return usage.utime.sec + usage.utime.usec / 1e6 + usage.stime.sec + usage.stime.usec / 1e6
end

-- The poll handles the adapter makes, to see whether it drives while idle.
local polls = {}
local new_poll = uv.new_poll
uv.new_poll = function(...) -- luacheck: ignore 122
  local handle = new_poll(...)
  polls[#polls + 1] = handle
  return handle
end

local function any_poll_active()
  for _, handle in ipairs(polls) do
    if handle:is_active() then return true end
  end
  return false
end

local dalle = require "dalle"
local now = require("dalle.core").now

local function new_client()
  return assert(dalle.new {
    api_key = "test-key",
    base_url = mock_url,
    callback = mock_url .. "/_mock/callback",
    poll_interval = 0.05,
    max_poll_interval = 0.2,
  })
end

-- Calls the editor's API as code after a wait would; notes any error.
local function use_editor(label)
  note("fast_event", vim.in_fast_event())
  local ok, problem = pcall(function()
    vim.api.nvim_buf_set_lines(0, -1, -1, false, { label })
    return vim.fn.getcwd()
  end)
  if ok then
    note("editor_call", "ok")
  else
    note("error", label .. ": " .. tostring(problem))
  end
end

-- Runs `body` in a coroutine the natural way; notes any error it raises.
local function spawn(label, body)
  coroutine.wrap(function()
    local ok, problem = xpcall(body, debug.traceback)
    if not ok then note("error", label .. ": " .. tostring(problem)) end
  end)()
end

-- How late each tick came, noted under `lag_key` while it is set; while the
-- jobs run, also when (tick_at, seconds since they started).
local ticks, lag_key, last_tick, jobs_started = 0, nil, nil, nil
local ticker = uv.new_timer()
local function tick()
  local t = now()
  ticks = ticks + 1
  if lag_key and last_tick then
    note(lag_key, math.max(0, t - last_tick - TICK_MS / 1000))
    if lag_key == "lag" then note("tick_at", t - jobs_started) end
  end
  last_tick = t
end
ticker:start(TICK_MS, TICK_MS, tick)

-- With IDLE_SECONDS set: rests that long, the lags noted as rest_lag, then
-- idles as long with the ticker stopped, noting the CPU time it took; then
-- `continue`.
local function idle_then(continue)
  if not IDLE_SECONDS then return continue() end
  lag_key = "rest_lag"
  local window = uv.new_timer()
  window:start(IDLE_SECONDS * 1000, 0, function()
    lag_key = nil
    ticker:stop()
    local cpu_before = cpu_seconds()
    window:start(IDLE_SECONDS * 1000, 0, function()
      note("idle_cpu_seconds", cpu_seconds() - cpu_before)
      window:close()
      ticker:start(TICK_MS, TICK_MS, tick)
      vim.schedule(continue)
    end)
  end)
end

local client = new_client()
note("adapter_loaded", package.loaded["dalle.nvim"] ~= nil)

-- A call in the main thread: it blocks, and the editor's loop with it.
local function main_thread_call()
  local blocking_client = new_client()
  local ticks_before = ticks
  local result, err = blocking_client:generate { prompt = "nvim main thread", timeout = 20 }
  note("main_thread_status", result and result.status or tostring(err))
  note("main_thread_ticks", ticks - ticks_before)
  blocking_client:close()
  finish(true)
end

-- A generate waiting when a luv callback closes the client.
local function close_from_callback()
  local closer = uv.new_timer()
  spawn("close", function()
    local result, err = client:generate { prompt = "nvim close", timeout = 20 }
    note("close_result", result and result.status or err.kind)
    use_editor("after close")
    closer:close()
    vim.schedule(main_thread_call)
  end)
  closer:start(INTERRUPT_MS, 0, function() client:close() end)
end

-- A wait canceled from a luv callback.
local function cancel_from_callback()
  local canceler = uv.new_timer()
  spawn("cancel", function()
    local job = assert(client:submit { prompt = "nvim cancel", timeout = 20 })
    canceler:start(INTERRUPT_MS, 0, function() job:cancel() end)
    local result, err = job:wait { timeout = 20 }
    note("cancel_result", result and result.status or err.kind)
    use_editor("after cancel")
    canceler:close()
    close_from_callback()
  end)
end

local done, start, cpu_start = 0, now(), cpu_seconds()
lag_key, jobs_started = "lag", start
for i = 1, JOBS do
  spawn("job " .. i, function()
    local result, err = client:generate { prompt = "nvim job " .. i, size = SIZE, timeout = 30 }
    if not result then error("generate: " .. tostring(err)) end
    use_editor("generated " .. i)
    local saved, derr = client:download(result, images .. "/" .. i .. ".png", { timeout = 30 })
    if not saved then error("download: " .. tostring(derr)) end
    use_editor("downloaded " .. i)
    done = done + 1
    if done == JOBS then
      lag_key = nil
      note("jobs_done", done)
      note("run_seconds", now() - start)
      note("run_cpu_seconds", cpu_seconds() - cpu_start)
      vim.schedule(function()
        note("idle_poll_active", any_poll_active())
        idle_then(cancel_from_callback)
      end)
    end
  end)
end
note("waiting_poll_active", any_poll_active())
