-- What a batch tells as it runs: on a terminal, one live progress line on
-- stderr (done, failed, pending, rate, elapsed, ETA), redrawn at most
-- REDRAWS_PER_SECOND times a second; elsewhere a plain line per finished
-- item, with no control characters; with --json, one JSON object per
-- finished item on stdout (and nothing else there).
--
--   report.new{total =, json =, terminal =} --> r
--   r:done(item, info), r:failed(item, err, info [, earlier]), r:uncertain(item, err),
--   r:left(item, why): an item's outcome in this run; info = {id =, path =}
--   r:skipped(item): done in an earlier run, as the journal says
--   r.counts: {done =, failed =, uncertain =, left =}
--   r:tell(text): a line for people; r:tick(): redraws when due; r:finish(code)
--   report.printable(text) --> text with control characters as '?'
--   report.stderr_is_terminal() --> boolean
local cjson = require "cjson.safe"
local core = require "dalle.core"

local M = {}

local REDRAWS_PER_SECOND = 4
local CLEAR_LINE = "\r\27[K"

local json = cjson.new()

-- One line for a person: control characters (from a prompt, a path, a
-- service's message) shown as '?', so nothing drives the terminal.
local function printable(text)
  return (tostring(text):gsub("%c", "?"))
end
M.printable = printable

-- An error as one line: a dalle error says it itself; one the journal kept
-- is a plain {kind, message}.
local function describe(err)
  if getmetatable(err) then return tostring(err) end
  return "dalle " .. tostring(err.kind) .. ": " .. tostring(err.message)
end

-- Whether stderr is a terminal: `test` run by the shell that inherits it.
function M.stderr_is_terminal()
  local yes = os.execute(require("dalle.cli.batchfile").SHELL_PREFIX .. "test -t 2")
  return yes == true or yes == 0
end

local Report = {}
Report.__index = Report

function M.new(settings)
  local now = core.now()
  return setmetatable({
    _total = settings.total,
    _json = settings.json,
    _terminal = settings.terminal,
    _started = now,
    _drawn_at = 0,
    _shown = false,
    -- done: images saved, in this run or an earlier one; uncertain: left
    -- alone, the submit may or may not have reached the service; left:
    -- pending when the run stopped (interrupted, a deadline).
    counts = { done = 0, failed = 0, uncertain = 0, left = 0 },
    _fresh = 0, -- done in this run: the rate counts only these
  }, Report)
end

local function clock(seconds)
  seconds = math.floor(seconds + 0.5)
  local h, m, s = math.floor(seconds / 3600), math.floor(seconds / 60) % 60, seconds % 60
  if h > 0 then return string.format("%d:%02d:%02d", h, m, s) end
  return string.format("%d:%02d", m, s)
end

function Report:_pending()
  local counts = self.counts
  return self._total - counts.done - counts.failed - counts.uncertain - counts.left
end

function Report:_progress_text()
  local elapsed = core.now() - self._started
  local rate = elapsed > 0 and self._fresh / elapsed or 0
  local pending = self:_pending()
  local eta = (rate > 0 and pending > 0) and clock(pending / rate) or "-"
  return string.format("dalle: %d done, %d failed, %d pending | %.1f/s | %s elapsed | ETA %s",
    self.counts.done, self.counts.failed, pending, rate, clock(elapsed), eta)
end

function Report:_draw()
  self._drawn_at = core.now()
  self._shown = true
  io.stderr:write(CLEAR_LINE, self:_progress_text())
  io.stderr:flush()
end

function Report:tick()
  if self._terminal and core.now() - self._drawn_at >= 1 / REDRAWS_PER_SECOND then self:_draw() end
end

-- A line for people, above the progress line on a terminal.
function Report:tell(...)
  local parts = { ... }
  for i = 1, #parts do parts[i] = printable(parts[i]) end
  if self._shown then io.stderr:write(CLEAR_LINE) end
  io.stderr:write("dalle: ", table.concat(parts), "\n")
  if self._shown then self:_draw() end
end

function Report:_json_line(item, status, info, err)
  if not self._json then return end
  io.stdout:write(json.encode {
    line = item.line, prompt = item.request.prompt, key = item.key, id = info and info.id,
    status = status, path = info and info.path,
    error = err and { kind = err.kind, message = err.message, status = err.status } or nil,
  }, "\n")
  io.stdout:flush()
end

function Report:skipped()
  self.counts.done = self.counts.done + 1
end

function Report:done(item, info)
  self.counts.done = self.counts.done + 1
  self._fresh = self._fresh + 1
  self:_json_line(item, "succeeded", info)
  if not self._terminal then
    self:tell("line ", item.line, " done: ", info.path, info.id and " (job " .. info.id .. ")" or "")
  end
  self:tick()
end

-- `earlier`: it failed in an earlier run (told, but not news for --json).
function Report:failed(item, err, info, earlier)
  self.counts.failed = self.counts.failed + 1
  if not earlier then self:_json_line(item, "failed", info, err) end
  self:tell("line ", item.line, " failed", earlier and " " .. earlier or "", ": ", describe(err))
end

function Report:uncertain(item, err)
  self.counts.uncertain = self.counts.uncertain + 1
  self:_json_line(item, "uncertain", nil, err)
  self:tell("line ", item.line, " is uncertain: its submit may or may not have reached the service",
    err and " (" .. describe(err) .. ")" or " (no reply was recorded)",
    "; left alone (--resubmit-uncertain sends it again)")
end

function Report:left(item, why, info)
  self.counts.left = self.counts.left + 1
  self:_json_line(item, "pending", info)
  if why then self:tell("line ", item.line, " ", why) end
end

function Report:finish(code, journal)
  if self._shown then io.stderr:write(CLEAR_LINE) end
  local elapsed = core.now() - self._started
  self._shown = false
  local counts = self.counts
  self:tell(counts.done, " done, ", counts.failed, " failed, ", counts.uncertain, " uncertain, ",
    counts.left + self:_pending(), " pending in ", string.format("%.1f", elapsed), " s (exit ", code,
    "); journal ", journal)
end

return M
