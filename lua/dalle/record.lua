-- Record mode: one JSON line per exchange with the service's API (submits
-- and polls), so that a user with a key can see the bodies aiRight really
-- sends, and replay them offline with `dalle-mock --replay`. The API key
-- never reaches the file: it is not a field, and any echo of it in a body,
-- a header or an error is replaced by [redacted] before encoding.
local cjson = require "cjson.safe"
local core = require "dalle.core"
local response = require "dalle.response"

local M = {}

local json = cjson.new()
-- Numeric ids and timestamps keep their digits (14 is lua-cjson 2.1's most).
json.encode_number_precision(14)

-- Form fields that are recorded as they were sent; the prompt only when the
-- client says so, and the callback as its origin only (its path or query may
-- hold a secret of the receiver's).
local PLAIN_FIELDS = { modelId = true, model = true, size = true, quality = true, style = true }

local Recorder = {}
Recorder.__index = Recorder

function Recorder:__tostring()
  return "dalle.recorder (" .. (self._file and "open" or "closed") .. ")"
end

-- open(path, settings) --> recorder | nil, message. settings: redact (text
-- --> text), record_prompts, max_body.
function M.open(path, settings)
  local file, problem = core.open_append(path)
  if not file then return nil, problem end
  return setmetatable({
    _file = file,
    _redact = settings.redact,
    _record_prompts = settings.record_prompts,
    _max_body = settings.max_body,
  }, Recorder)
end

-- Every string in a decoded body, keys too, with the key redacted.
local function redact_value(value, redact)
  if type(value) == "string" then return redact(value) end
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do out[redact_value(k, redact)] = redact_value(v, redact) end
  return out
end

local function path_of(url)
  local path = url:match("^%a[%w+.-]*://[^/?#]*([^?#]*)") or ""
  return path == "" and "/" or path
end

local function origin_of(url)
  return url:match("^(%a[%w+.-]*://[^/?#]+)") or "(not a URL)"
end

function Recorder:_form(fields)
  local form = {}
  for i = 1, #fields, 2 do
    local name, value = fields[i], fields[i + 1]
    if PLAIN_FIELDS[name] or (name == "prompt" and self._record_prompts) then
      form[name] = self._redact(value)
    elseif name == "callback" then
      form.callback_origin = origin_of(value)
    elseif name == "prompt" then
      form.prompt_chars = #value
    end
  end
  return form
end

-- The http(s) image URLs a reading found (inline images stay in the body).
local function fetched_images(reading)
  local urls = {}
  for _, url in ipairs(reading.images or {}) do
    if core.is_http_url(url) then urls[#urls + 1] = url end
  end
  return urls[1] and urls or nil
end

-- exchange{call =, method =, url =, fields =, job =, attempt =, event =}:
-- `event` is the core's event for the reply, or nil when none came before
-- the deadline. Returns true, or nil, message when the line was not written.
function Recorder:exchange(x)
  if not self._file then return nil, "the recorder is closed" end
  local redact, event = self._redact, x.event
  local line = {
    time = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    call = x.call,
    method = x.method,
    path = redact(path_of(x.url)),
    attempt = x.attempt,
    job = x.job and redact(x.job),
  }
  if x.fields then line.form = self:_form(x.fields) end
  if not event then
    line.failure, line.error = "deadline", "no reply before the deadline"
  elseif event.failure then
    line.failure, line.error = event.failure, redact(event.error)
    line.elapsed = event.elapsed
  else
    line.status, line.elapsed = event.status, event.elapsed
    line.content_type = event.content_type and redact(event.content_type)
    line.retry_after = event.retry_after_text and redact(event.retry_after_text)
    local body = event.body or ""
    local value = response.decode(body)
    if value == nil then
      line.body_text = redact(body:sub(1, self._max_body))
    else
      value = redact_value(value, redact)
      line.body = value
      local reading = response.read(value)
      if x.call == "submit" then line.job = reading.id end
      line.images = fetched_images(reading)
    end
  end
  local text, problem = json.encode(line)
  if not text then return nil, "cannot encode the record: " .. tostring(problem) end
  return self._file:write(text .. "\n")
end

function Recorder:close()
  if self._file then self._file:close() end
  self._file = nil
end

return M
