-- mod_dalle_probe: what spec/hosts/prosody_spec.lua needs inside the Prosody
-- that runs examples/prosody/mod_dalle.lua. A 10 ms Prosody timer: GET
-- /dalle_probe/lags answers how late each tick came since the last such
-- request, in seconds, one a line; POST /dalle_probe/stop stops the timer for
-- good (bench/hosts.lua measures Prosody idle without it). POST
-- /dalle_probe/unload unloads mod_dalle from the host, as an admin's
-- module:unload would.
-- luacheck: read globals module
local modulemanager = require "core.modulemanager"
local monotonic = require "util.time".monotonic

local TICK_SECONDS = 0.01

module:depends("http")

local lags, last_tick, ticking = {}, monotonic(), true
module:add_timer(TICK_SECONDS, function()
  if not ticking then return nil end
  local t = monotonic()
  lags[#lags + 1] = math.max(0, t - last_tick - TICK_SECONDS)
  last_tick = t
  return TICK_SECONDS
end)

module:provides("http", { route = {
  ["GET /lags"] = function()
    local body = table.concat(lags, "\n")
    lags = {}
    return { headers = { content_type = "text/plain" }, body = body .. "\n" }
  end,
  ["POST /stop"] = function()
    ticking = false
    return "stopped\n"
  end,
  ["POST /unload"] = function()
    local ok, err = modulemanager.unload(module.host, "dalle")
    return ok and "unloaded\n" or { status_code = 500, body = tostring(err) .. "\n" }
  end,
} })
