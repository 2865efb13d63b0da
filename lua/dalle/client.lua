-- Clients: submit, generate, download and step; the retry policy; logging;
-- and how a call waits: it yields the client when it runs in a coroutine,
-- and blocks in step() (never spinning) when it does not.
local core = require "dalle.core"
local config = require "dalle.config"
local errors = require "dalle.errors"
local job_module = require "dalle.job"
local recorder_module = require "dalle.record"
local response = require "dalle.response"

local M = {}

local RETRY_BASE = 0.5 -- seconds: the first retry waits up to this long
local RETRY_CAP = 8    -- seconds: no backoff step waits longer (Retry-After may)
local FOREVER = 1e9
-- Form fields a submit sends only when the model takes them.
local OPTIONAL_FIELDS = { "quality", "style" }
-- Statuses that answer a submit before the service did anything with it: it
-- refused the request as it stood (malformed, unauthorised, too large, rate
-- limited, unavailable). Every other answer, a 500 or a 502 among them, may
-- come after the job started, so its error says the job may have been
-- submitted. Of these, only 429 and 503 are worth sending again.
local SUBMIT_REFUSED = {
  [400] = true, [401] = true, [402] = true, [403] = true, [404] = true, [405] = true,
  [408] = true, [411] = true, [413] = true, [414] = true, [415] = true, [422] = true,
  [429] = true, [431] = true, [503] = true,
}
local SUBMIT_RESENDABLE = { [429] = true, [503] = true }

-- The API key lives here, keyed by client, so no field of a client (and so
-- no dump or tostring of one) holds it.
local secrets = setmetatable({}, { __mode = "k" })

local now = core.now
local isyieldable = coroutine.isyieldable -- nil before Lua 5.3
local invalid = errors.invalid
local bad_argument = errors.bad_argument

local Client = {}
Client.__index = Client
M.Client = Client

function Client:__tostring()
  if self._closed then return "dalle.client (" .. self.base_url .. ", closed)" end
  return "dalle.client (" .. self.base_url .. ")"
end

-- Raises unless `self` is an open client; `depth` as for bad_argument.
function M.check_open(self, method, depth)
  if getmetatable(self) ~= Client then
    error("bad self to '" .. method .. "' (dalle client expected; use client:" .. method .. ")",
      3 + (depth or 0))
  end
  if self._closed then error("attempt to use a closed dalle client", 3 + (depth or 0)) end
end
local check_open = M.check_open

-- new(config) --> client | nil, err
function M.new(user_config)
  if user_config == nil then user_config = {} end
  if type(user_config) ~= "table" then bad_argument(1, "new", "table", user_config) end
  local c, err = config.read(user_config)
  if not c then return nil, err end
  local handle, problem = core.new {
    max_transfers = c.max_transfers,
    connect_timeout = c.connect_timeout,
    low_speed_time = c.stall_timeout,
    user_agent = c.user_agent,
    ca_file = c.ca_file,
    ca_path = c.ca_path,
    -- Sent only with requests marked to_service: never to an image host.
    service_headers = { "x-api-key: " .. c.api_key, "accept: application/json" },
  }
  if not handle then return nil, errors.new("network", problem) end
  local api_key = c.api_key
  local recorder
  if c.record then
    recorder, problem = recorder_module.open(c.record, {
      redact = function(text) return M.redact(text, api_key) end,
      record_prompts = c.record_prompts,
      max_body = c.max_body,
    })
    if not recorder then
      handle:close()
      return invalid("record", "cannot open the record file"
        .. (c.record_from_env and " named by DALLE_RECORD" or "") .. ": " .. problem)
    end
  end
  local self = setmetatable({
    base_url = c.base_url,
    _core = handle,
    _config = c,
    _waiting = {},  -- event id --> the waiting coroutine (true: a blocking call)
    _events = {},   -- event id --> event, until that call picks it up
    _grouped = setmetatable({}, { __mode = "k" }), -- coroutines of wait_all/wait_any
    _runnable = {}, -- grouped coroutines whose event arrived
    _resumable = {}, -- coroutines with news, for step() to hand out (list and set)
    _recorder = recorder,
  }, Client)
  secrets[self] = api_key
  c.api_key = nil
  return self
end

