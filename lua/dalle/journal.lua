-- The journal: an append-only file of JSON lines in which a client notes
-- each submit before it leaves, the job id once the reply is read, and each
-- job's outcome, so that another process can resume what this one left
-- (config `journal`, client:resume()). It owns the file's format, its
-- locking and syncing, and reading it back; the API key is never in it.
--
--   journal.open(path) --> j | nil, message: locks the file (a second
--       opener fails), reads it whole, appends its header to a new file and
--       closes a line a crash cut short (appending only)
--   journal.read(path) --> view | nil, message: what open would find, with
--       no lock and no write
--   j:intent(key, request) --> key | nil, message, why ("key": the key
--       cannot name it; "write"); key nil: a fresh one
--   j:submitted(key, id), j:submit_failed(key, err), j:succeeded(key, result)
--   j:job_succeeded(id, result), j:job_failed(id, err), j:job_error(id, err)
--   j:note(key, fields) --> true | nil, message, why
--   j:view() --> view: {pending, uncertain, finished, unsent, torn}
--   j.path, j:close(); journal.syncs counts the fsyncs of every journal
local cjson = require "cjson.safe"
local core = require "dalle.core"

local M = {}

-- The first line of every journal, byte for byte.
M.HEADER = '{"journal":"lua-dalle","version":1}'
local FORMAT = "lua-dalle"
local VERSION = 1
local MAX_KEY_BYTES = 200
local MAX_NOTE_FIELDS = 32
-- A request's options kept in its intent: what resubmitting it needs. Never
-- the callback, whose path may hold a secret of the receiver's.
local REQUEST_FIELDS = { "prompt", "model", "size", "quality", "style" }
-- What each event's line may say, and whether it is synced: the moments a
-- crash must not lose (the intent, the id, a final outcome, a submit that
-- never left). The rest change nothing a resume decides if lost.
local EVENTS = {
  intent = { sync = true },
  submitted = { sync = true },
  succeeded = { sync = true, final = true },
  failed = { sync = true, final = true },
  unsent = { sync = true },
  uncertain = { sync = false },
  error = { sync = false },
  note = { sync = false },
  torn = { sync = false },
}

-- How many fsyncs every journal of this process has made.
M.syncs = 0

local json = cjson.new()
json.encode_number_precision(14)

local Journal = {}
Journal.__index = Journal

function Journal:__tostring()
  return "dalle.journal (" .. self.path .. (self._file and "" or ", closed") .. ")"
end

-- ---- the format -------------------------------------------------------------

