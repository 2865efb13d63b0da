-- Jobs: poll, wait and cancel one job, on the poll schedule (poll_interval,
-- growing 1.5x up to max_poll_interval, pushed out by Retry-After).
--
-- For dalle.client, besides the job methods:
--   job.new(context, id [, params, raw, next_poll]) --> job; context is the
--       client's {waits =, exchange =, config =, base_url =, redact =}
--   job.is_job(value), job.wait(job, deadline) --> result | nil, err
--   job.finish(job, reading) --> result: the job succeeded as `reading` says
--   job.task(job, deadline) --> a task for dalle.waits' group
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

-- A job picked up by id is polled at once; submit gives the request's
-- params, the reply and the time of the first poll. `id` is nil only for a
-- job whose submit reply already held its image. All fields in one
-- constructor: no rehash later.
function M.new(context, id, params, raw, next_poll)
  return setmetatable({
    id = id,
    status = "pending",
    params = params,
    raw = raw,
    _context = context,
    _handle = context.waits:handle(id),
    _interval = context.config.poll_interval,
    _next_poll = next_poll or now(),
  }, Job)
end

function M.is_job(value)
  return getmetatable(value) == Job
end

local function escape_path(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function check_job(self, method)
  if getmetatable(self) ~= Job then
    error("bad self to '" .. method .. "' (dalle job expected; use job:" .. method .. ")", 3)
  end
  if self._context.waits:closed() then error("attempt to use a job of a closed dalle client", 3) end
end

function Job:_schedule_next(retry_after)
  local delay = self._interval
  if retry_after and retry_after > delay then delay = retry_after end
  self._next_poll = now() + delay
  self._interval = math.min(self._interval * POLL_GROWTH, self._context.config.max_poll_interval)
end

function M.finish(job, reading)
  job.status = "succeeded"
  job.result = response.result(reading, job.id)
  return job.result
end

function Job:_poll(deadline)
  local context = self._context
  -- The same for every poll of this job: made once.
  local request = self._poll_request
  if not request then
    request = {
      url = context.base_url .. ART_PATH .. escape_path(self.id),
      to_service = true,
      max_body = context.config.reply_cap,
      job_id = self.id,
    }
    self._poll_request = request
  end
  local event, err = context.exchange:send(request, deadline, "poll", self._handle)
  if not event then return nil, err end
  local reading, derr = response.parse(event.body, "the poll reply for job", self.id)
  if not reading then return nil, derr end
  self.raw = reading.raw
  self.service_status = reading.service_status
  if reading.status == "failed" then
    self.status = "failed"
    local reason = context.redact(reading.reason)
    return nil, errors.new("failed", reason or "the service says the job failed",
      { id = self.id, reason = reason, raw = reading.raw })
  end
  if reading.status == "succeeded" then
    if #reading.images == 0 then
      return nil, errors.new("decode", "the service says job " .. self.id
        .. " succeeded but gave no image URL", { raw = reading.raw })
    end
    return M.finish(self, reading)
  end
  self:_schedule_next(event.retry_after)
  return false
end

-- poll() --> result | false (still pending) | nil, err
function Job:poll()
  check_job(self, "poll")
  if self._handle.canceled then return nil, errors.canceled(self.id) end
  if self.result then return self.result end
  return self:_poll(nil)
end

function M.wait(job, deadline)
  local handle, waits = job._handle, job._context.waits
  while not job.result do
    if handle.canceled then return nil, errors.canceled(job.id) end
    local time = now()
    local pause = job._next_poll - time
    if pause > 0 then
      local ok, err = waits:sleep(pause, deadline, handle)
      if not ok then return nil, err end
      -- A group has its answer elsewhere: no new poll for this job now.
      if handle.released then return nil end
      time = now()
    end
    if time >= deadline then
      local err = errors.deadline("job " .. job.id, { id = job.id })
      if job.service_status then
        err.message = err.message .. " (last status: " .. job.service_status .. ")"
      end
      return nil, err
    end
    local result, err = job:_poll(deadline)
    if result == nil then return nil, err end
  end
  return job.result
end

function M.task(job, deadline)
  return { handle = job._handle, run = function() return M.wait(job, deadline) end }
end

-- wait([{timeout = s}]) --> result | nil, err
function Job:wait(opts)
  check_job(self, "wait")
  local ok, timeout = config.wait_options(opts, "wait", 1)
  if not ok then return nil, timeout end
  return M.wait(self, now() + (timeout or self._context.config.wait_timeout))
end

-- cancel() --> true: stops waiting for this job here and now (the service
-- has no cancel endpoint: the job itself goes on there). A call waiting on
-- the job returns a `canceled` error; so does every later poll or wait.
function Job:cancel()
  if getmetatable(self) ~= Job then error("bad self to 'cancel'", 2) end
  self._context.waits:cancel(self._handle)
  return true
end

return M
