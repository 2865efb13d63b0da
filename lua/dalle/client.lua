-- Clients and jobs: configuration, submit/poll/wait/generate/download, the
-- retry policy, and how a call waits: it yields the client when it runs in a
-- coroutine, and blocks in step() (never spinning) when it does not.
local core = require "dalle.core"
local errors = require "dalle.errors"
local response = require "dalle.response"

local M = {}

M.VERSION = "0.1.0"
M.DEFAULT_BASE_URL = "https://developers.airight.io/nft-market-backend-service"

local ART_PATH = "/sdk/art/"
local POLL_GROWTH = 1.5
local RETRY_BASE = 0.5    -- seconds: the first retry waits up to this long
local RETRY_CAP = 8       -- seconds: no backoff step waits longer (Retry-After may)
local STALL_SECONDS = 30  -- a download slower than 1 byte/s this long is dropped
local FOREVER = 1e9

local DEFAULTS = {
  timeout = 30,
  connect_timeout = 10,
  poll_interval = 2,
  max_poll_interval = 15,
  max_retries = 3,
  wait_timeout = 600,
  max_body = 1024 * 1024,
  max_image_bytes = 50 * 1024 * 1024,
  yield = true,
}

local CONFIG_TYPES = {
  api_key = "string",
  base_url = "string",
  callback = "string",
  timeout = "number",
  connect_timeout = "number",
  poll_interval = "number",
  max_poll_interval = "number",
  max_retries = "number",
  wait_timeout = "number",
  max_body = "number",
  max_image_bytes = "number",
  user_agent = "string",
  ca_file = "string",
  ca_path = "string",
  yield = "boolean",
}

-- The API key lives here, keyed by client, so no field of a client (and so
-- no dump or tostring of one) holds it.
local secrets = setmetatable({}, { __mode = "k" })

local now = core.now

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local CONFIG_LIST = table.concat(sorted_keys(CONFIG_TYPES), ", ")

-- Raises at the caller of the public method (`depth` more frames up).
local function arg_error(n, method, want, got, depth)
  error("bad argument #" .. n .. " to '" .. method .. "' (" .. want .. " expected, got "
    .. type(got) .. ")", 3 + (depth or 0))
end

local function invalid(field, message)
  return nil, errors.new("invalid", message, { field = field })
end

local function check_config_number(config, key)
  local v = config[key]
  if key == "max_retries" then
    if v < 0 or v ~= math.floor(v) then
      return invalid(key, "config 'max_retries' must be a whole number >= 0 (got " .. v .. ")")
    end
  elseif key == "poll_interval" then
    if v ~= v or v < 0 then
      return invalid(key, "config 'poll_interval' must be >= 0 seconds (got " .. v .. ")")
    end
  elseif v ~= v or v <= 0 or v == math.huge then
    return invalid(key, "config '" .. key .. "' must be a positive number (got " .. v .. ")")
  end
  return true
end

-- The checked configuration with defaults filled in, or nil, err.
local function read_config(config)
  local c = {}
  for key, value in pairs(config) do
    local want = CONFIG_TYPES[key]
    if not want then
      return invalid(tostring(key),
        "unknown config option '" .. tostring(key) .. "' (allowed: " .. CONFIG_LIST .. ")")
    end
    if type(value) ~= want then
      return invalid(key, "config '" .. key .. "' must be a " .. want .. " (got " .. type(value) .. ")")
    end
    c[key] = value
  end
  for key, value in pairs(DEFAULTS) do
    if c[key] == nil then c[key] = value end
  end
  for key, want in pairs(CONFIG_TYPES) do
    if want == "number" then
      local ok, err = check_config_number(c, key)
      if not ok then return nil, err end
    end
  end
  if c.max_poll_interval < c.poll_interval then
    return invalid("max_poll_interval", "config 'max_poll_interval' (" .. c.max_poll_interval
      .. ") must not be below 'poll_interval' (" .. c.poll_interval .. ")")
  end
  c.api_key = c.api_key or os.getenv("AIRIGHT_API_KEY")
  if not c.api_key or c.api_key == "" then
    return invalid("api_key", "an API key is required: config 'api_key' or the environment "
      .. "variable AIRIGHT_API_KEY")
  end
  if c.api_key:find("[%c]") then
    return invalid("api_key", "the API key must not contain control characters")
  end
  local base = c.base_url or os.getenv("AIRIGHT_BASE_URL")
  if base == nil or base == "" then base = M.DEFAULT_BASE_URL end
  base = base:gsub("/+$", "")
  if not core.is_http_url(base) then
    return invalid("base_url", "config 'base_url' must be an absolute http:// or https:// URL")
  end
  c.base_url = base
  if c.callback ~= nil and not core.is_http_url(c.callback) then
    return invalid("callback", "config 'callback' must be an absolute http:// or https:// URL")
  end
  c.user_agent = c.user_agent or ("lua-dalle/" .. M.VERSION .. " libcurl/" .. core.curl_version)
  return c
