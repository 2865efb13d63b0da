-- Clients: the public calls (submit, generate, job, download, wait_all,
-- wait_any, step and the pollable protocol, resume and note on the
-- journal), and where the API key lives.
-- How a call waits is dalle.waits'; how a request is sent and retried is
-- dalle.exchange's.
local core = require "dalle.core"
local callbacks_module = require "dalle.callbacks"
local config = require "dalle.config"
local errors = require "dalle.errors"
local exchange_module = require "dalle.exchange"
local hosts = require "dalle.hosts"
local job_module = require "dalle.job"
local journal_module = require "dalle.journal"
local recorder_module = require "dalle.record"
local response = require "dalle.response"
local waits_module = require "dalle.waits"

local M = {}

-- An adapter's functions (see Client:use).
local ADAPTER_FUNCTIONS = { "waiter", "suspend", "wake", "stop" }

local now = core.now
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
  -- From here the API key lives only in this closure (and in the core's
  -- header lines): no field of a client, so no dump or tostring, holds it.
  local api_key = c.api_key
  c.api_key = nil
  local function redact(text) return M.redact(text, api_key) end
  local recorder
  if c.record then
    recorder, problem = recorder_module.open(c.record,
      { redact = redact, record_prompts = c.record_prompts, max_body = c.max_body })
    if not recorder then
      handle:close()
      return invalid("record", "cannot open the record file"
        .. (c.record_from_env and " named by DALLE_RECORD" or "") .. ": " .. problem)
    end
  end
  local callbacks, cerr = callbacks_module.new(handle, c)
  if cerr then
    handle:close()
    if recorder then recorder:close() end
    return nil, cerr
  end
  local journal
  if c.journal then
    journal, problem = journal_module.open(c.journal)
    if not journal then
      handle:close()
      if recorder then recorder:close() end
      return invalid("journal", "cannot open the journal: " .. problem)
    end
  end
  local self = setmetatable({ base_url = c.base_url, _core = handle, _closed = false }, Client)
  local waits = waits_module.new(handle, self, c.yield)
  -- What the client's jobs share with it.
  self._context = {
    waits = waits,
    exchange = exchange_module.new { core = handle, waits = waits, config = c, redact = redact,
      recorder = recorder },
    config = c,
    base_url = c.base_url,
    redact = redact,
    callbacks = callbacks,
    journal = journal,
  }
  -- Inside an app that runs Lua itself, its adapter, so that the natural
  -- code waits the way that app allows.
  if type(c.loop) == "table" then
    self:use(c.loop)
  elseif c.loop == "auto" then
    local adapter = hosts.detect()
    if adapter then require(adapter).use(self) end
  end
  return self
end

-- step([timeout]) --> active, ready: drives all I/O for up to `timeout`
-- seconds (default 0), returning as soon as anything finished. `ready` lists
-- the coroutines whose wait has news since the last step (a reply, a due
-- poll, a deadline, a cancel): a driver need resume only those.
function Client:step(timeout)
  check_open(self, "step")
  if timeout ~= nil and type(timeout) ~= "number" then bad_argument(1, "step", "number", timeout) end
  return self._context.waits:step(timeout or 0)
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

-- callback_url() --> the public prefix of the client's callback URLs and
-- the port its receiver listens on (nil when it has none), or nil when the
-- client makes no callback URLs.
function Client:callback_url()
  check_open(self, "callback_url")
  local callbacks = self._context.callbacks
  if not callbacks then return nil end
  return callbacks:url()
end

-- deliver_callback(path_or_token, body) --> true | nil, err: a callback an
-- app's own HTTP server received, handled as the client's receiver would.
function Client:deliver_callback(path, body)
  check_open(self, "deliver_callback")
  if type(path) ~= "string" then bad_argument(1, "deliver_callback", "string", path) end
  if type(body) ~= "string" then bad_argument(2, "deliver_callback", "string", body) end
  local callbacks = self._context.callbacks
  if not callbacks then
    return invalid("callback_public_url", "this client makes no callback URLs: set "
      .. "'callback_public_url' (or 'callback_listen') in its config")
  end
  return callbacks:deliver(path, body)
end

function Client:close()
  if getmetatable(self) ~= Client then error("bad self to 'close'", 2) end
  if self._closed then return end
  self._closed = true
  self._context.waits:close()
  self._core:close()
  self._context.exchange:close()
  if self._context.journal then self._context.journal:close() end
end
Client.__close = Client.close

