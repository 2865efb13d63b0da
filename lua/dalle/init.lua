-- dalle: the module a script requires. A thin facade over dalle.client (the
-- calls), dalle.response (reading the service's bodies) and dalle.errors.
local client = require "dalle.client"
local errors = require "dalle.errors"
local response = require "dalle.response"
local core = require "dalle.core"

local dalle = {
  VERSION = client.VERSION,
  DEFAULT_BASE_URL = client.DEFAULT_BASE_URL,
  new = client.new,
  errors = errors,
}

-- validate(opts) --> params | nil, err: the rules, with no network.
function dalle.validate(opts)
  return client.validate(opts)
end

-- rules() --> the rules table: one row per model with its allowed values.
dalle.rules = core.rules

-- parse_callback(body) --> result | nil, err: the JSON the service POSTs to
-- the callback URL.
function dalle.parse_callback(body)
  if type(body) ~= "string" then
    error("bad argument #1 to 'parse_callback' (string expected, got " .. type(body) .. ")", 2)
  end
  local value, problem = response.decode(body)
  if value == nil then return nil, errors.new("decode", "the callback body: " .. problem) end
  local reading = response.read(value)
  if reading.status == "failed" then
    return nil, errors.new("failed", reading.reason or "the service says the job failed",
      { id = reading.id, reason = reading.reason, raw = value })
  end
  if reading.status ~= "succeeded" or #reading.images == 0 then
    return nil, errors.new("decode", "the callback body does not report a finished job with an "
      .. "image URL (status: " .. tostring(reading.service_status) .. ")", { raw = value })
  end
  return {
    id = reading.id,
    status = "succeeded",
    images = reading.images,
    url = reading.images[1],
    raw = value,
  }
end

return dalle
