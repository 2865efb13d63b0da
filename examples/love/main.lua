-- A LÖVE game that makes images while it goes on drawing its frames:
-- love.update gives lua-dalle at most STEP_BUDGET of each frame, stepping the
-- client and resuming the calls it has news for.
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/luajit/?.so;;" \
--     scripts/with-mock.sh love examples/love
-- It makes DALLE_JOBS images (default 4) of DALLE_PROMPT side by side, saved
-- in DALLE_OUT_DIR (default: the current directory), and with
-- DALLE_QUIT_WHEN_DONE=1 quits once none is being made. LÖVE's Lua is
-- LuaJIT: LUA_CPATH names a dalle.core built for it. The key and the service
-- come from AIRIGHT_API_KEY, AIRIGHT_CALLBACK_URL and AIRIGHT_BASE_URL.
-- luacheck: read globals love
-- luacheck: globals love.load love.update love.draw love.quit
local dalle = require "dalle"

-- The part of a frame the network may take. One step does a bounded amount
-- of work (about half a millisecond), so a frame overruns it by little.
local STEP_BUDGET = 0.002
local CALL_TIMEOUT = 300
local SPIN_PER_SECOND = 2 -- radians
local SQUARE = 40
local MARGIN = 16
local NEWS_LINES = 16

local prompt = os.getenv("DALLE_PROMPT") or "a pixel-art castle at night"
local jobs = tonumber(os.getenv("DALLE_JOBS")) or 4
local quit_when_done = os.getenv("DALLE_QUIT_WHEN_DONE") == "1"
local out_dir = os.getenv("DALLE_OUT_DIR") or "."

local client
local named, saved, making, frames = 0, 0, 0, 0
local angle = 0
local news = {} -- one line per image made or failed; the last ones are shown

local function tell(line)
  print(line)
  news[#news + 1] = line
end

-- Runs in a coroutine: generate and download yield it to love.update.
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
    tell("saved " .. path)
  else
    tell(tostring(err))
  end
end

local function start(text)
  making = making + 1
  assert(coroutine.resume(coroutine.create(function()
    local ok, problem = xpcall(make_image, debug.traceback, text)
    if not ok then tell(problem) end
    making = making - 1
    if making == 0 then
      tell("images saved: " .. saved .. "; frames drawn meanwhile: " .. frames)
      if quit_when_done then love.event.quit() end
    end
  end)))
end

function love.load()
  client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })
  for i = 1, jobs do start(jobs > 1 and prompt .. " #" .. i or prompt) end
end

function love.update(dt)
  angle = angle + SPIN_PER_SECOND * dt
  if making == 0 then return end
  frames = frames + 1
  local started = love.timer.getTime()
  -- With nothing ready, or nothing active, the rest can wait a frame.
  repeat
    local active, ready = client:step(0)
    for _, co in ipairs(ready) do assert(coroutine.resume(co)) end
  until active == 0 or #ready == 0 or love.timer.getTime() - started >= STEP_BUDGET
end

function love.draw()
  local width = love.graphics.getWidth()
  love.graphics.push()
  love.graphics.translate(width - MARGIN - SQUARE / 2, MARGIN + SQUARE / 2)
  love.graphics.rotate(angle)
  love.graphics.rectangle("fill", -SQUARE / 2, -SQUARE / 2, SQUARE, SQUARE)
  love.graphics.pop()
  local status = making > 0 and making .. " images being made" or "done"
  local shown = table.concat(news, "\n", math.max(1, #news - NEWS_LINES + 1))
  love.graphics.print(status .. "\n" .. shown, MARGIN, MARGIN)
end

function love.quit()
  client:close()
end