-- use(adapter [, attach]): waits made inside the adapter's event loop
-- suspend through it (see lua/dalle/cqueues.lua and lua/dalle/luv.lua). An
-- adapter has waiter(client) -> a token for the running coroutine, or nil
-- when the loop does not run it; suspend(client, token); wake(client,
-- token); stop(client), called on close. `attach`, if given, is called
-- with the client's driver: driver.drive(timeout) steps the client and
-- wakes the waiters of what finished (returning how much is active), and
-- driver.closed() says whether the client closed; driver.abandon(token)
-- forgets a waiter the loop dropped mid-wait (its waits never return).
function Client:use(adapter, attach)
  check_open(self, "use")
  if type(adapter) ~= "table" then bad_argument(1, "use", "table", adapter) end
  if attach ~= nil and type(attach) ~= "function" then bad_argument(2, "use", "function", attach) end
  for _, name in ipairs(ADAPTER_FUNCTIONS) do
    if type(adapter[name]) ~= "function" then
      error("bad argument #1 to 'use' (the adapter has no function '" .. name .. "')", 2)
    end
  end
  local waits = self._context.waits
  waits:use(adapter)
  if attach then
    attach {
      drive = function(timeout) return waits:drive(timeout) end,
      closed = function() return waits:closed() end,
      abandon = function(token) waits:abandon(token) end,
    }
  end
  return self
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

