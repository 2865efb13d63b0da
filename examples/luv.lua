-- Generates three images inside a libuv loop (luv) next to a ticking timer.
--   make && scripts/with-mock.sh lua5.4 examples/luv.lua
local uv = require "luv"
local dalle = require "dalle"

local client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })
assert(require("dalle.luv").use(client))

local ticks, pending = 0, 3
local ticker = uv.new_timer()
ticker:start(100, 100, function() ticks = ticks + 1 end)
for i, prompt in ipairs { "a red kite", "a blue whale", "a green comet" } do
  coroutine.wrap(function()
    local result, err = client:generate { prompt = prompt, timeout = 120 }
    print(i, result and result.url or tostring(err))
    pending = pending - 1
    if pending == 0 then
      client:close()
      ticker:close()
      print("the loop ticked " .. ticks .. " times meanwhile")
    end
  end)()
end
uv.run()
