-- Sending one request to the end: the retry policy, a row of data per kind
-- of call (submit, poll, download); the errors a finished transfer makes;
-- and the log and record of every attempt. The API key is never here, only
-- the function that redacts it.
--
--   exchange.new{core =, waits =, config =, redact =, recorder =} --> ex
--   ex:send(req, deadline, kind, handle [, per_request_cap]) --> event | nil, err
--       req as dalle.core's request takes it, plus job_id (a poll's job,
--       for the record); handle (of dalle.waits) lets a job cancel it
--   ex:log(record): hands a record of something else (a callback) to the
--       config's log function, if there is one
--   ex:close()
local core = require "dalle.core"
local errors = require "dalle.errors"
local response = require "dalle.response"

local M = {}

local RETRY_BASE = 0.5 -- seconds: the first retry waits up to this long
local RETRY_CAP = 8    -- seconds: no backoff step waits longer (Retry-After may)

local now = core.now

-- 408, 429 and every 5xx: answers a poll or a download may get another time.
local TRANSIENT = { [408] = true, [429] = true }
for status = 500, 599 do TRANSIENT[status] = true end

-- Statuses that answer a submit before the service did anything with it: it
-- refused the request as it stood (malformed, unauthorised, too large, rate
-- limited, unavailable). Every other answer, a 500 or a 502 among them, may
-- come after the job started.
local SUBMIT_REFUSED = {
  [400] = true, [401] = true, [402] = true, [403] = true, [404] = true, [405] = true,
  [408] = true, [411] = true, [413] = true, [414] = true, [415] = true, [422] = true,
  [429] = true, [431] = true, [503] = true,
}

-- One row per kind of call:
--   resend: the statuses worth sending the request again for
--   resend_sent: whether a timeout or a broken connection after the request
--     may have gone out is sent again (a request that provably never left
--     always is)
--   submits: failures after the request may have reached the service say
--     maybe_submitted, except answers with a `refused` status
--   limit: the config key that caps the reply, as its error names it
--   saves_file: a 2xx whose file was not kept is an error
--   recorded: written to the record file
--   start_failure: the error kind when the request cannot even start
local POLICY = {
  submit = { resend = { [429] = true, [503] = true }, resend_sent = false, submits = true,
    refused = SUBMIT_REFUSED, limit = "max_body", recorded = true, start_failure = "network" },
  poll = { resend = TRANSIENT, resend_sent = true, limit = "reply_cap", recorded = true,
    start_failure = "network" },
  download = { resend = TRANSIENT, resend_sent = true, limit = "max_image_bytes",
    saves_file = true, start_failure = "io" },
}

local LIMIT_TEXT = {
  max_body = "max_body",
  reply_cap = "max_body plus room for an inline image of max_image_bytes",
  max_image_bytes = "max_image_bytes",
}

local Exchange = {}
Exchange.__index = Exchange

function M.new(parts)
  return setmetatable({
    _core = parts.core,
    _waits = parts.waits,
    _config = parts.config,
    _redact = parts.redact,
    _recorder = parts.recorder,
    _told = {},
  }, Exchange)
end

function Exchange:close()
  if self._recorder then self._recorder:close() end
end

-- A failure that must not fail the call it happened in (a raising log
-- function, a record that cannot be written) is told on stderr, once.
function Exchange:_tell_once(what, text, problem)
  if self._told[what] then return end
  self._told[what] = true
  io.stderr:write("dalle: ", text, ": ", tostring(problem), "\n")
end

-- Hands a record to the `log` function.
function Exchange:_log(record)
  local ok, problem = pcall(self._config.log, record)
  if not ok then
    self:_tell_once("log", "the log function raised an error (ignored from now on)", problem)
  end
end

function Exchange:log(record)
  if self._config.log then self:_log(record) end
end

-- Writes one attempt to the record file.
function Exchange:_record(req, kind, method, attempt, event)
  local ok, problem = self._recorder:exchange {
    call = kind, method = method, url = req.url, fields = req.fields,
    job = req.job_id, attempt = attempt, event = event,
  }
  if not ok then
    self:_tell_once("record", "cannot write the record file (the calls go on; told once)", problem)
  end
end

