-- Makes images inside mpv, which goes on playing meanwhile: a periodic timer
-- steps lua-dalle and resumes the calls it has news for, only while any waits.
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua5.2/?.so;;' \
--     scripts/with-mock.sh mpv --no-config --idle=yes --vo=null --ao=null --script=examples/mpv.lua
-- At start it makes DALLE_JOBS images (default 1) of DALLE_PROMPT, side by
-- side; `script-message dalle-image PROMPT` (bind a key to it in input.conf)
-- makes one more. With DALLE_QUIT_WHEN_DONE=1 it quits mpv as soon as no
-- image is being made. Images go to DALLE_OUT_DIR (default: the current directory).
-- mpv's Lua is 5.2: LUA_CPATH names a dalle.core built for it. The key and
-- the service come from AIRIGHT_API_KEY, AIRIGHT_CALLBACK_URL and
-- AIRIGHT_BASE_URL.
-- luacheck: read globals mp
local dalle = require "dalle"

-- mpv's scripts cannot watch a descriptor, so a timer steps the client this
-- often while a call waits; with nothing ready a step is one epoll_wait(0).
local STEP_INTERVAL = 0.005
local CALL_TIMEOUT = 300

local prompt = os.getenv("DALLE_PROMPT") or "a lighthouse on a cliff at dusk, watercolour"
local jobs = tonumber(os.getenv("DALLE_JOBS")) or 1
local quit_when_done = os.getenv("DALLE_QUIT_WHEN_DONE") == "1"
local out_dir = os.getenv("DALLE_OUT_DIR") or "."

local client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })

local named, saved, making = 0, 0, 0
local stepper

-- Resumes a coroutine of `start`; the stepper runs exactly while one waits.
local function run(co)
  assert(coroutine.resume(co))
  if making == 0 then
    stepper:kill()
  elseif not stepper:is_enabled() then
    stepper:resume()
  end
end

stepper = mp.add_periodic_timer(STEP_INTERVAL, function()
  local _, ready = client:step(0)
  for _, co in ipairs(ready) do run(co) end
end)
stepper:kill()

-- Runs in a coroutine: generate and download yield it to the stepper.
local function make_image(text)
  local result, err = client:generate { prompt = text, timeout = CALL_TIMEOUT }
  local path
  if result then
    named = named + 1
    path = string.format("%s/dalle-%d-%d.png", out_dir, os.time(), named)
    result, err = client:download(result, path, { timeout = CALL_TIMEOUT })
  end
  if result then
    saved = saved + 1
    mp.msg.info("saved " .. path)
    mp.osd_message("saved " .. path)
  else
    mp.msg.error(tostring(err))
  end
end

local function start(text)
  making = making + 1
  run(coroutine.create(function()
    local ok, problem = xpcall(make_image, debug.traceback, text)
    if not ok then mp.msg.error(problem) end
    making = making - 1
    if making == 0 then
      mp.msg.info("images saved so far: " .. saved)
      if quit_when_done then mp.commandv("quit") end
    end
  end))
end

for i = 1, jobs do start(jobs > 1 and prompt .. " #" .. i or prompt) end
mp.register_script_message("dalle-image", start)
mp.register_event("shutdown", function() client:close() end)
