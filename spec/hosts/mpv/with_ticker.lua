-- mpv's script for spec/hosts/mpv_spec.lua: a 10 ms periodic timer in the
-- same script thread as examples/mpv.lua (DALLE_EXAMPLE), which it then runs
-- as it is, and one `script-message dalle-image`, as a key bound to it would
-- send. When mpv shuts down it writes to DALLE_RESULTS, one "key value" a
-- line: how late each tick came and when, the run's wall and CPU seconds
-- (until the example asked to quit), and whether the example's own timers
-- ran while its calls waited and once they ended. With DALLE_IDLE_SECONDS
-- (bench/hosts.lua) mpv then rests that long, the ticker ticking (its lags
-- written as rest_lag), and idles as long with it stopped before it quits
-- (the CPU seconds it took written as idle_cpu_seconds).
-- luacheck: read globals mp
-- luacheck: globals mp.add_periodic_timer mp.commandv
local TICK_SECONDS = 0.01
local IDLE_SECONDS = tonumber(os.getenv("DALLE_IDLE_SECONDS"))
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

-- The ticks' lags go into `lags` (and when each came into `ticks_at`) until
-- the run ends, then into `rest_lags`.
local lags, ticks_at, rest_lags = {}, {}, {}
local into = lags
local started, cpu_started = mp.get_time(), cpu_seconds()
local last_tick = started
local ticker = mp.add_periodic_timer(TICK_SECONDS, function()
  local t = mp.get_time()
  into[#into + 1] = math.max(0, t - last_tick - TICK_SECONDS)
  if into == lags then ticks_at[#ticks_at + 1] = t - started end
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

-- The example's quit ends the run (then the rest and idle windows, if asked for).
local run_seconds, run_cpu_seconds, idle_cpu_seconds
local commandv = mp.commandv
mp.commandv = function(name, ...)
  if name ~= "quit" then return commandv(name, ...) end
  run_seconds, run_cpu_seconds = mp.get_time() - started, cpu_seconds() - cpu_started
  if not IDLE_SECONDS then return commandv(name, ...) end
  into = rest_lags
  mp.add_timeout(IDLE_SECONDS, function()
    ticker:kill()
    -- os.clock: this process's CPU time to the microsecond, as a short idle window needs.
    local idle_started = os.clock()
    mp.add_timeout(IDLE_SECONDS, function()
      idle_cpu_seconds = os.clock() - idle_started
      commandv("quit")
    end)
  end)
end

dofile(assert(os.getenv("DALLE_EXAMPLE")))
local waiting_timer_enabled = any_timer_enabled()
mp.commandv("script-message-to", mp.get_script_name(), "dalle-image", "mpv script message")

mp.register_event("shutdown", function()
  local lines = {
    "run_seconds " .. (run_seconds or mp.get_time() - started),
    "run_cpu_seconds " .. (run_cpu_seconds or cpu_seconds() - cpu_started),
    "example_timers " .. #example_timers,
    "waiting_timer_enabled " .. tostring(waiting_timer_enabled),
    "idle_timer_enabled " .. tostring(any_timer_enabled()),
  }
  if idle_cpu_seconds then lines[#lines + 1] = "idle_cpu_seconds " .. idle_cpu_seconds end
  for _, lag in ipairs(lags) do lines[#lines + 1] = "lag " .. lag end
  for _, at in ipairs(ticks_at) do lines[#lines + 1] = "tick_at " .. at end
  for _, lag in ipairs(rest_lags) do lines[#lines + 1] = "rest_lag " .. lag end
  local file = assert(io.open(assert(os.getenv("DALLE_RESULTS")), "w"))
  file:write(table.concat(lines, "\n"), "\n")
  file:close()
end)
