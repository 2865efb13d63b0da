-- The apps that embed Lua and run a client's calls themselves, told apart
-- by the globals they give a script, each with the adapter that waits the
-- way it allows (see README, "Inside other apps"). Detection touches only
-- globals, and reads them raw: an app that guards its globals (Prosody)
-- would log every read of one it lacks.
local M = {}

local function global(name)
  return rawget(_G, name)
end

-- In order: the first whose test passes is the host.
local HOSTS = {
  { adapter = "dalle.ngx", test = function()
    local ngx = global("ngx")
    return type(ngx) == "table" and type(ngx.get_phase) == "function"
      and type(ngx.timer) == "table"
  end },
  { adapter = "dalle.haproxy", test = function()
    local core = global("core")
    return type(core) == "table" and type(core.register_task) == "function"
      and type(core.msleep) == "function"
  end },
  { adapter = "dalle.nvim", test = function()
    local vim = global("vim")
    return type(vim) == "table" and type(vim.schedule) == "function"
      and type(vim.uv or vim.loop) == "table"
  end },
}

-- detect() --> the adapter module's name for the host this runs in, or nil.
function M.detect()
  for _, host in ipairs(HOSTS) do
    if host.test() then return host.adapter end
  end
  return nil
end

return M
