-- mod_dalle: a Prosody module serving images made on request over Prosody's
-- HTTP server while Prosody goes on with its other work. GET
-- /dalle/image?prompt=... answers with the PNG once it is made; a copy stays
-- in the option dalle_image_dir (default: DALLE_OUT_DIR, else Prosody's data
-- directory). Prosody's own loop watches the client's pollfd and resumes the
-- calls it has news for. How to run it: prosody.cfg.lua beside it.
-- luacheck: read globals module prosody
-- luacheck: globals module.unload
local dalle = require "dalle"
local server = require "net.server"
local promise = require "util.promise"
local http = require "util.http"

local CALL_TIMEOUT = 300
local STATUS_OF_ERROR = { invalid = 400, timeout = 504, closed = 503 }

module:depends("http")

local image_dir = module:get_option_string("dalle_image_dir", os.getenv("DALLE_OUT_DIR") or prosody.paths.data)
local client = assert(dalle.new { callback = os.getenv("AIRIGHT_CALLBACK_URL") })

-- The coroutines suspended in a call, to end them if the module unloads.
local suspended = {}

local function run(co)
  local ok, problem = coroutine.resume(co)
  if not ok then module:log("error", "%s", debug.traceback(co, problem)) end
  suspended[co] = coroutine.status(co) == "suspended" or nil
end

-- Readable when a transfer needs attention and when a timer of the client
-- (a poll time, a deadline) is due, so no timer of Prosody's is needed.
local watcher = server.watchfd(assert(client:pollfd()), function()
  local _, ready = client:step(0)
  for _, co in ipairs(ready) do run(co) end
end)

local named = 0

-- Runs in a coroutine: generate and download yield it to the watcher.
local function make_image(prompt)
  local result, err = client:generate { prompt = prompt, timeout = CALL_TIMEOUT }
  if not result then return nil, err end
  named = named + 1
  local path = string.format("%s/dalle-%d-%d.png", image_dir, os.time(), named)
  local saved, derr = client:download(result, path, { timeout = CALL_TIMEOUT })
  if not saved then return nil, derr end
  local file = assert(io.open(path, "rb"))
  local png = file:read("a")
  file:close()
  module:log("info", "saved %s", path)
  return png
end

local function serve_image(event)
  local query = event.request.url.query
  local form = query and http.formdecode(query)
  local prompt = type(form) == "table" and form.prompt
  if not prompt or prompt == "" then return { status_code = 400, body = "give a prompt: ?prompt=...\n" } end
  return promise.new(function(resolve)
    run(coroutine.create(function()
      local png, err = make_image(prompt)
      if png then
        resolve { headers = { content_type = "image/png" }, body = png }
      else
        resolve { status_code = STATUS_OF_ERROR[err.kind] or 502, body = tostring(err) .. "\n" }
      end
    end))
  end)
end

module:provides("http", { route = { ["GET /image"] = serve_image } })

-- A closed client fails every waiting call with a "closed" error.
function module.unload()
  watcher:close()
  client:close()
  for co in pairs(suspended) do run(co) end
end