-- One line, its fields in the order given: name, value, name, value, ...
-- (a nil value leaves its field out).
local function encode_line(...)
  local fields, parts = { ... }, {}
  for i = 1, select("#", ...), 2 do
    local value = fields[i + 1]
    if value ~= nil then
      local text, problem = json.encode(value)
      if not text then return nil, "cannot encode '" .. fields[i] .. "': " .. tostring(problem) end
      parts[#parts + 1] = '"' .. fields[i] .. '":' .. text
    end
  end
  return "{" .. table.concat(parts, ",") .. "}\n"
end

local function utc_now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

local function error_fields(err)
  if type(err) ~= "table" then return { kind = "unknown", message = tostring(err) } end
  return { kind = err.kind, message = err.message, status = err.status }
end

-- The http(s) image URLs of a result: inline images (data: URLs) are the
-- image itself, too large for a journal line, and a job id fetches them again.
local function fetched_images(images)
  local urls = {}
  for _, url in ipairs(images or {}) do
    if core.is_http_url(url) then urls[#urls + 1] = url end
  end
  return urls[1] and urls or nil
end

-- Why `key` cannot name a request, or nil.
local function key_problem(key)
  if type(key) ~= "string" then return "a journal key must be a string (got " .. type(key) .. ")" end
  if key == "" or #key > MAX_KEY_BYTES then
    return "a journal key must be 1 to " .. MAX_KEY_BYTES .. " bytes (got " .. #key .. ")"
  end
  if key:find("%c") then return "a journal key must not contain control characters" end
  return nil
end
M.key_problem = key_problem

local function is_string(v) return type(v) == "string" end

local function is_error_table(v)
  return type(v) == "table" and is_string(v.kind) and is_string(v.message)
end

-- Checks one decoded line; returns nil or the problem.
local function line_problem(value)
  local event = value.event
  if not is_string(event) or not EVENTS[event] then
    return "unknown event " .. (is_string(event) and "'" .. event .. "'" or "(none)")
  end
  if event == "torn" then
    return type(value.line) ~= "number" and "a torn line's mark names no line" or nil
  end
  if key_problem(value.key) then return "no valid key" end
  if value.id ~= nil and not is_string(value.id) then return "an id that is not a string" end
  if event == "intent" then
    if type(value.request) ~= "table" or not is_string(value.request.prompt) then
      return "an intent with no request prompt"
    end
  elseif event == "submitted" then
    if not is_string(value.id) then return "a submitted line with no id" end
  elseif event == "note" then
    if type(value.note) ~= "table" then return "a note with no fields" end
  elseif event ~= "succeeded" and not is_error_table(value.error) then
    return "a " .. event .. " line with no error kind and message"
  end
  return nil
end

-- ---- reading ----------------------------------------------------------------

-- The lines of `text`: each complete one, and the last without its newline
-- (a write a crash cut short) flagged as partial.
local function split_lines(text)
  local lines, from = {}, 1
  while from <= #text do
    local nl = text:find("\n", from, true)
    if not nl then
      lines[#lines + 1] = { text = text:sub(from), partial = true }
      break
    end
    lines[#lines + 1] = { text = text:sub(from, nl - 1) }
    from = nl + 1
  end
  return lines
end

-- Whether the first line is the header; otherwise why the file is not a
-- journal (or is one of another version).
local function header_problem(lines)
  local first = lines[1]
  if first.text == M.HEADER then return nil end
  if first.partial and #lines == 1 and M.HEADER:sub(1, #first.text) == first.text then
    return nil
  end
  local value = json.decode(first.text)
  if type(value) == "table" and value.journal == FORMAT and value.version ~= VERSION then
    return "it is a journal of version " .. tostring(value.version) .. "; this lua-dalle reads version "
      .. VERSION
  end
  return "not a lua-dalle journal (its first line is not the journal header)"
end

local function new_state()
  return { by_key = {}, by_id = {}, entries = {}, intents = 0, torn = {} }
end

-- Applies one checked line (number n) to the state; returns nil or the problem.
local function apply(state, value, n)
  local event = value.event
  if event == "torn" then
    state.torn[#state.torn + 1] = value.line
    return nil
  end
  local key = value.key
  if event == "intent" then
    local request = {}
    for _, field in ipairs(REQUEST_FIELDS) do
      if is_string(value.request[field]) then request[field] = value.request[field] end
    end
    local entry = { key = key, line = n, request = request, state = "sending" }
    local old = state.by_key[key]
    if old then old.superseded = true end
    state.by_key[key] = entry
    state.entries[#state.entries + 1] = entry
    state.intents = state.intents + 1
    return nil
  end
  local entry = state.by_key[key]
  if not entry then return "key '" .. key .. "' has no intent before this line" end
  if value.id and entry.id and value.id ~= entry.id then
    return "job id '" .. value.id .. "' is not the one submitted under key '" .. key .. "' ("
      .. entry.id .. ")"
  end
  if event == "note" then
    entry.notes = entry.notes or {}
    for k, v in pairs(value.note) do entry.notes[k] = v end
  elseif event == "error" then
    entry.error = value.error
  else
    entry.state = event
    entry.id = entry.id or value.id
    entry.error = value.error
    if event == "succeeded" then
      entry.images = type(value.images) == "table" and value.images or nil
      entry.revised_prompt = is_string(value.revised_prompt) and value.revised_prompt or nil
    end
    if entry.id then state.by_id[entry.id] = entry end
  end
  return nil
end

-- parse(text) --> state, repair | nil, message: the state the lines tell,
-- and what to append to close a line a crash cut short (nil: nothing).
local function parse(text)
  local state = new_state()
  if text == "" then return state, nil end
  local lines = split_lines(text)
  local problem = header_problem(lines)
  if problem then return nil, problem end
  local values = {}
  for n = 2, #lines do
    local value = json.decode(lines[n].text)
    values[n] = type(value) == "table" and value or false
  end
  local repair
  local last = lines[#lines]
  if last.partial then
    if #lines == 1 then
      repair = M.HEADER:sub(#last.text + 1) .. "\n"
    elseif values[#lines] then
      repair = "\n"
    else
      repair = "\n" .. assert(encode_line("event", "torn", "line", #lines, "time", utc_now()))
      state.torn[#state.torn + 1] = #lines
    end
  end
  local i = 2
  while i <= #lines do
    local value = values[i]
    if not value then
      local mark = values[i + 1]
      local marked = mark and mark.event == "torn" and mark.line == i
      if not (marked or (i == #lines and last.partial)) then
        return nil, "line " .. i .. " is damaged (not a JSON object, and not the last line "
          .. "a crash cut short)"
      end
    else
      problem = line_problem(value) or apply(state, value, i)
      if problem then return nil, "line " .. i .. ": " .. problem end
    end
    i = i + 1
  end
  return state, repair
end

local function read_text(path)
  local f, problem = io.open(path, "rb")
  if not f then return nil, problem end
  local text = f:read("*a")
  f:close()
  return text
end

-- The view a resume decides from: entries in the order of their intents.
local function view_of(state)
  local view = { pending = {}, uncertain = {}, finished = {}, unsent = {}, torn = {} }
  for i, line in ipairs(state.torn) do view.torn[i] = line end
  for _, entry in ipairs(state.entries) do
    if not entry.superseded then
      local s = entry.state
      local item = { key = entry.key, line = entry.line, request = entry.request, id = entry.id,
        error = entry.error, notes = entry.notes }
      if s == "submitted" then
        view.pending[#view.pending + 1] = item
      elseif s == "uncertain" or (s == "sending" and not entry.mine) then
        view.uncertain[#view.uncertain + 1] = item
      elseif s == "succeeded" or s == "failed" then
        item.status = s
        item.images, item.revised_prompt = entry.images, entry.revised_prompt
        view.finished[#view.finished + 1] = item
      elseif s == "unsent" then
        view.unsent[#view.unsent + 1] = item
      end
    end
  end
  return view
end

function M.read(path)
  if type(path) ~= "string" then error("bad argument #1 to 'read' (string expected)", 2) end
  local text, problem = read_text(path)
  if not text then return nil, "cannot read the journal: " .. problem end
  local state
  state, problem = parse(text)
  if not state then return nil, "journal '" .. path .. "': " .. problem end
  return view_of(state)
end

-- ---- writing ----------------------------------------------------------------

function M.open(path)
  local file, problem, why = core.open_append(path, { lock = true, durable = true })
  if not file then return nil, problem, why end
  local text
  text, problem = read_text(path)
  if not text then
    file:close()
    return nil, "cannot read '" .. path .. "': " .. problem, "failed"
  end
  local state, repair = parse(text)
  if not state then
    local damage = repair
    file:close()
    return nil, "journal '" .. path .. "': " .. damage .. "; nothing was written to it", "damaged"
  end
  local self = setmetatable({ path = path, _file = file, _state = state, _told = false }, Journal)
  local start = text == "" and M.HEADER .. "\n" or repair
  if start then
    local ok, wproblem = self:_append(start, true)
    if not ok then
      file:close()
      return nil, "cannot write '" .. path .. "': " .. wproblem, "failed"
    end
  end
  return self
end

-- Appends `text` (whole lines) in one write, synced when asked. A journal
-- that failed once takes no more intents: no submit leaves unrecorded.
function Journal:_append(text, sync)
  if not self._file then return nil, "the journal is closed" end
  if self._broken then return nil, self._broken end
  local ok, problem = self._file:write(text)
  if ok and sync then
    ok, problem = self._file:sync()
    M.syncs = M.syncs + 1
  end
  if not ok then
    self._broken = problem
    if not self._told then
      self._told = true
      io.stderr:write("dalle: cannot write the journal '", self.path, "' (no more submits from ",
        "this client): ", tostring(problem), "\n")
    end
    return nil, problem
  end
  return true
end

-- Writes one event's line, its fields given as name, value, ..., and
-- applies it to the state.
function Journal:_event(event, key, ...)
  local text, problem = encode_line("event", event, "key", key, "time", utc_now(), ...)
  if not text then return nil, problem end
  local ok
  ok, problem = self:_append(text, EVENTS[event].sync)
  if not ok then return nil, problem end
  local value, fields = { event = event, key = key }, { ... }
  for i = 1, select("#", ...), 2 do value[fields[i]] = fields[i + 1] end
  apply(self._state, value, nil)
  return true
end

local function fresh_key(state)
  local n = state.intents + 1
  while state.by_key["#" .. n] do n = n + 1 end
  return "#" .. n
end

-- Why a request may not go out under `key` now, or nil: a key names one
-- job, and one that may be running or is done is not sent again under it.
local function reuse_problem(entry)
  if not entry then return nil end
  if entry.state == "sending" and entry.mine then return "is being submitted now" end
  if entry.state == "submitted" then
    return "names job " .. entry.id .. ", which the journal holds as pending"
  end
  if entry.state == "succeeded" then return "names a job that succeeded" end
  return nil
end

function Journal:intent(key, request)
  local state = self._state
  if key == nil then key = fresh_key(state) end
  local problem = key_problem(key)
  if problem then return nil, problem, "key" end
  problem = reuse_problem(state.by_key[key])
  if problem then return nil, "journal key '" .. key .. "' " .. problem .. "; use another key", "key" end
  local kept = {}
  for _, field in ipairs(REQUEST_FIELDS) do kept[field] = request[field] end
  local ok
  ok, problem = self:_event("intent", key, "request", kept)
  if not ok then return nil, problem, "write" end
  state.by_key[key].mine = true
  return key
end

function Journal:submitted(key, id)
  return self:_event("submitted", key, "id", id)
end

-- A submit that ended in an error: "uncertain" when the service may have
-- the job (maybe_submitted, or the client closed while it was out), else
-- "unsent": it never took the request in.
function Journal:submit_failed(key, err)
  local uncertain = err.maybe_submitted or err.kind == "closed" or err.kind == "canceled"
  if err.kind == "failed" then
    return self:_event("failed", key, "id", err.id, "error", error_fields(err))
  end
  return self:_event(uncertain and "uncertain" or "unsent", key, "error", error_fields(err))
end

function Journal:succeeded(key, result)
  return self:_event("succeeded", key, "id", result.id, "images", fetched_images(result.images),
    "revised_prompt", result.revised_prompt)
end

-- The current entry of job `id`, or nil when the journal holds no job of
-- that id (client:job(id) of a job from elsewhere) or has its final outcome.
function Journal:_open_entry(id)
  local entry = id and self._state.by_id[id]
  if not entry or entry.superseded or (EVENTS[entry.state] or {}).final then return nil end
  return entry
end

function Journal:job_succeeded(id, result)
  local entry = self:_open_entry(id)
  if not entry then return true end
  return self:succeeded(entry.key, result)
end

-- The service says the job failed: a final outcome.
function Journal:job_failed(id, err)
  local entry = self:_open_entry(id)
  if not entry then return true end
  return self:_event("failed", entry.key, "id", id, "error", error_fields(err))
end

-- A poll reply this side could not read: noted, but the job stays pending,
-- since the service may yet answer it (a resume polls it again).
function Journal:job_error(id, err)
  local entry = self:_open_entry(id)
  if not entry then return true end
  return self:_event("error", entry.key, "id", id, "error", error_fields(err))
end

-- note(key, fields) --> true | nil, message, why ("key", "fields" or "write")
function Journal:note(key, fields)
  local problem = key_problem(key)
  if problem then return nil, problem, "key" end
  if not self._state.by_key[key] then
    return nil, "the journal has no request with key '" .. key .. "'", "key"
  end
  local count = 0
  for k, v in pairs(fields) do
    count = count + 1
    local kind = type(v)
    if type(k) ~= "string" or not (kind == "string" or kind == "number" or kind == "boolean") then
      return nil, "a note's fields must be strings naming strings, numbers or booleans", "fields"
    end
  end
  if count == 0 or count > MAX_NOTE_FIELDS then
    return nil, "a note has 1 to " .. MAX_NOTE_FIELDS .. " fields (got " .. count .. ")", "fields"
  end
  local ok
  ok, problem = self:_event("note", key, "note", fields)
  if not ok then return nil, problem, "write" end
  return true
end

function Journal:view()
  return view_of(self._state)
end

function Journal:close()
  if self._file then self._file:close() end
  self._file = nil
end

return M