-- Submits `request` (a call's options less `timeout` and `key`) by
-- `deadline` (nil: none but the request's own timeout), under `key` in the
-- journal (nil: a fresh one).
function Client:_submit(request, deadline, key)
  local context = self._context
  local callbacks = context.callbacks
  -- A request with no callback of its own gets a fresh secret URL of ours.
  local callback_id, callback_url
  if callbacks and request.callback == nil then
    callback_id, callback_url = callbacks:expect()
    -- Kept from now: the service may call back before its submit reply is read.
    context.waits:keep(callback_id)
  end
  local job, err = self:_send_submit(request, deadline, callback_url or context.config.callback,
    callback_id, key)
  if not job and callback_id then
    context.waits:drop(callback_id)
    callbacks:forget(callback_id)
  end
  return job, err
end

-- What the journal notes once a submit is over: the job's id (or its
-- result, when the reply held the image), or how the submit failed.
local function journal_submit(journal, key, job, err)
  if not job then return journal:submit_failed(key, err) end
  if job.result then return journal:succeeded(key, job.result) end
  return journal:submitted(key, job.id)
end

function Client:_send_submit(request, deadline, callback, callback_id, key)
  local context = self._context
  -- The form as src/rules.c defines it, made with the check.
  local params, form, field = core.validate(request, callback)
  if not params then return invalid(field, form) end
  -- The token stays in the form alone: params show the public prefix.
  if callback_id then params.callback = (context.callbacks:url()) end
  local journal = context.journal
  if not journal then
    if key ~= nil then
      return invalid("key", "option 'key' names the request in the journal, and this client has "
        .. "none (config 'journal')")
    end
    return self:_post_submit(params, form, deadline, callback_id)
  end
  -- Noted (and synced) before the request leaves: a crash from here on
  -- leaves an intent that a resume reports as uncertain, never forgets.
  local journal_key, problem, why = journal:intent(key, params)
  if not journal_key then
    if why == "key" then return invalid("key", problem) end
    return nil, errors.new("io", "the submit was not sent: the journal did not take it: " .. problem)
  end
  local job, err = self:_post_submit(params, form, deadline, callback_id)
  journal_submit(journal, journal_key, job, err)
  return job, err
end

-- Sends a checked submit form and reads the reply into a job.
function Client:_post_submit(params, form, deadline, callback_id)
  local context = self._context
  local event, err = context.exchange:send({
    url = self.base_url .. params.path,
    to_service = true,
    fields = form,
    max_body = context.config.max_body,
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
    local reason = context.redact(reading.reason)
    return nil, errors.new("failed", reason or "the service refused the job",
      { raw = reading.raw, id = reading.id, reason = reason })
  end
  -- A reply that already holds the image (OpenAI's own, passed through)
  -- needs no id: there is nothing left to poll.
  local finished = reading.status == "succeeded" and reading.images[1] ~= nil
  if not reading.id and not finished then
    return nil, errors.new("decode", "the submit reply has no job id (looked for a bare string "
      .. "or number, or id, jobId, job_id, _id, request_id, taskId)",
      { raw = reading.raw, maybe_submitted = true })
  end
  local job = job_module.new(context, reading.id, params, reading.raw, callback_id)
  if finished then job_module.finish(job, reading) end
  return job
end

-- submit(opts) --> job | nil, err
function Client:submit(opts)
  check_open(self, "submit")
  if type(opts) ~= "table" then bad_argument(1, "submit", "table", opts) end
  local request, timeout, key = config.split_options(opts)
  if not request then return nil, timeout end
  return self:_submit(request, timeout and now() + timeout, key)
end

-- generate(opts) --> result | nil, err: submit, then wait; opts.timeout
-- bounds both together.
function Client:generate(opts)
  check_open(self, "generate")
  if type(opts) ~= "table" then bad_argument(1, "generate", "table", opts) end
  local request, timeout, key = config.split_options(opts)
  if not request then return nil, timeout end
  local deadline = now() + (timeout or self._context.config.wait_timeout)
  local job, err = self:_submit(request, deadline, key)
  if not job then return nil, err end
  return job_module.wait(job, deadline)
end

-- job(id) --> job: a handle on a job submitted earlier.
function Client:job(id)
  check_open(self, "job")
  if type(id) == "number" then id = string.format("%.0f", id) end
  if type(id) ~= "string" then bad_argument(1, "job", "string", id) end
  if id == "" then error("bad argument #1 to 'job' (job id must not be empty)", 2) end
  return job_module.new(self._context, id)
end

local function no_journal(method)
  return invalid("journal", method .. " works on the journal, and this client has none (config "
    .. "'journal')")
end

-- resume() --> state | nil, err: what the journal holds, as it stands now
-- (call it before submitting: jobs this client submits are in it too).
-- state.pending: handles on the jobs submitted with no final outcome (each
-- with .key and .params); state.uncertain: requests whose submit may or may
-- not have reached the service, never resubmitted here; state.finished,
-- state.unsent, and state.torn (lines a crash cut short). See the README.
function Client:resume()
  check_open(self, "resume")
  local journal = self._context.journal
  if not journal then return no_journal("resume()") end
  local state = journal:view()
  for i, entry in ipairs(state.pending) do
    -- No params given, so it is polled at once, as a job picked up by id.
    local job = job_module.new(self._context, entry.id)
    job.params, job.key = entry.request, entry.key
    state.pending[i] = job
  end
  return state
end

-- note(key, fields) --> true | nil, err: adds fields (strings, numbers,
-- booleans) to what the journal keeps of the request named `key` (resume
-- gives them back as `notes`). Not synced: a crash may lose the last ones.
function Client:note(key, fields)
  check_open(self, "note")
  if type(key) ~= "string" then bad_argument(1, "note", "string", key) end
  if type(fields) ~= "table" then bad_argument(2, "note", "table", fields) end
  local journal = self._context.journal
  if not journal then return no_journal("note()") end
  local ok, problem, why = journal:note(key, fields)
  if ok then return true end
  if why == "write" then return nil, errors.new("io", "cannot write the journal: " .. problem) end
  return invalid(why, problem)
end

local function origin_of(url)
  local origin = url:match("^(%a[%w+.-]*://[^/?#]+)")
  return origin and origin:lower()
end

-- An inline image (a data: URL) saved the way a fetched one is: decoded in
-- C, checked, written to a temporary file and renamed into place.
local INLINE_FAILURE_KIND = { decode = "decode", too_large = "decode", file = "io" }

local function save_inline(url, path, max_image_bytes)
  local saved, kind, problem = core.save_inline(url, path, max_image_bytes)
  if saved then return true end
  if kind == "too_large" then
    problem = "the inline image is larger than max_image_bytes (" .. max_image_bytes .. " bytes)"
  elseif kind == "decode" then
    problem = "the inline image was not saved: " .. problem
  else
    problem = "cannot save the image: " .. problem
  end
  return nil, errors.new(INLINE_FAILURE_KIND[kind], problem)
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
  local c = self._context.config
  if inline then return save_inline(url, path, c.max_image_bytes) end
  local limit = timeout or c.wait_timeout
  local event, err = self._context.exchange:send({
    url = url,
    file = path,
    -- The key goes only to the service's own origin, never to an image host.
    to_service = origin_of(url) == origin_of(self.base_url),
    max_body = c.max_image_bytes,
  }, now() + limit, "download", nil, limit)
  if not event then return nil, err end
  return true
end

-- Waits for every job side by side, until all are done or `enough` says
-- stop (see dalle.waits' group).
function Client:_wait_group(jobs, deadline, enough)
  local tasks = {}
  for i, job in ipairs(jobs) do tasks[i] = job_module.task(job, deadline) end
  return self._context.waits:group(tasks, deadline, enough)
end

local function check_jobs(jobs, method)
  if type(jobs) ~= "table" then bad_argument(1, method, "table of jobs", jobs, 1) end
  for i, job in ipairs(jobs) do
    if not job_module.is_job(job) then
      error("bad argument #1 to '" .. method .. "' (item " .. i .. " is not a dalle job)", 4)
    end
  end
end

-- wait_all(jobs [, {timeout = s}]) --> outcomes | nil, err: outcomes[i] is
-- {result} or {nil, err} for jobs[i], in order; the jobs wait side by side.
-- nil, err only where the event loop refuses to wait (an nginx phase).
function Client:wait_all(jobs, opts)
  check_open(self, "wait_all")
  check_jobs(jobs, "wait_all")
  local ok, timeout = config.wait_options(opts, "wait_all", 2)
  if not ok then return nil, timeout end
  local outcomes, _, refused = self:_wait_group(jobs,
    now() + (timeout or self._context.config.wait_timeout))
  if refused then return nil, refused end
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
  local deadline = now() + (timeout or self._context.config.wait_timeout)
  local outcomes, first, refused = self:_wait_group(jobs, deadline, function(_, outcome)
    -- A job that only ran into the shared deadline is no answer.
    local err = outcome[2]
    return not (err and err.kind == "timeout" and now() >= deadline)
  end)
  if refused then return nil, refused end
  if first then return jobs[first], outcomes[first][1], outcomes[first][2] end
  if self._closed then return nil, errors.closed() end
  return nil, errors.new("timeout", "none of the " .. #jobs .. " jobs finished before the deadline")
end

return M
