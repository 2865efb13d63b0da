-- Batch files for the `dalle` command: reading and checking every line
-- before anything is sent, the image names, and each item's journal key.
--
--   batchfile.read(path [, config]) --> items | nil, problems: an item is
--       {line =, request = {prompt, model, size, quality, style}, output =,
--       key =}; problems, lines naming the line number and what is wrong
--   batchfile.checkable(request, config) --> the request with a callback, as
--       dalle.validate wants it
--   batchfile.default_name(prompt) --> a file name made from the prompt
--   batchfile.make_directory(dir) --> true | nil
--   batchfile.remove_partials(dir): the partial downloads a crash left
local cjson = require "cjson.safe"
local dalle = require "dalle"

local M = {}

local MAX_PROBLEMS = 20
local MAX_NAME_BYTES = 200
local SLUG_CHARS = 60
local DEFAULT_EXTENSION = ".png"
-- What a JSON line may hold.
local LINE_KEYS = { prompt = true, model = true, size = true, quality = true, style = true,
  output = true }
local LINE_KEY_LIST = "prompt, model, size, quality, style, output"
-- Stands in for the callback when a line is only checked: the rules want
-- one, and which one the submit uses is the client's affair.
local CHECK_CALLBACK = "https://callback.invalid/"
local REQUEST_FIELDS = { "prompt", "model", "size", "quality", "style" }

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Shell commands run without LD_PRELOAD: a library preloaded into the
-- interpreter (a sanitizer runtime, say) is the interpreter's, not theirs.
local SHELL_PREFIX = "unset LD_PRELOAD; "
M.SHELL_PREFIX = SHELL_PREFIX

-- What a download is written to before it is renamed into place (the
-- suffix src/image_file.c gives mkstemp).
local PARTIAL_GLOB = "*.part-??????"

-- Removes the partial downloads a crash left in `dir` (the journal's lock
-- says no other run writes there now).
function M.remove_partials(dir)
  os.execute(SHELL_PREFIX .. "rm -f -- " .. shell_quote(dir) .. "/" .. PARTIAL_GLOB .. " 2>/dev/null")
end

function M.make_directory(dir)
  local done = os.execute(SHELL_PREFIX .. "mkdir -p -- " .. shell_quote(dir) .. " 2>/dev/null")
  return done == true or done == 0 or nil
end

function M.checkable(request, config)
  local copy = {}
  for _, field in ipairs(REQUEST_FIELDS) do copy[field] = request[field] end
  copy.callback = config and config.callback or CHECK_CALLBACK
  return copy
end

-- "A red fox, in snow!" --> "a-red-fox-in-snow.png"
function M.default_name(prompt)
  local slug = prompt:lower():gsub("[^%w]+", "-"):gsub("^%-+", "")
  slug = slug:sub(1, SLUG_CHARS):gsub("%-+$", "")
  if slug == "" then slug = "image" end
  return slug .. DEFAULT_EXTENSION
end

-- Why `name` cannot be an image's file name in the output directory, or nil.
local function name_problem(name)
  if type(name) ~= "string" then return "'output' must be a string (a file name)" end
  if name == "" or #name > MAX_NAME_BYTES then
    return "'output' must be a file name of 1 to " .. MAX_NAME_BYTES .. " bytes"
  end
  if name:find("[/%c]") then
    return "'output' must be a plain file name: no '/', no control characters"
  end
  if name:sub(1, 1) == "." then
    return "'output' must not start with '.' (hidden files, and the journal, are dalle's)"
  end
  return nil
end

-- Two 32-bit polynomial hashes of `text` as 16 hex digits: exact in
-- doubles and in integers alike, so every Lua makes the same key.
local function digest(text)
  local a, b = 5381, 0
  for i = 1, #text do
    local c = text:byte(i)
    a = (a * 33 + c) % 4294967296
    b = (b * 65599 + c) % 4294967296
  end
  return string.format("%08x%08x", a, b)
