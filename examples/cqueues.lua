-- Generates three images inside a cqueues controller while another
-- coroutine keeps working: only the waiting coroutines wait.
--   make && scripts/with-mock.sh lua5.4 examples/cqueues.lua
local cqueues = require "cqueues"
local dalle = require "dalle"

local cq = cqueues.new()
local client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })
assert(require("dalle.cqueues").use(client, cq))

local pending = 3
for i, prompt in ipairs { "a red kite", "a blue whale", "a green comet" } do
  cq:wrap(function()
    local result, err = client:generate { prompt = prompt, timeout = 120 }
    print(i, result and result.url or tostring(err))
    pending = pending - 1
    if pending == 0 then client:close() end
  end)
end
cq:wrap(function()
  local ticks = 0
  while not client._closed do
    ticks = ticks + 1
    cqueues.sleep(0.1)
  end
  print("the loop ticked " .. ticks .. " times meanwhile")
end)
assert(cq:loop())
