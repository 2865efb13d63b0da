-- Jobs: poll, wait and cancel one job, on the poll schedule (poll_interval,
-- growing 1.5x up to max_poll_interval, pushed out by Retry-After).
local core = require "dalle.core"
local config = require "dalle.config"
local errors = require "dalle.errors"
local response = require "dalle.response"

local M = {}

local ART_PATH = "/sdk/art/"
local POLL_GROWTH = 1.5

local now = core.now

local Job = {}
Job.__index = Job

function Job:__tostring()
  return "dalle.job " .. (self.id or "(no id)") .. " (" .. self.status .. ")"
end

-- new(client, id [, params, raw, next_poll]) --> job. A job picked up by id
-- is polled at once; submit gives the request's params, the reply and the
-- time of the first poll. All fields in one constructor: no rehash later.
-- `id` is nil only for a job whose submit reply already held its image.
function M.new(client, id, params, raw, next_poll)
  return setmetatable({
    id = id,
    status = "pending",
    params = params,
    raw = raw,
    _client = client,
    _interval = client._config.poll_interval,
    _next_poll = next_poll or now(),
    _waiting_on = false, -- the id of the event a call waits for
  }, Job)
end

local function escape_path(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function check_job(self, method)
  if getmetatable(self) ~= Job then
    error("bad self to '" .. method .. "' (dalle job expected; use job:" .. method .. ")", 3)
  end
  if self._client._closed then error("attempt to use a job of a closed dalle client", 3) end
end

local function canceled(self)
  return nil, errors.new("canceled", "job " .. (self.id or "(no id)") .. " was canceled",
    { id = self.id })
end

function Job:_schedule_next(retry_after)
  local delay = self._interval
  if retry_after and retry_after > delay then delay = retry_after end
  self._next_poll = now() + delay
  self._interval = math.min(self._interval * POLL_GROWTH, self._client._config.max_poll_interval)
end

function Job:_poll(deadline)
  local client = self._client
  -- The same for every poll of this job: made once.
  local request = self._poll_request
  if not request then
    request = {
      url = client.base_url .. ART_PATH .. escape_path(self.id),
      to_service = true,
      max_body = client._config.reply_cap,
      record_call = "poll",
      job_id = self.id,
      keep_headers = client._recorder ~= nil,
    }
    self._poll_request = request
  end
  local event, err = client:_exchange(request, deadline, "poll", self)
  if not event then return nil, err end
  local reading, derr = response.parse(event.body, "the poll reply for job", self.id)
  if not reading then return nil, derr end
  self.raw = reading.raw
  self.service_status = reading.service_status
  if reading.status == "failed" then
    self.status = "failed"
    local reason = client:_redact(reading.reason)
    return nil, errors.new("failed", reason or "the service says the job failed",
      { id = self.id, reason = reason, raw = reading.raw })
  end
  if reading.status == "succeeded" then
    if #reading.images == 0 then
      return nil, errors.new("decode", "the service says job " .. self.id
        .. " succeeded but gave no image URL", { raw = reading.raw })
    end
    return self:finish(reading)
  end
  self:_schedule_next(event.retry_after)
  return false
end

-- finish(reading) --> result: the job succeeded, as `reading` (of the
-- response rules, with images) says.
function Job:finish(reading)
  self.status = "succeeded"
  self.result = response.result(reading, self.id)
  return self.result
end

-- poll() --> result | false (still pending) | nil, err
function Job:poll()
  check_job(self, "poll")
  if self._canceled then return canceled(self) end
  if self.result then return self.result end
  return self:_poll(nil)
end

function Job:_wait(deadline)
  local client = self._client
  while not self.result do
    if self._canceled then return canceled(self) end
    local time = now()
    local pause = self._next_poll - time
    if pause > 0 then
      local ok, err = client:_sleep(pause, deadline, self)
      if not ok then return nil, err end
      -- wait_any has its answer elsewhere: no new poll for this job now.
      if self._released then return nil end
      time = now()
    end
    if time >= deadline then
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
  local ok, timeout = config.wait_options(opts, "wait", 1)
  if not ok then return nil, timeout end
  return self:_wait(now() + (timeout or self._client._config.wait_timeout))
end

-- cancel() --> true: stops waiting for this job here and now (the service
-- has no cancel endpoint: the job itself goes on there). A call waiting on
-- the job returns a `canceled` error; so does every later poll or wait.
function Job:cancel()
  if getmetatable(self) ~= Job then error("bad self to 'cancel'", 2) end
  self._canceled = true
  local client = self._client
  if self._waiting_on and not client._closed then client:_interrupt(self._waiting_on) end
  return true
end

return M