end

-- The request as the rules complete it: the same image asked for in other
-- words (model left out, or given as its default) is the same request.
local function canonical(params)
  return { prompt = params.prompt, model = params.model, size = params.size,
    quality = params.quality, style = params.style }
end

local function canonical_text(request)
  local parts = {}
  for i, field in ipairs(REQUEST_FIELDS) do parts[i] = request[field] or "" end
  return table.concat(parts, "\0")
end

-- One line: a prompt, or a JSON object. Returns request, output | nil, problem.
local function read_line(text)
  if not text:match("^%s*{") then
    return { prompt = text:match("^%s*(.-)%s*$") }, nil
  end
  local value, problem = cjson.decode(text)
  if type(value) ~= "table" or value[1] ~= nil then
    return nil, "not a JSON object" .. (problem and " (" .. tostring(problem) .. ")" or "")
  end
  for k in pairs(value) do
    if not LINE_KEYS[k] then
      return nil, "unknown key '" .. tostring(k) .. "' (allowed: " .. LINE_KEY_LIST .. ")"
    end
  end
  if value.prompt == nil then return nil, "no 'prompt'" end
  local request = {}
  for _, field in ipairs(REQUEST_FIELDS) do
    local v = value[field]
    if v ~= nil and type(v) ~= "string" then
      return nil, "'" .. field .. "' must be a string (got " .. (v == cjson.null and "null"
        or type(v)) .. ")"
    end
    request[field] = v
  end
  if value.output ~= nil then
    local bad = name_problem(value.output)
    if bad then return nil, bad end
  end
  return request, value.output
end

-- Gives every item without an output name one made from its prompt, unique
-- among all the names (a second "fox.png" becomes "fox-2.png").
local function name_items(items, taken)
  for _, item in ipairs(items) do
    if not item.output then
      local name = M.default_name(item.request.prompt)
      local stem = name:sub(1, -#DEFAULT_EXTENSION - 1)
      local n = 1
      while taken[name] do
        n = n + 1
        name = stem .. "-" .. n .. DEFAULT_EXTENSION
      end
      item.output = name
      taken[name] = item.line
    end
  end
end

-- Keys: the request's digest and how many times the same request came
-- before it, so that keys stay when lines move, are added or removed.
local function key_items(items)
  local seen = {}
  for _, item in ipairs(items) do
    local digest_text = digest(canonical_text(item.request))
    seen[digest_text] = (seen[digest_text] or 0) + 1
    item.key = digest_text .. "-" .. seen[digest_text]
  end
end

function M.read(path, config)
  local f, open_problem = io.open(path, "rb")
  if not f then return nil, { "cannot read the batch file: " .. open_problem } end
  local text = f:read("*a")
  f:close()
  local items, problems, taken = {}, {}, {}
  local function problem(n, message)
    if #problems < MAX_PROBLEMS then
      problems[#problems + 1] = path .. ": line " .. n .. ": " .. message
    end
    problems.count = (problems.count or 0) + 1
  end
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", "")
    if line:find("%S") and not line:match("^%s*#") then
      local request, output = read_line(line)
      if not request then
        problem(n, output)
      else
        local params, err = dalle.validate(M.checkable(request, config))
        if not params then
          problem(n, err.message)
        elseif output and taken[output] then
          problem(n, "output '" .. output .. "' is already line " .. taken[output] .. "'s")
        else
          if output then taken[output] = n end
          items[#items + 1] = { line = n, request = canonical(params), output = output }
        end
      end
    end
  end
  if problems.count then
    if problems.count > MAX_PROBLEMS then
      problems[#problems + 1] = "... and " .. (problems.count - MAX_PROBLEMS) .. " more"
    end
    return nil, problems
  end
  if #items == 0 then return nil, { path .. ": no prompts (one a line, or JSON lines)" } end
  name_items(items, taken)
  key_items(items)
  return items
end

return M
