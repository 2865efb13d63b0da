-- The apps that embed Lua and run a client's calls themselves, told apart
-- by the globals they give a script, each with the adapter that waits the
-- way it allows (see README, "Inside other apps"). Detection touches only
-- globals: an adapter's own modules load only inside its host.
-- luacheck: read globals ngx core vim
local M = {}

-- In order: the first whose test passes is the host.
local HOSTS = {
  { adapter = "dalle.ngx", test = function()
    return type(ngx) == "table" and type(ngx.get_phase) == "function"
      and type(ngx.timer) == "table"
  end },
  { adapter = "dalle.haproxy", test = function()
    return type(core) == "table" and type(core.register_task) == "function"
      and type(core.msleep) == "function"
  end },
  { adapter = "dalle.nvim", test = function()
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
