-- Adds :DalleImage {prompt} to Neovim: the image is made while the editor
-- stays responsive, saved in the current directory, and its path put below
-- the line the cursor was on.
--   :luafile examples/nvim.lua
--   :DalleImage a lighthouse at dusk
-- Neovim finds lua-dalle through LUA_PATH and LUA_CPATH (lua/ and a
-- dalle.core built for LuaJIT); AIRIGHT_API_KEY and AIRIGHT_CALLBACK_URL
-- (and AIRIGHT_BASE_URL, say for dalle-mock) come from the environment.
-- luacheck: read globals vim
local dalle = require "dalle"

local client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })
local made = 0

-- Runs in a coroutine: generate and download suspend it, and it resumes
-- where vim.api may be called.
local function make_image(prompt, buffer, row)
  local result, err = client:generate { prompt = prompt, timeout = 120 }
  local path
  if result then
    made = made + 1
    path = string.format("%s/dalle-%d-%d.png", vim.fn.getcwd(), os.time(), made)
    result, err = client:download(result, path)
  end
  if not result then
    vim.notify("DalleImage: " .. tostring(err), vim.log.levels.ERROR)
  elseif vim.api.nvim_buf_is_valid(buffer) then
    vim.api.nvim_buf_set_lines(buffer, row, row, false, { path })
  end
end

vim.api.nvim_create_user_command("DalleImage", function(command)
  local row = vim.api.nvim_win_get_cursor(0)[1]
  coroutine.wrap(make_image)(command.args, vim.api.nvim_get_current_buf(), row)
end, { nargs = "+" })
