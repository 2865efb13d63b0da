-- dalle: the module a script requires. A thin facade over dalle.client (the
-- calls), dalle.config, dalle.response (reading the service's bodies) and
-- dalle.errors.
local client = require "dalle.client"
local config = require "dalle.config"
local core = require "dalle.core"
local errors = require "dalle.errors"
local response = require "dalle.response"

local dalle = {
  VERSION = config.VERSION,
  DEFAULT_BASE_URL = config.DEFAULT_BASE_URL,
  -- What a client sends as User-Agent unless config.user_agent says otherwise.
  DEFAULT_USER_AGENT = config.DEFAULT_USER_AGENT,
  -- Whether a client has a pollfd (Linux: epoll); without, adapters step on a timer.
  HAS_POLLFD = core.has_pollfd,
  new = client.new,
  errors = errors,
  -- rules() --> the rules table: one row per model with its allowed values.
  rules = core.rules,
}

-- validate(opts) --> params | nil, err: the rules, with no network.
function dalle.validate(opts)
  return client.validate(opts)
end

-- parse_callback(body) --> result | nil, err: the JSON the service POSTs to
-- the callback URL.
function dalle.parse_callback(body)
  if type(body) ~= "string" then errors.bad_argument(1, "parse_callback", "string", body) end
  local reading, err = response.parse(body, "the callback body")
  if not reading then return nil, err end
  if reading.status == "failed" then
    return nil, errors.new("failed", reading.reason or "the service says the job failed",
      { id = reading.id, reason = reading.reason, raw = reading.raw })
  end
  if reading.status ~= "succeeded" or #reading.images == 0 then
    return nil, errors.new("decode", "the callback body does not report a finished job with an "
      .. "image URL (status: " .. tostring(reading.service_status) .. ")", { raw = reading.raw })
  end
  return response.result(reading, reading.id)
end

return dalle
