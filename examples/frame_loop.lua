-- A frame loop, as in a game or an editor: one client:step(0) per frame
-- costs next to nothing when nothing is ready; the frame goes on either way.
--   make && scripts/with-mock.sh lua5.4 examples/frame_loop.lua
local dalle = require "dalle"
local core = require "dalle.core"

local client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })
local job = coroutine.create(function()
  return client:generate { prompt = "a pixel-art castle", timeout = 120 }
end)
assert(coroutine.resume(job))

local FRAME = 1 / 60
local frames = 0
while coroutine.status(job) == "suspended" do
  local frame_start = core.now()
  client:step(0)                      -- the network's share of the frame
  local ok, result, err = coroutine.resume(job)
  assert(ok, result)
  if coroutine.status(job) == "dead" then print(result and result.url or tostring(err)) end
  frames = frames + 1
  -- ... draw the frame here ...
  local left = FRAME - (core.now() - frame_start)
  if left > 0 then os.execute("sleep " .. left) end
end
print(frames .. " frames drawn while the image was made")
client:close()
