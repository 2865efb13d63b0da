-- Run by spec/hosts/nvim_spec.lua after examples/nvim.lua and a :DalleImage:
-- lets Neovim's loop run until the image's path is in the buffer (or a
-- deadline passed), then writes the buffer's lines and the editor's
-- messages to $DALLE_NVIM_RESULTS and quits.
-- luacheck: read globals vim
local DEADLINE_MS = 20000
local CHECK_EVERY_MS = 20

vim.wait(DEADLINE_MS, function() return vim.api.nvim_buf_line_count(0) > 1 end, CHECK_EVERY_MS)
local file = assert(io.open(os.getenv("DALLE_NVIM_RESULTS"), "w"))
for _, line in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do file:write("line ", line, "\n") end
for line in vim.api.nvim_exec("messages", true):gmatch("[^\n]+") do file:write("message ", line, "\n") end
file:close()
vim.cmd("qa!")