-- The error for a finished transfer, or nil when it succeeded; and whether
-- the request may be sent again.
function Exchange:_failure(event, policy)
  local failure = event.failure
  if failure == "unsent" then
    return errors.new("network", "could not reach the service: " .. event.error), true
  elseif failure == "timeout" then
    return errors.new("timeout", "the request timed out: " .. event.error,
      { maybe_submitted = policy.submits or nil }), policy.resend_sent
  elseif failure == "too_large" then
    local key = policy.limit
    local limit = self._config[key]
    -- A reply came, so the request reached the service.
    return errors.new("decode", "the reply is larger than " .. LIMIT_TEXT[key] .. " (" .. limit
      .. " bytes)", { maybe_submitted = policy.submits or nil }), false
  elseif failure == "file" then
    return errors.new("io", "cannot save the image: " .. event.file_problem), false
  elseif failure then
    return errors.new("network", "the connection failed: " .. event.error,
      { maybe_submitted = (policy.submits and event.sent) or nil }), policy.resend_sent
  end
  local status = event.status
  if status >= 200 and status < 300 then
    if policy.saves_file and event.file ~= "saved" then
      return errors.new("decode", "the download was not kept: " .. tostring(event.file_problem)),
        false
    end
    return nil
  end
  local err = errors.from_status(status, self._redact(response.service_message(event.body)),
    { retry_after = event.retry_after })
  if policy.submits and not policy.refused[status] then err.maybe_submitted = true end
  return err, policy.resend[status] or false
end

local function backoff(attempt, retry_after)
  local delay = math.random() * math.min(RETRY_CAP, RETRY_BASE * 2 ^ (attempt - 1))
  if retry_after and retry_after > delay then delay = retry_after end
  return delay
end

function Exchange:send(req, deadline, kind, handle, per_request_cap)
  local policy = POLICY[kind]
  local config, waits = self._config, self._waits
  local method = req.fields and "POST" or "GET"
  local recording = self._recorder ~= nil and policy.recorded
  local logging = config.log ~= nil
  req.keep_headers = recording
  local attempt = 0
  while true do
    local per_request = per_request_cap or config.timeout
    if deadline then per_request = math.min(per_request, deadline - now()) end
    if per_request <= 0 then
      -- Every earlier attempt was refused or never sent: nothing went through.
      return nil, errors.deadline("the " .. kind)
    end
    attempt = attempt + 1
    if logging then
      self:_log { event = "request", method = method, url = req.url, attempt = attempt,
        message = method .. " " .. req.url .. (attempt > 1 and " (attempt " .. attempt .. ")" or "") }
    end
    local id, queued = self._core:request(req, per_request)
    if not id then return nil, errors.new(policy.start_failure, queued) end
    -- A started request times out by the deadline on its own; one still
    -- queued has no timeout running yet.
    local event, stopped, sent = waits:await(id, deadline, handle, not queued)
    if stopped then return nil, stopped end
    if recording then self:_record(req, kind, method, attempt, event) end
    if not event then
      if logging then
        self:_log { event = "response", method = method, url = req.url, failure = "deadline",
          message = method .. " " .. req.url .. " -> no reply before the deadline" }
      end
      -- Still queued or connecting, the request never left: only one that
      -- may have reached the service may have submitted the job.
      local err = errors.deadline("the " .. kind, { maybe_submitted = (policy.submits and sent) or nil })
      if not sent then err.message = err.message .. " (it was never sent)" end
      return nil, err
    end
    if logging then
      self:_log { event = "response", method = method, url = req.url, status = event.status,
        elapsed = event.elapsed, failure = event.failure,
        message = method .. " " .. req.url .. " -> "
          .. (event.failure and "failed (" .. event.error .. ")" or tostring(event.status))
          .. string.format(" in %.3f s", event.elapsed) }
    end
    local err, resend = self:_failure(event, policy)
    if not err then return event end
    err.attempts = attempt
    if not resend or attempt > config.max_retries then return nil, err end
    local delay = backoff(attempt, err.retry_after)
    if deadline and now() + delay >= deadline then return nil, err end
    if logging then
      self:_log { event = "retry", method = method, url = req.url, attempt = attempt,
        delay = delay, reason = err.message,
        message = string.format("retrying %s %s in %.2f s (attempt %d of %d): %s", method,
          req.url, delay, attempt + 1, config.max_retries + 1, tostring(err)) }
    end
    local slept, stopped_err = waits:sleep(delay, deadline, handle)
    if not slept then return nil, stopped_err end
  end
end

return M