end

-- Splits the options a waiting call takes (timeout) from the request's own.
local function split_options(opts)
  local request, timeout = {}, nil
  for k, v in pairs(opts) do
    if k == "timeout" then timeout = v else request[k] = v end
  end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0) then
    return invalid("timeout", "option 'timeout' must be a positive number of seconds (got "
      .. tostring(timeout) .. ")")
  end
  return request, timeout
end

-- The options table of wait and download: only `timeout` is known.
local function wait_options(opts, method)
  if opts == nil then return true, nil end
  if type(opts) ~= "table" then arg_error(method == "wait" and 1 or 3, method, "table", opts, 1) end
  for k in pairs(opts) do
    if k ~= "timeout" then
      return invalid(tostring(k), "unknown option '" .. tostring(k) .. "' (allowed: timeout)")
    end
  end
  local request, timeout = split_options(opts)
  if not request then return nil, timeout end
  return true, timeout
end

-- validate(opts [, default_callback]) --> params | nil, err
function M.validate(opts, default_callback)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'validate' (table expected, got " .. type(opts) .. ")", 3)
  end
  local request, timeout = split_options(opts)
  if not request then return nil, timeout end
  local params, message, field = core.validate(request, default_callback)
  if not params then return invalid(field, message) end
  return params
end

local function escape_path(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function origin_of(url)
  local origin = url:match("^(%a[%w+.-]*://[^/?#]+)")
  return origin and origin:lower()
end

---------------------------------------------------------------------------
-- Client

local Client = {}
Client.__index = Client

local Job = {}
Job.__index = Job

function Client:__tostring()
  if self._closed then return "dalle.client (" .. self.base_url .. ", closed)" end
  return "dalle.client (" .. self.base_url .. ")"
end

local function check_client(self, method)
  if getmetatable(self) ~= Client then
    error("bad self to '" .. method .. "' (dalle client expected; use client:" .. method .. ")", 3)
  end
  if self._closed then error("attempt to use a closed dalle client", 3) end
end

-- new(config) --> client | nil, err
function M.new(config)
  if config == nil then config = {} end
  if type(config) ~= "table" then arg_error(1, "new", "table", config) end
  local c, err = read_config(config)
  if not c then return nil, err end
  local handle, problem = core.new()
  if not handle then return nil, errors.new("network", problem) end
  local self = setmetatable({
    base_url = c.base_url,
    _core = handle,
    _config = c,
    _waiting = {}, -- event id --> true while some call waits for it
    _events = {},  -- event id --> event, until that call picks it up
  }, Client)
  secrets[self] = c.api_key
  c.api_key = nil
  return self
end

function Client:_api_headers()
  return { "x-api-key: " .. secrets[self], "accept: application/json" }
end

-- The service may echo what it was sent; the key never leaves in an error.
function Client:_redact(text)
  local key = secrets[self]
  if not text or not key or key == "" then return text end
  local out, from = {}, 1
  while true do
    local s, e = text:find(key, from, true)
    if not s then break end
    out[#out + 1] = text:sub(from, s - 1) .. "[redacted]"
    from = e + 1
  end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end

function Client:_can_yield()
  if not self._config.yield then return false end
  if coroutine.isyieldable then return coroutine.isyieldable() end
  local co, main = coroutine.running()
  return co ~= nil and not main
end

-- Runs the core for up to `timeout` seconds and files the events that some
-- waiting call asked for.
function Client:_pump(timeout)
  local events, active = self._core:step(timeout)
  local waiting, ready = self._waiting, self._events
  for i = 1, #events do
    local event = events[i]
    if waiting[event.id] then ready[event.id] = event end
  end
  return active
end

-- step([timeout]) --> active: drives all I/O for up to `timeout` seconds
-- (default 0), returning as soon as anything finished.
function Client:step(timeout)
  check_client(self, "step")
  if timeout ~= nil and type(timeout) ~= "number" then arg_error(1, "step", "number", timeout) end
  return self:_pump(timeout or 0)
end

function Client:close()
  if getmetatable(self) ~= Client then error("bad self to 'close'", 2) end
  if self._closed then return end
  self._closed = true
  self._core:close()
  self._events = {}
end
Client.__close = Client.close

-- Waits for the event `id` until `deadline` (nil: no deadline). Returns the
-- event; nil when the deadline came first; nil, err when the client closed.
function Client:_await(id, deadline)
  local waiting, yielding, alarm = self._waiting, self:_can_yield(), nil
  waiting[id] = true
  if yielding and deadline then
    -- Makes the driver's step() return at the deadline even if all is quiet.
    alarm = self._core:timer(deadline - now())
    waiting[alarm] = true
  end
  while self._events[id] == nil and not self._closed do
    local left = deadline and deadline - now() or FOREVER
    if left <= 0 then break end
    if yielding then coroutine.yield(self) else self:_pump(left) end
  end
  waiting[id] = nil
  if self._closed then
    return nil, errors.new("closed", "the client was closed while this call waited")
  end
  local event = self._events[id]
  self._events[id] = nil
  if alarm then
    waiting[alarm] = nil
    self._events[alarm] = nil
    self._core:cancel(alarm)
  end
  if not event then self._core:cancel(id) end
  return event
end

-- Sleeps `seconds`, cut short at `deadline`. Returns true, or nil, err.
function Client:_sleep(seconds, deadline)
  if deadline and now() + seconds > deadline then seconds = math.max(deadline - now(), 0) end
  local _, err = self:_await(self._core:timer(seconds), deadline)
  if err then return nil, err end
  return true
end

local function deadline_error(what, deadline_reason, extra)
  return errors.new("timeout", what .. " did not finish " .. deadline_reason, extra)
end

-- The error for a finished transfer, or nil when it succeeded. `retry` on
-- the error says whether this kind of call may be sent again.
function Client:_failure(event, kind_of_call)
  local is_submit, is_download = kind_of_call == "submit", kind_of_call == "download"
  local failure = event.failure
  if failure then
    local err
    if failure == "timeout" then
      err = errors.new("timeout", "the request timed out: " .. event.error,
        { maybe_submitted = is_submit or nil })
      err.retry = not is_submit
    elseif failure == "too_large" then
      local limit = is_download and "max_image_bytes (" .. self._config.max_image_bytes .. " bytes)"
          or "max_body (" .. self._config.max_body .. " bytes)"
      err = errors.new("decode", "the reply is larger than " .. limit)
    elseif failure == "file" then
      err = errors.new("io", "cannot save the image: " .. event.file_problem)
    elseif failure == "unsent" then
      err = errors.new("network", "could not reach the service: " .. event.error)
      err.retry = true
    else
      err = errors.new("network", "the connection failed: " .. event.error,
        { maybe_submitted = (is_submit and event.sent) or nil })
      err.retry = not is_submit
    end
    return err
  end
  local status = event.status
  if status >= 200 and status < 300 then
    if is_download and event.file ~= "saved" then
      return errors.new("decode", "the download was not kept: " .. tostring(event.file_problem))
    end
    return nil
  end
  local err = errors.from_status(status, self:_redact(response.service_message(event.body)),
    { retry_after = event.retry_after })
  if is_submit then
    -- Only answers given before the service did anything are safe to resend.
    err.retry = status == 429 or status == 503
  else
    err.retry = status == 408 or status == 429 or status >= 500
  end
  return err
end

local function backoff(attempt, retry_after)
  local delay = math.random() * math.min(RETRY_CAP, RETRY_BASE * 2 ^ (attempt - 1))
  if retry_after and retry_after > delay then delay = retry_after end
  return delay
end

-- Sends `req`, retrying as the kind of call allows, and waits for the reply.
function Client:_exchange(req, deadline, kind_of_call, what)
  local attempt = 0
  while true do
    local per_request = req.timeout_limit or self._config.timeout
    if deadline then per_request = math.min(per_request, deadline - now()) end
    if per_request <= 0 then
      return nil, deadline_error(what, "before its deadline")
    end
    req.timeout = per_request
    local id, problem = self._core:request(req)
    if not id then
      return nil, errors.new(kind_of_call == "download" and "io" or "network", problem)
    end
    local event, closed = self:_await(id, deadline)
    if closed then return nil, closed end
    if not event then
      return nil, deadline_error(what, "before its deadline",
        { maybe_submitted = kind_of_call == "submit" or nil })
    end
    local err = self:_failure(event, kind_of_call)
    if not err then return event end
    attempt = attempt + 1
    local retry = err.retry
    err.retry = nil
    err.attempts = attempt
    if not retry or attempt > self._config.max_retries then return nil, err end
    local delay = backoff(attempt, err.retry_after)
    if deadline and now() + delay >= deadline then return nil, err end
    local slept, closed_err = self:_sleep(delay, deadline)
    if not slept then return nil, closed_err end
  end
end

local function decode_reply(body, what)
  local value, problem = response.decode(body)
  if value == nil then return nil, errors.new("decode", what .. ": " .. problem) end
  return response.read(value)
end

function Client:_submit(opts, deadline)
  local request, timeout = split_options(opts)
  if not request then return nil, timeout end
  if timeout and (not deadline or now() + timeout < deadline) then deadline = now() + timeout end
  local params, message, field = core.validate(request, self._config.callback)
  if not params then return invalid(field, message) end
  local fields = {
    { "callback", params.callback },
    { "modelId", params.model_id },
    { "prompt", params.prompt },
    { "model", params.model },
    { "size", params.size },
  }
  if params.quality then fields[#fields + 1] = { "quality", params.quality } end
  if params.style then fields[#fields + 1] = { "style", params.style } end
  local c = self._config
  local event, err = self:_exchange({
    url = self.base_url .. params.path,
    headers = self:_api_headers(),
    fields = fields,
    connect_timeout = c.connect_timeout,
    max_body = c.max_body,
    user_agent = c.user_agent,
    ca_file = c.ca_file,
    ca_path = c.ca_path,
  }, deadline, "submit", "the submit")
  if not event then return nil, err end
  local reading, derr = decode_reply(event.body, "the submit reply")
  if not reading then return nil, derr end
  if not reading.id then
    return nil, errors.new("decode", "the submit reply has no job id (looked for a bare string "
      .. "or number, or id, jobId, job_id, _id, request_id, taskId)", { raw = reading.raw })
  end
  if reading.status == "failed" then
    return nil, errors.new("failed", self:_redact(reading.reason) or "the service refused the job",
      { raw = reading.raw, id = reading.id })
  end
  local job = M.job(self, reading.id)
  job.params = params
  job.raw = reading.raw
  job._next_poll = now() + c.poll_interval
  return job
end

-- submit(opts) --> job | nil, err
function Client:submit(opts)
  check_client(self, "submit")
  if type(opts) ~= "table" then arg_error(1, "submit", "table", opts) end
  return self:_submit(opts, nil)
end

-- generate(opts) --> result | nil, err: submit, then wait; opts.timeout
-- bounds both together.
function Client:generate(opts)
  check_client(self, "generate")
  if type(opts) ~= "table" then arg_error(1, "generate", "table", opts) end
  local request, timeout = split_options(opts)
  if not request then return nil, timeout end
  local deadline = now() + (timeout or self._config.wait_timeout)
  local job, err = self:_submit(request, deadline)
  if not job then return nil, err end
  return job:_wait(deadline)
end

-- job(id) --> job: a handle on a job submitted earlier.
function Client:job(id)
  check_client(self, "job")
  if type(id) == "number" then id = string.format("%.0f", id) end
  if type(id) ~= "string" then arg_error(1, "job", "string", id) end
  if id == "" then error("bad argument #1 to 'job' (job id must not be empty)", 2) end
  return M.job(self, id)
end

-- download(result_or_url, path [, {timeout = s}]) --> true | nil, err
function Client:download(source, path, opts)
  check_client(self, "download")
  local url = source
  if type(source) == "table" then url = source.url end
  if type(url) ~= "string" then arg_error(1, "download", "result or URL string", url) end
  if type(path) ~= "string" then arg_error(2, "download", "string", path) end
  local ok, timeout = wait_options(opts, "download")
  if not ok then return nil, timeout end
  if not core.is_http_url(url) then
    return invalid("url", "cannot download '" .. url:sub(1, 80) .. "': not an absolute http(s) URL")
  end
  if path == "" then return invalid("path", "the download path must not be empty") end
  local c = self._config
  -- The key goes only to the service's own origin, never to an image host.
  local headers = origin_of(url) == origin_of(self.base_url) and self:_api_headers() or {}
  local deadline = now() + (timeout or c.wait_timeout)
  local event, err = self:_exchange({
    url = url,
    file = path,
    headers = headers,
    timeout_limit = timeout or c.wait_timeout,
    connect_timeout = c.connect_timeout,
    low_speed_time = STALL_SECONDS,
    max_body = c.max_image_bytes,
    user_agent = c.user_agent,
    ca_file = c.ca_file,
    ca_path = c.ca_path,
  }, deadline, "download", "the download")
  if not event then return nil, err end
  return true
end

---------------------------------------------------------------------------
-- Job

function Job:__tostring()
  return "dalle.job " .. self.id .. " (" .. self.status .. ")"
end

function M.job(client, id)
  return setmetatable({
    id = id,
    status = "pending",
    _client = client,
    _interval = client._config.poll_interval,
    _next_poll = now(),
  }, Job)
end

local function check_job(self, method)
  if getmetatable(self) ~= Job then
    error("bad self to '" .. method .. "' (dalle job expected; use job:" .. method .. ")", 3)
  end
  if self._client._closed then error("attempt to use a job of a closed dalle client", 3) end
end

function Job:_schedule_next(retry_after)
  local c = self._client._config
  local delay = self._interval
  if retry_after and retry_after > delay then delay = retry_after end
  self._next_poll = now() + delay
  self._interval = math.min(self._interval * POLL_GROWTH, c.max_poll_interval)
end

function Job:_poll(deadline)
  local client = self._client
  local c = client._config
  local event, err = client:_exchange({
    url = client.base_url .. ART_PATH .. escape_path(self.id),
    headers = client:_api_headers(),
    connect_timeout = c.connect_timeout,
    max_body = c.max_body,
    user_agent = c.user_agent,
    ca_file = c.ca_file,
    ca_path = c.ca_path,
  }, deadline, "poll", "the poll of job " .. self.id)
  if not event then return nil, err end
  local reading, derr = decode_reply(event.body, "the poll reply for job " .. self.id)
  if not reading then return nil, derr end
  self.raw = reading.raw
  self.service_status = reading.service_status
  if reading.status == "failed" then
    self.status = "failed"
    return nil, errors.new("failed", client:_redact(reading.reason) or "the service says the job failed",
      { id = self.id, reason = client:_redact(reading.reason), raw = reading.raw })
  end
  if reading.status == "succeeded" then
    if #reading.images == 0 then
      return nil, errors.new("decode", "the service says job " .. self.id
        .. " succeeded but gave no image URL", { raw = reading.raw })
    end
    self.status = "succeeded"
    self.result = {
      id = self.id,
      status = "succeeded",
      images = reading.images,
      url = reading.images[1],
      raw = reading.raw,
    }
    return self.result
  end
  self:_schedule_next(event.retry_after)
  return false
end

-- poll() --> result | false (still pending) | nil, err
function Job:poll()
  check_job(self, "poll")
  if self.result then return self.result end
  return self:_poll(nil)
end

function Job:_wait(deadline)
  local client = self._client
  while not self.result do
    local pause = self._next_poll - now()
    if pause > 0 then
      local ok, err = client:_sleep(pause, deadline)
      if not ok then return nil, err end
    end
    if now() >= deadline then
      return nil, errors.new("timeout", "job " .. self.id .. " did not finish before its deadline"
        .. (self.service_status and " (last status: " .. self.service_status .. ")" or ""),
        { id = self.id })
    end
    local result, err = self:_poll(deadline)
    if result == nil then return nil, err end
  end
  return self.result
end

-- wait([{timeout = s}]) --> result | nil, err
function Job:wait(opts)
  check_job(self, "wait")
  local ok, timeout = wait_options(opts, "wait")
  if not ok then return nil, timeout end
  return self:_wait(now() + (timeout or self._client._config.wait_timeout))
end

return M
