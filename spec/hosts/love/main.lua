-- The game spec/hosts/love_spec.lua runs under Xvfb: examples/love
-- (DALLE_EXAMPLE) as it is, each frame's present held to the next 10 ms
-- slot as vsync on a 100 Hz display would hold it (Xvfb has none, and LÖVE
-- would draw as fast as it can): a 10 ms ticker in the frame loop. It notes
-- how late each love.update came after its slot (and when) and how long the
-- example's love.update took, and when LÖVE quits it writes them, with the
-- run's wall and CPU seconds (until the example asked to quit), to
-- DALLE_RESULTS, one "key value" a line. With DALLE_IDLE_SECONDS
-- (bench/hosts.lua) LÖVE goes on drawing frames that long before it quits,
-- and how late they came (rest_lag), the CPU seconds it took and the
-- example's love.update's are written too.
-- luacheck: read globals love
-- luacheck: globals love.update love.quit love.graphics.present love.event.quit
local FRAME_SECONDS = 0.01
local IDLE_SECONDS = tonumber(os.getenv("DALLE_IDLE_SECONDS"))
-- LÖVE's first frames draw text for the first time (fonts, shaders): how
-- late the frames after them came is not counted.
local WARM_UP_FRAMES = 2
local CLOCK_TICKS = 100 -- of /proc's utime and stime (getconf CLK_TCK)

-- This process's CPU seconds so far, all threads.
local function cpu_seconds()
  local file = assert(io.open("/proc/self/stat"))
  local stat = file:read("*a")
  file:close()
  local fields = {}
  for field in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = field end
  -- Fields 14 and 15 of stat(5); the list starts at field 3, after the name.
  return (tonumber(fields[12]) + tonumber(fields[13])) / CLOCK_TICKS
end

dofile(os.getenv("DALLE_EXAMPLE") .. "/main.lua")

local started, cpu_started
local slot -- the vsync that released the frame being made
local frames, lags, frames_at, updates = 0, {}, {}, {}
-- Set once the example asked to quit: the run's figures, and the idle window's.
local run_seconds, run_cpu_seconds
local idle -- {ends, cpu_started, update_seconds, lags}
local quit_now = love.event.quit

local present = love.graphics.present
function love.graphics.present()
  present()
  local t = love.timer.getTime()
  repeat slot = slot + FRAME_SECONDS until slot > t
  love.timer.sleep(slot - t)
end

local update = love.update
function love.update(dt)
  local frame_start = love.timer.getTime()
  if not slot then
    started, cpu_started, slot = frame_start, cpu_seconds(), frame_start
  end
  if idle then
    if frame_start >= idle.ends then return quit_now() end
    idle.lags[#idle.lags + 1] = frame_start - slot
    update(dt)
    idle.update_seconds = idle.update_seconds + love.timer.getTime() - frame_start
    return
  end
  frames = frames + 1
  if frames > WARM_UP_FRAMES then
    lags[#lags + 1] = frame_start - slot
    frames_at[#frames_at + 1] = frame_start - started
  end
  update(dt)
  updates[#updates + 1] = love.timer.getTime() - frame_start
end

-- The example's quit ends the run, then the idle window if one is asked for.
function love.event.quit(...)
  run_seconds, run_cpu_seconds = love.timer.getTime() - started, cpu_seconds() - cpu_started
  if not IDLE_SECONDS then return quit_now(...) end
  -- os.clock: this process's CPU time to the microsecond, as a short idle window needs.
  idle = { ends = love.timer.getTime() + IDLE_SECONDS, cpu_started = os.clock(), update_seconds = 0, lags = {} }
end

local quit = love.quit
function love.quit()
  local aborted = quit()
  local lines = {
    "run_seconds " .. (run_seconds or love.timer.getTime() - started),
    "run_cpu_seconds " .. (run_cpu_seconds or cpu_seconds() - cpu_started),
  }
  if idle then
    lines[#lines + 1] = "idle_cpu_seconds " .. (os.clock() - idle.cpu_started)
    lines[#lines + 1] = "idle_update_seconds " .. idle.update_seconds
    for _, lag in ipairs(idle.lags) do lines[#lines + 1] = "rest_lag " .. lag end
  end
  for _, lag in ipairs(lags) do lines[#lines + 1] = "lag " .. lag end
  for _, at in ipairs(frames_at) do lines[#lines + 1] = "tick_at " .. at end
  for _, seconds in ipairs(updates) do lines[#lines + 1] = "update " .. seconds end
  local file = assert(io.open(assert(os.getenv("DALLE_RESULTS")), "w"))
  file:write(table.concat(lines, "\n"), "\n")
  file:close()
  return aborted
end
