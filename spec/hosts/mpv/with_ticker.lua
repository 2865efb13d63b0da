-- mpv's script for spec/hosts/mpv_spec.lua: a 10 ms periodic timer in the
-- same script thread as examples/mpv.lua (DALLE_EXAMPLE), which it then runs
-- as it is, and one `script-message dalle-image`, as a key bound to it would
-- send. When mpv shuts down it writes to DALLE_RESULTS, one "key value" a
-- line: how late each tick came, the run's wall and CPU seconds, and whether
-- the example's own timers ran while its calls waited and once they ended.
-- luacheck: read globals mp
-- luacheck: globals mp.add_periodic_timer
local TICK_SECONDS = 0.01
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

local lags = {}
local started, cpu_started = mp.get_time(), cpu_seconds()
local last_tick = started
mp.add_periodic_timer(TICK_SECONDS, function()
  local t = mp.get_time()
  lags[#lags + 1] = math.max(0, t - last_tick - TICK_SECONDS)
  last_tick = t
end)

-- The example's periodic timers, to see whether they run while idle.
local example_timers = {}
local add_periodic_timer = mp.add_periodic_timer
mp.add_periodic_timer = function(...)
  local timer = add_periodic_timer(...)
  example_timers[#example_timers + 1] = timer
  return timer
end

local function any_timer_enabled()
  for _, timer in ipairs(example_timers) do
    if timer:is_enabled() then return true end
  end
  return false
end

dofile(assert(os.getenv("DALLE_EXAMPLE")))
local waiting_timer_enabled = any_timer_enabled()
mp.commandv("script-message-to", mp.get_script_name(), "dalle-image", "mpv script message")

mp.register_event("shutdown", function()
  local lines = {
    "run_seconds " .. (mp.get_time() - started),
    "run_cpu_seconds " .. (cpu_seconds() - cpu_started),
    "example_timers " .. #example_timers,
    "waiting_timer_enabled " .. tostring(waiting_timer_enabled),
    "idle_timer_enabled " .. tostring(any_timer_enabled()),
  }
  for _, lag in ipairs(lags) do lines[#lines + 1] = "lag " .. lag end
  local file = assert(io.open(assert(os.getenv("DALLE_RESULTS")), "w"))
  file:write(table.concat(lines, "\n"), "\n")
  file:close()
end)
