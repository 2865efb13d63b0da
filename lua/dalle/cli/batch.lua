-- Running a batch: the journal decides what each item still needs (nothing,
-- a wait, its image fetched again, a submit, or a report that it is
-- uncertain); up to -j items run side by side, each in a coroutine, on one
-- client driven by step(). The first Ctrl-C stops new submits and lets the
-- ones in flight get their ids into the journal; a second ends the process
-- at once (Lua's interpreter does that itself).
--
--   batch.run(client, items, settings) --> exit code; settings: dir, jobs,
--       timeout, json, resubmit_uncertain, journal (its path, to tell)
local cli = require "dalle.cli"
local report = require "dalle.cli.report"

local M = {}

-- The longest one step waits: the pace of the progress line when all is quiet.
local STEP_SECONDS = 0.25
local REQUEST_FIELDS = { "prompt", "model", "size", "quality", "style" }

local EXIT = cli.EXIT

local function same_request(a, b)
  for _, field in ipairs(REQUEST_FIELDS) do
    if a[field] ~= b[field] then return false end
  end
  return true
end

-- What each item needs, from the journal's state; items that need nothing
-- more are counted (or reported) at once. Returns the items to work on, or
-- nil and the problem when the journal holds a different request under an
-- item's key.
local function plan(items, state, rep, settings)
  local pending, uncertain, finished = {}, {}, {}
  for _, job in ipairs(state.pending) do pending[job.key] = job end
  for _, entry in ipairs(state.uncertain) do uncertain[entry.key] = entry end
  for _, entry in ipairs(state.finished) do finished[entry.key] = entry end
  local work = {}
  for _, item in ipairs(items) do
    local key = item.key
    local job, done, unsure = pending[key], finished[key], uncertain[key]
    local known = (job and job.params) or (done and done.request) or (unsure and unsure.request)
    if known and not same_request(known, item.request) then
      return nil, "line " .. item.line .. ": the journal holds another request under its key "
        .. key .. "; use another --journal"
    end
    if done and done.status == "succeeded" then
      if done.notes and done.notes.saved == item.output then
        rep:skipped(item)
      else
        item.action, item.entry = "fetch", done
        work[#work + 1] = item
      end
    elseif done then
      rep:failed(item, done.error, { id = done.id }, "in an earlier run")
    elseif job then
      item.action, item.job = "wait", job
      work[#work + 1] = item
    elseif unsure and not settings.resubmit_uncertain then
      rep:uncertain(item, unsure.error)
    else
      if unsure then rep:tell("line ", item.line, ": submitting again (uncertain before)") end
      item.action = "submit"
      work[#work + 1] = item
    end
  end
  return work
end

function M.run(client, items, settings)
  local rep = report.new { total = #items, json = settings.json,
    terminal = report.stderr_is_terminal() }
  local state = assert(client:resume())
  if #state.torn > 0 then
    rep:tell("the journal's line ", table.concat(state.torn, ", "), " was cut short by a crash; ",
      "ignored")
  end
  local work, problem = plan(items, state, rep, settings)
  if not work then
    rep:tell(problem)
    return EXIT.usage
  end

  local stopping, interrupted = false, false
  local submitting, alive = 0, 0
  local workers = {} -- coroutine --> its item, while it runs

  local function interrupt(how)
    if interrupted then return end
    stopping, interrupted = true, true
    rep:tell("interrupted: ", how)
  end

  -- One item, from where the journal left it to its image saved.
  local function run_item(item)
    local job, err = item.job, nil
    if item.action == "submit" then
      local request = { key = item.key }
      for _, field in ipairs(REQUEST_FIELDS) do request[field] = item.request[field] end
      item.submitting = true
      submitting = submitting + 1
      job, err = client:submit(request)
      submitting = submitting - 1
      item.submitting = false
      if not job then
        if err.maybe_submitted or err.kind == "closed" then return rep:uncertain(item, err) end
        return rep:failed(item, err)
      end
    elseif item.action == "fetch" then
      local entry = item.entry
      if entry.id then
        job = client:job(entry.id)
      elseif not entry.images then
        return rep:failed(item, { kind = "io", message = "the image came inline in the submit "
          .. "reply and was not saved; the journal cannot fetch it again" })
      end
    end
    local info = { id = job and job.id }
    if stopping then return rep:left(item, nil, info) end
    local result
    if job then
      result, err = job:wait { timeout = settings.timeout }
    else
      result = { url = item.entry.images[1] }
    end
    if not result then
      if err.kind == "timeout" then
        return rep:left(item, "is still pending at its deadline; running the command again waits "
          .. "for it again", info)
      end
      return rep:failed(item, err, info)
    end
    info.path = settings.dir .. "/" .. item.output
    local saved
    saved, err = client:download(result, info.path, { timeout = settings.timeout })
    if not saved then return rep:failed(item, err, info) end
    client:note(item.key, { saved = item.output })
    rep:done(item, info)
  end

  local function advance(co, item)
    local ok, err = coroutine.resume(co, item)
    if not ok then
      -- LuaJIT raises Ctrl-C's error in whatever code runs next, a worker's too.
      if not cli.is_interrupt(err) then error(err, 0) end
      if workers[co].submitting then submitting = submitting - 1 end
      interrupt("stopping; a submit cut short is left uncertain")
    end
    if coroutine.status(co) == "dead" then
      workers[co] = nil
      alive = alive - 1
    end
  end

  local next_item = 1
  local function drive()
    while true do
      while not stopping and alive < settings.jobs and next_item <= #work do
        local co = coroutine.create(run_item)
        local item = work[next_item]
        workers[co] = item
        alive = alive + 1
        next_item = next_item + 1
        advance(co, item)
      end
      if alive == 0 or (stopping and submitting == 0) then return end
      local _, ready = client:step(STEP_SECONDS)
      for _, co in ipairs(ready) do
        if workers[co] then advance(co) end
      end
      rep:tick()
      -- Back to the main thread, where the interpreter raises Ctrl-C's error.
      if coroutine.yield() == "interrupt" then
        interrupt("no new submits; waiting for the " .. submitting .. " in flight to get their "
          .. "ids into the journal (Ctrl-C again to stop at once)")
      end
    end
  end

  local driver = coroutine.create(drive)
  local function pump(signal)
    repeat
      local ok, err = coroutine.resume(driver, signal)
      signal = nil
      if not ok then error(err, 0) end
    until coroutine.status(driver) == "dead"
  end
  local signal
  while coroutine.status(driver) ~= "dead" do
    local ok, err = pcall(pump, signal)
    signal = nil
    if not ok then
      if not cli.is_interrupt(err) then error(err, 0) end
      if coroutine.status(driver) == "dead" then
        interrupt("stopped at once; a submit cut short is left uncertain")
      end
      signal = "interrupt"
    end
  end

  local code = EXIT.done
  local counts = rep.counts
  if interrupted or counts.uncertain > 0 or counts.left > 0 or alive > 0 or next_item <= #work then
    code = EXIT.unfinished
  elseif counts.failed > 0 then
    code = EXIT.failed
  end
  rep:finish(code, settings.journal)
  if code == EXIT.unfinished then rep:tell("run the same command again to resume") end
  return code
end

return M