-- redact(text, key) --> text with every occurrence of `key` replaced.
function M.redact(text, key)
  if not text or not key then return text end
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

-- The service may echo what it was sent; the key never leaves in an error.
function Client:_redact(text)
  return M.redact(text, secrets[self])
end

-- Writes one exchange to the record file, if the client keeps one. A
-- failure to write never fails the call: it is told once on stderr.
function Client:_record(req, method, attempt, event)
  local ok, problem = self._recorder:exchange {
    call = req.record_call, method = method, url = req.url, fields = req.fields,
    job = req.job_id, attempt = attempt, event = event,
  }
  if not ok and not self._record_failed then
    self._record_failed = true
    io.stderr:write("dalle: cannot write the record file (the calls go on; told once): ",
      tostring(problem), "\n")
  end
end

-- Hands a record to the `log` function. A log function that raises must
-- not break the call it reports on: it is told once on stderr and ignored.
function Client:_log(record)
  local log = self._config.log
  if not log then return end
  local ok, problem = pcall(log, record)
  if not ok and not self._log_failed then
    self._log_failed = true
    io.stderr:write("dalle: the log function raised an error (ignored from now on): ",
      tostring(problem), "\n")
  end
end

-- Marks whoever waits on `id` as having news, into `woken` (a set and, in
-- order, a list). A grouped coroutine (a member of wait_all/wait_any) is
-- marked runnable and its group's own waiter woken instead.
function Client:_mark(id, woken)
  local waiter = self._waiting[id]
  if waiter == nil then return end
  local group = self._grouped[waiter]
  if group then
    self._runnable[waiter] = true
    waiter = group
  end
  if not woken[waiter] then
    woken[waiter] = true
    woken[#woken + 1] = waiter
  end
end

-- Wakes what `_mark` collected: loop tokens through the loop's adapter;
-- coroutines a driver resumes go on the list the next step() hands out.
-- Woken only now, so a woken coroutine never sees half-filed events.
function Client:_wake(woken)
  local loop, resumable = self._loop, self._resumable
  for i = 1, #woken do
    local waiter = woken[i]
    local kind = type(waiter)
    if kind == "thread" then
      if not resumable[waiter] then
        resumable[waiter] = true
        resumable[#resumable + 1] = waiter
      end
    elseif loop and kind == "table" then
      loop.wake(self, waiter)
    end
  end
end

-- Runs the core for up to `timeout` seconds and files the events that some
-- waiting call asked for.
function Client:_pump(timeout)
  local events, active = self._core:step(timeout)
  if events[1] == nil then return active end
  local waiting, filed, woken = self._waiting, self._events, {}
  for i = 1, #events do
    local event = events[i]
    if waiting[event.id] ~= nil then
      filed[event.id] = event
      self:_mark(event.id, woken)
    end
  end
  if #woken > 0 then self:_wake(woken) end
  return active
end

-- Ends the wait on `id` with no event (a cancel): its waiter wakes to see why.
function Client:_interrupt(id)
  self._core:cancel(id)
  local woken = {}
  self:_mark(id, woken)
  self:_wake(woken)
end

-- step([timeout]) --> active, ready: drives all I/O for up to `timeout`
-- seconds (default 0), returning as soon as anything finished. `ready` lists
-- the coroutines whose wait has news since the last step (a reply, a due
-- poll, a deadline, a cancel): a driver need resume only those.
function Client:step(timeout)
  check_open(self, "step")
  if timeout ~= nil and type(timeout) ~= "number" then bad_argument(1, "step", "number", timeout) end
  local active = self:_pump(timeout or 0)
  local ready = self._resumable
  self._resumable = {}
  for i = 1, #ready do ready[ready[i]] = nil end
  return active, ready
end

-- The pollable protocol (as cqueues polls it; luv and copas can watch it
-- too): pollfd() becomes readable when a transfer needs attention, events()
-- says to watch it for reading, timeout() is the seconds until the next
-- timer (nil: none). Then step(0) does the ready work without blocking.
function Client:pollfd()
  check_open(self, "pollfd")
  local fd, problem = self._core:pollfd()
  if not fd then return nil, errors.new("unsupported", problem) end
  return fd
end

function Client.events()
  return "r"
end

function Client:timeout()
  check_open(self, "timeout")
  return self._core:timeout()
end

function Client:close()
  if getmetatable(self) ~= Client then error("bad self to 'close'", 2) end
  if self._closed then return end
  self._closed = true
  -- The loop lets go of pollfd before the core closes it.
  if self._loop then self._loop.stop(self) end
  self._core:close()
  if self._recorder then self._recorder:close() end
  self._events = {}
end

-- use(adapter): waits made inside the adapter's event loop suspend through
-- it (see lua/dalle/cqueues.lua and lua/dalle/luv.lua). An adapter has
-- waiter(client) -> a token for the running coroutine, or nil when the
-- loop does not run it; suspend(client, token); wake(client, token);
-- stop(client), called on close.
function Client:use(adapter)
  check_open(self, "use")
  if type(adapter) ~= "table" then bad_argument(1, "use", "table", adapter) end
  for _, name in ipairs { "waiter", "suspend", "wake", "stop" } do
    if type(adapter[name]) ~= "function" then
      error("bad argument #1 to 'use' (the adapter has no function '" .. name .. "')", 2)
    end
  end
  if self._loop then error("this client already runs in an event loop", 2) end
  self._loop = adapter
  return self
end

-- How the running coroutine waits: "group" (inside wait_all/wait_any),
-- "loop" with a token (inside the event loop the client uses), "yield",
-- or "block"; then the loop's token, and the running coroutine (nil on the
-- main thread of Lua 5.1).
function Client:_wait_mode()
  local co, main = coroutine.running()
  if co and self._grouped[co] then return "group", nil, co end
  local loop = self._loop
  if loop then
    local token = loop.waiter(self)
    if token then return "loop", token, co end
  end
  if not self._config.yield then return "block", nil, co end
  local can_yield
  if isyieldable then
    can_yield = isyieldable()
  else
    can_yield = co ~= nil and not main
  end
  return can_yield and "yield" or "block", nil, co
end
Client.__close = Client.close

-- Waits for the event `id` until `deadline` (nil: no deadline), on behalf
-- of `job` (which can cancel the wait); `due_by_deadline` says the event
-- cannot come later than the deadline. Returns the event; nil when the
-- deadline came first or wait_any no longer needs the job (then, as a third
-- value, whether the abandoned request may have reached the server); nil,
-- err when the client closed or the job was canceled.
function Client:_await(id, deadline, job, due_by_deadline)
  local waiting, alarm = self._waiting, nil
  local mode, token, co = self:_wait_mode()
  local waiter = token or (mode == "block" and true) or co
  waiting[id] = waiter
  if job then job._waiting_on = id end
  if mode ~= "block" and deadline and not due_by_deadline then
    -- Makes the driver's step() return at the deadline even if all is quiet.
    alarm = self._core:timer(deadline - now())
    waiting[alarm] = waiter
  end
  while self._events[id] == nil and not self._closed
      and not (job and (job._canceled or job._released)) do
    local left = deadline and deadline - now() or FOREVER
    if left <= 0 then break end
    if mode == "block" then
      self:_pump(left)
    elseif mode == "loop" then
      self._loop.suspend(self, token)
    else
      coroutine.yield(self)
    end
  end
  waiting[id] = nil
  if job then job._waiting_on = false end
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
  local sent
  if not event then sent = select(2, self._core:cancel(id)) end
  if job and job._canceled then
    return nil, errors.new("canceled", "job " .. job.id .. " was canceled", { id = job.id })
  end
  return event, nil, sent
end

-- Sleeps `seconds`, cut short at `deadline`. Returns true, or nil, err.
function Client:_sleep(seconds, deadline, job)
  if deadline and now() + seconds > deadline then seconds = math.max(deadline - now(), 0) end
  local _, err = self:_await(self._core:timer(seconds), deadline, job, true)
  if err then return nil, err end
  return true
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
      local c = self._config
      local limit = is_download and "max_image_bytes (" .. c.max_image_bytes .. " bytes)"
          or is_submit and "max_body (" .. c.max_body .. " bytes)"
          or "max_body plus room for an inline image of max_image_bytes (" .. c.reply_cap .. " bytes)"
      -- A submit's reply came, so the request reached the service.
      err = errors.new("decode", "the reply is larger than " .. limit,
        { maybe_submitted = is_submit or nil })
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
    err.retry = SUBMIT_RESENDABLE[status] or false
    err.maybe_submitted = not SUBMIT_REFUSED[status] or nil
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
-- `per_request` caps each attempt (default: config timeout); `job`, if
-- given, can cancel the exchange.
function Client:_exchange(req, deadline, kind_of_call, job, per_request_cap)
  local method = req.fields and "POST" or "GET"
  local attempt = 0
  while true do
    local per_request = per_request_cap or self._config.timeout
    if deadline then per_request = math.min(per_request, deadline - now()) end
    if per_request <= 0 then
      -- Every earlier attempt was refused or never sent: nothing went through.
      return nil, errors.new("timeout", "the " .. kind_of_call .. " did not finish before its deadline")
    end
    attempt = attempt + 1
    local logging = self._config.log ~= nil
    if logging then
      self:_log { event = "request", method = method, url = req.url, attempt = attempt,
        message = method .. " " .. req.url .. (attempt > 1 and " (attempt " .. attempt .. ")" or "") }
    end
    local id, queued = self._core:request(req, per_request)
    if not id then
      return nil, errors.new(kind_of_call == "download" and "io" or "network", queued)
    end
    -- A started request times out by the deadline on its own; one still
    -- queued has no timeout running yet.
    local event, stopped, sent = self:_await(id, deadline, job, not queued)
    if stopped then return nil, stopped end
    if self._recorder and req.record_call then self:_record(req, method, attempt, event) end
    if not event then
      if logging then
        self:_log { event = "response", method = method, url = req.url, failure = "deadline",
          message = method .. " " .. req.url .. " -> no reply before the deadline" }
      end
      -- Still queued or connecting, the request never left: only one that
      -- may have reached the service may have submitted the job.
      return nil, errors.new("timeout", "the " .. kind_of_call .. " did not finish before its deadline"
        .. (sent and "" or " (it was never sent)"),
        { maybe_submitted = (kind_of_call == "submit" and sent) or nil })
    end
    if logging then
      self:_log { event = "response", method = method, url = req.url, status = event.status,
        elapsed = event.elapsed, failure = event.failure,
        message = method .. " " .. req.url .. " -> "
          .. (event.failure and "failed (" .. event.error .. ")" or tostring(event.status))
          .. string.format(" in %.3f s", event.elapsed) }
    end
    local err = self:_failure(event, kind_of_call)
    if not err then return event end
    local retry = err.retry
    err.retry = nil
    err.attempts = attempt
    if not retry or attempt > self._config.max_retries then return nil, err end
    local delay = backoff(attempt, err.retry_after)
    if deadline and now() + delay >= deadline then return nil, err end
    if logging then
      self:_log { event = "retry", method = method, url = req.url, attempt = attempt,
        delay = delay, reason = err.message,
        message = string.format("retrying %s %s in %.2f s (attempt %d of %d): %s", method,
          req.url, delay, attempt + 1, self._config.max_retries + 1, tostring(err)) }
    end
    local slept, stopped_err = self:_sleep(delay, deadline, job)
    if not slept then return nil, stopped_err end
  end
end

-- validate(opts [, default_callback]) --> params | nil, err
function M.validate(opts, default_callback)
  if type(opts) ~= "table" then bad_argument(1, "validate", "table", opts, 1) end
  local request, timeout = config.split_options(opts)
  if not request then return nil, timeout end
  local params, message, field = core.validate(request, default_callback)
  if not params then return invalid(field, message) end
  return params
end

-- Submits `request` (a call's options less `timeout`) by `deadline` (nil:
-- none but the request's own timeout).
function Client:_submit(request, deadline)
  local params, message, field = core.validate(request, self._config.callback)
  if not params then return invalid(field, message) end
  local fields = { "callback", params.callback, "modelId", params.model_id, "prompt", params.prompt,
    "model", params.model, "size", params.size }
  for _, name in ipairs(OPTIONAL_FIELDS) do
    local value = params[name]
    if value then
      fields[#fields + 1] = name
      fields[#fields + 1] = value
    end
  end
  local event, err = self:_exchange({
    url = self.base_url .. params.path,
    to_service = true,
    fields = fields,
    max_body = self._config.max_body,
    record_call = "submit",
    keep_headers = self._recorder ~= nil,
  }, deadline, "submit")
  if not event then return nil, err end
  -- The service accepted the request: whatever its reply lacks, the job may
  -- be running (and paid for).
  local reading, derr = response.parse(event.body, "the submit reply")
  if not reading then
    derr.maybe_submitted = true
    return nil, derr
  end
  if reading.status == "failed" then
    return nil, errors.new("failed", self:_redact(reading.reason) or "the service refused the job",
      { raw = reading.raw, id = reading.id, reason = self:_redact(reading.reason) })
  end
  -- A reply that already holds the image (OpenAI's own, passed through)
  -- needs no id: there is nothing left to poll.
  local finished = reading.status == "succeeded" and reading.images[1] ~= nil
  if not reading.id and not finished then
    return nil, errors.new("decode", "the submit reply has no job id (looked for a bare string "
      .. "or number, or id, jobId, job_id, _id, request_id, taskId)",
      { raw = reading.raw, maybe_submitted = true })
  end
  local job = job_module.new(self, reading.id, params, reading.raw,
    now() + self._config.poll_interval)
  if finished then job:finish(reading) end
  return job
end

-- submit(opts) --> job | nil, err
function Client:submit(opts)
  check_open(self, "submit")
  if type(opts) ~= "table" then bad_argument(1, "submit", "table", opts) end
  local request, timeout = config.split_options(opts)
  if not request then return nil, timeout end
  return self:_submit(request, timeout and now() + timeout)
end

-- generate(opts) --> result | nil, err: submit, then wait; opts.timeout
-- bounds both together.
function Client:generate(opts)
  check_open(self, "generate")
  if type(opts) ~= "table" then bad_argument(1, "generate", "table", opts) end
  local request, timeout = config.split_options(opts)
  if not request then return nil, timeout end
  local deadline = now() + (timeout or self._config.wait_timeout)
  local job, err = self:_submit(request, deadline)
  if not job then return nil, err end
  return job:_wait(deadline)
end

-- job(id) --> job: a handle on a job submitted earlier.
function Client:job(id)
  check_open(self, "job")
  if type(id) == "number" then id = string.format("%.0f", id) end
  if type(id) ~= "string" then bad_argument(1, "job", "string", id) end
  if id == "" then error("bad argument #1 to 'job' (job id must not be empty)", 2) end
  return job_module.new(self, id)
end

local function origin_of(url)
  local origin = url:match("^(%a[%w+.-]*://[^/?#]+)")
  return origin and origin:lower()
end

-- download(result_or_url, path [, {timeout = s}]) --> true | nil, err
function Client:download(source, path, opts)
  check_open(self, "download")
  local url = source
  if type(source) == "table" then url = source.url end
  if type(url) ~= "string" then bad_argument(1, "download", "result or URL string", url) end
  if type(path) ~= "string" then bad_argument(2, "download", "string", path) end
  local ok, timeout = config.wait_options(opts, "download", 3)
  if not ok then return nil, timeout end
  local inline = url:sub(1, 5):lower() == "data:"
  if not inline and not core.is_http_url(url) then
    return invalid("url", "cannot download '" .. url:sub(1, 80)
      .. "': not an absolute http(s) URL or a data:image URL")
  end
  if path == "" then return invalid("path", "the download path must not be empty") end
  local c = self._config
  if inline then return self:_save_inline(url, path) end
  local limit = timeout or c.wait_timeout
  local event, err = self:_exchange({
    url = url,
    file = path,
    -- The key goes only to the service's own origin, never to an image host.
    to_service = origin_of(url) == origin_of(self.base_url),
    max_body = c.max_image_bytes,
  }, now() + limit, "download", nil, limit)
  if not event then return nil, err end
  return true
end

-- An inline image (a data: URL) saved the way a fetched one is: decoded in
-- C, checked, written to a temporary file and renamed into place.
local INLINE_FAILURE_KIND = { decode = "decode", too_large = "decode", file = "io" }

function Client:_save_inline(url, path)
  local saved, kind, problem = core.save_inline(url, path, self._config.max_image_bytes)
  if saved then return true end
  if kind == "too_large" then
    problem = "the inline image is larger than max_image_bytes (" .. self._config.max_image_bytes
      .. " bytes)"
  elseif kind == "decode" then
    problem = "the inline image was not saved: " .. problem
  else
    problem = "cannot save the image: " .. problem
  end
  return nil, errors.new(INLINE_FAILURE_KIND[kind], problem)
end

-- Runs `wait(job)` for every job in its own coroutine, resuming only those
-- whose events arrived, until all are done or `enough(index, outcome)` says
-- stop.
-- Waits between rounds the way any call does (yield or block).
function Client:_wait_group(jobs, deadline, enough)
  local members, remaining = {}, 0
  local grouped, runnable = self._grouped, self._runnable
  local mode, token = self:_wait_mode()
  local outcomes = {}
  -- Resumes one member; when it ended, files its outcome and says whether
  -- that is enough to stop.
  local function advance(co)
    local i = members[co]
    runnable[co] = nil
    local ok, result, err = coroutine.resume(co)
    if coroutine.status(co) ~= "dead" then return false end
    members[co] = nil
    grouped[co] = nil
    remaining = remaining - 1
    if not ok then error(result, 0) end
    outcomes[i] = { result, err }
    return enough ~= nil and enough(i, outcomes[i]) and i
  end
  local order = {}
  for i, job in ipairs(jobs) do
    local co = coroutine.create(function() return job:_wait(deadline) end)
    members[co] = i
    grouped[co] = token or true
    remaining = remaining + 1
    order[i] = co
  end
  local stop
  for _, co in ipairs(order) do
    stop = advance(co)
    if stop then break end
  end
  while remaining > 0 and not stop do
    local ready = {}
    for co in pairs(runnable) do
      if members[co] then ready[#ready + 1] = co end
    end
    if #ready == 0 then
      if self._closed then break end
      local left = deadline - now()
      if mode == "loop" then
        self._loop.suspend(self, token)
      elseif mode == "block" then
        self:_pump(left > 0 and left or 0)
      else
        coroutine.yield(self)
      end
    end
    for _, co in ipairs(ready) do
      stop = advance(co)
      if stop then break end
    end
  end
  -- wait_any has its answer: the other jobs' waits end here, the jobs stay usable.
  for co, i in pairs(members) do
    jobs[i]._released = true
    coroutine.resume(co)
    jobs[i]._released = nil
    grouped[co] = nil
    runnable[co] = nil
  end
  return outcomes, stop
end

local function check_jobs(jobs, method)
  if type(jobs) ~= "table" then bad_argument(1, method, "table of jobs", jobs, 1) end
  for i, job in ipairs(jobs) do
    if type(job) ~= "table" or type(job._wait) ~= "function" then
      error("bad argument #1 to '" .. method .. "' (item " .. i .. " is not a dalle job)", 4)
    end
  end
end

-- wait_all(jobs [, {timeout = s}]) --> outcomes: outcomes[i] is {result} or
-- {nil, err} for jobs[i], in order; the jobs wait side by side.
function Client:wait_all(jobs, opts)
  check_open(self, "wait_all")
  check_jobs(jobs, "wait_all")
  local ok, timeout = config.wait_options(opts, "wait_all", 2)
  if not ok then return nil, timeout end
  local outcomes = self:_wait_group(jobs, now() + (timeout or self._config.wait_timeout))
  return outcomes
end

-- wait_any(jobs [, {timeout = s}]) --> job, result | job, nil, err | nil, err:
-- the first job to finish (succeed or fail), or nil, err when none did in time.
function Client:wait_any(jobs, opts)
  check_open(self, "wait_any")
  check_jobs(jobs, "wait_any")
  local ok, timeout = config.wait_options(opts, "wait_any", 2)
  if not ok then return nil, timeout end
  if #jobs == 0 then return invalid("jobs", "wait_any needs at least one job") end
  local deadline = now() + (timeout or self._config.wait_timeout)
  local outcomes, first = self:_wait_group(jobs, deadline, function(_, outcome)
    -- A job that only ran into the shared deadline is no answer.
    local err = outcome[2]
    return not (err and err.kind == "timeout" and now() >= deadline)
  end)
  if first then return jobs[first], outcomes[first][1], outcomes[first][2] end
  if self._closed then
    return nil, errors.new("closed", "the client was closed while this call waited")
  end
  return nil, errors.new("timeout", "none of the " .. #jobs .. " jobs finished before the deadline")
end

return M
