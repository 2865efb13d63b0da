-- An HAProxy Lua service that makes an image per request: GET /image?prompt=...
-- answers with the PNG, while HAProxy goes on serving everything else.
--   make all cores    # HAProxy's Lua is 5.3: it loads build/lua5.3/dalle/core.so
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua5.3/?.so;;' \
--     scripts/with-mock.sh haproxy -db -f examples/haproxy.cfg
-- then: curl -o fox.png 'http://127.0.0.1:8080/image?prompt=a%20red%20fox'
-- luacheck: read globals core
local dalle = require "dalle"

local client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })

local function url_decode(text)
  text = text:gsub("%+", " ")
  return (text:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

local function reply(applet, status, content_type, body)
  applet:set_status(status)
  applet:add_header("content-type", content_type)
  applet:add_header("content-length", tostring(#body))
  applet:start_response()
  applet:send(body)
end

core.register_service("dalle_image", "http", function(applet)
  local prompt = url_decode(applet.qs:match("prompt=([^&]*)") or "")
  local result, err = client:generate { prompt = prompt, timeout = 120 }
  local path = os.tmpname()
  if result then result, err = client:download(result, path) end
  if not result then
    os.remove(path)
    return reply(applet, err.kind == "invalid" and 400 or 502, "text/plain", tostring(err) .. "\n")
  end
  local file = assert(io.open(path, "rb"))
  local image = file:read("*a")
  file:close()
  os.remove(path)
  reply(applet, 200, "image/png", image)
end)
