-- Jobs: poll, wait and cancel one job, on the poll schedule (poll_interval,
-- growing 1.5x up to max_poll_interval, pushed out by Retry-After). A job
-- whose result comes by callback polls only as a fallback, from
-- callback_poll_interval on; its callback wakes it at once.
--
-- For dalle.client, besides the job methods:
--   job.new(context, id [, params, raw, callback_id]) --> job; context is
--       the client's {waits =, exchange =, config =, base_url =, redact =,
--       callbacks =, journal =}; a job from submit polls first after poll_interval (or
--       callback_poll_interval with a callback id), one picked up by id at once
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

-- `id` is nil only for a job whose submit reply already held its image.
-- All fields in one constructor: no rehash later.
function M.new(context, id, params, raw, callback_id)
  local c = context.config
  local interval, max_interval, first = c.poll_interval, c.max_poll_interval, 0
  if callback_id then
    interval = c.callback_poll_interval
    max_interval = math.max(max_interval, interval)
    first = interval
  elseif params then
    first = interval
  end
  return setmetatable({
    id = id,
    status = "pending",
    params = params,
    raw = raw,
    _context = context,
    _handle = context.waits:handle(id),
    _interval = interval,
    _max_interval = max_interval,
    _next_poll = now() + first,
    _callback_id = callback_id or false,
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
  self._interval = math.min(self._interval * POLL_GROWTH, self._max_interval)
end

-- The job's callback token ends with the job: later POSTs to it are refused.
function Job:_end_callback()
  local id = self._callback_id
  if not id then return end
  self._callback_id = false
  self._context.waits:drop(id)
  self._context.callbacks:forget(id)
end

-- A callback arrived: with callback_confirm off, a body that reads as this
-- job's finished result is taken as it is; anything else (and every body
-- by default) is confirmed by a poll now.
function Job:_on_callback(event)
  local context = self._context
  context.exchange:log { event = "callback", job = self.id, received_at = event.at,
    message = "callback for job " .. self.id .. " (" .. context.callbacks:url() .. "/...)" }
  if not context.config.callback_confirm then
    local reading = response.parse(event.body, "the callback for job", self.id)
    if reading and reading.id == self.id and reading.status == "succeeded"
        and #reading.images > 0 then
      self.raw = reading.raw
      self.service_status = reading.service_status
      M.finish(self, reading)
      return
    end
  end
  self._next_poll = now()
end

function M.finish(job, reading)
  job.status = "succeeded"
  job.result = response.result(reading, job.id)
  job:_end_callback()
  local journal = job._context.journal
  if journal then journal:job_succeeded(job.id, job.result) end
  return job.result
end

-- A poll reply this side could not read: the journal notes it, and keeps
-- the job pending, since the service may yet answer it.
local function unreadable(job, err)
  local journal = job._context.journal
  if journal then journal:job_error(job.id, err) end
  return nil, err
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
  if not reading then return unreadable(self, derr) end
  self.raw = reading.raw
  self.service_status = reading.service_status
  if reading.status == "failed" then
    self.status = "failed"
    self:_end_callback()
    local reason = context.redact(reading.reason)
    local failure = errors.new("failed", reason or "the service says the job failed",
      { id = self.id, reason = reason, raw = reading.raw })
    if context.journal then context.journal:job_failed(self.id, failure) end
    return nil, failure
  end
  if reading.status == "succeeded" then
    if #reading.images == 0 then
      return unreadable(self, errors.new("decode", "the service says job " .. self.id
        .. " succeeded but gave no image URL", { raw = reading.raw }))
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
    if handle.canceled then
      job:_end_callback()
      return nil, errors.canceled(job.id)
    end
    local callback = job._callback_id and waits:take(job._callback_id)
    if callback then
      job:_on_callback(callback)
    elseif now() >= deadline then
      local err = errors.deadline("job " .. job.id, { id = job.id })
      if job.service_status then
        err.message = err.message .. " (last status: " .. job.service_status .. ")"
      end
      return nil, err
    elseif job._next_poll > now() then
      local ok, err = waits:sleep(job._next_poll - now(), deadline, handle, job._callback_id)
      if not ok then return nil, err end
      -- A group has its answer elsewhere: no new poll for this job now.
      if handle.released then return nil end
    else
      local result, err = job:_poll(deadline)
      if result == nil then return nil, err end
    end
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
