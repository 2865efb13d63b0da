-- The tolerant rules for reading the service's JSON bodies (submit reply,
-- GET /sdk/art/{id} and the callback POST): aiRight does not publish them,
-- so every shape below is accepted and documented in the README.
local cjson = require "cjson.safe"
local errors = require "dalle.errors"

local M = {}

local WRAPPERS = { "data", "result", "payload" }
local MAX_UNWRAP = 2
local ID_KEYS = { "id", "jobId", "job_id", "_id", "request_id", "taskId" }
local STATUS_KEYS = { "status", "state" }
-- `data` last: as an object it is a wrapper; as an array, OpenAI's images.
local IMAGE_KEYS = { "url", "imageUrl", "image_url", "image", "output", "outputs", "images", "data" }
local REASON_KEYS = { "error", "message", "msg", "reason" }

-- Every status word, lower-cased, to what it means.
local STATUS_OF = {}
for status, words in pairs {
  pending = { "queued", "pending", "created", "starting", "processing", "in_queue",
    "in_progress", "running", "process" },
  succeeded = { "success", "succeeded", "completed", "complete", "done", "ok", "finished" },
  failed = { "failed", "failure", "error", "canceled", "cancelled", "timeout", "rejected" },
} do
  for _, word in ipairs(words) do STATUS_OF[word] = status end
end

-- A decoded JSON object (an array has [1]; JSON null is not a table).
local function is_object(v)
  return type(v) == "table" and v[1] == nil
end

local function id_string(v)
  if type(v) == "string" and v ~= "" then return v end
  if type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge then
    if v == math.floor(v) then return string.format("%.0f", v) end
    return tostring(v)
  end
  return nil
end

-- classify("COMPLETED") --> "succeeded"; an unknown word --> "pending".
function M.classify(word)
  return STATUS_OF[word] or STATUS_OF[word:lower()] or "pending"
end

-- The media type of base64 image bytes, from how their magic encodes.
local INLINE_TYPES = { { "iVBORw0KGgo", "image/png" }, { "/9j/", "image/jpeg" },
  { "UklGR", "image/webp" } }

-- b64_json (OpenAI's inline image) as a data: URL, so images stay strings.
local function inline_url(b64)
  local media = "image/png"
  for i = 1, #INLINE_TYPES do
    local prefix = INLINE_TYPES[i][1]
    if b64:sub(1, #prefix) == prefix then
      media = INLINE_TYPES[i][2]
      break
    end
  end
  return "data:" .. media .. ";base64," .. b64
end

-- The image of an object: its `url`, or its inline `b64_json`.
local function image_of(item)
  if type(item.url) == "string" and item.url ~= "" then return item.url end
  if type(item.b64_json) == "string" and item.b64_json ~= "" then return inline_url(item.b64_json) end
  return nil
end

local function revised_of(item)
  local revised = item.revised_prompt
  return type(revised) == "string" and revised ~= "" and revised or nil
end

-- Appends the images in `v` (a string, an object, or an array of either) to
-- `out`; returns the revised prompt of the object that gave the first image.
local function images_of(v, out)
  if type(v) == "string" then
    if v ~= "" then out[#out + 1] = v end
    return nil
  end
  if type(v) ~= "table" then return nil end
  local single = image_of(v)
  if single then
    out[#out + 1] = single
    return revised_of(v)
  end
  local revised
  for _, item in ipairs(v) do
    if type(item) == "string" then
      if item ~= "" then out[#out + 1] = item end
    elseif type(item) == "table" then
      local url = image_of(item)
      if url then
        if #out == 0 then revised = revised_of(item) end
        out[#out + 1] = url
      end
    end
  end
  return revised
end

local function reason_of(obj)
  for i = 1, #REASON_KEYS do
    local v = obj[REASON_KEYS[i]]
    if v ~= nil then
      if type(v) == "string" and v ~= "" then return v end
      if type(v) == "table" and type(v.message) == "string" then return v.message end
    end
  end
  return nil
end

-- The object that holds the fields: `value` itself, or what it wraps.
local function unwrap(obj)
  for _ = 1, MAX_UNWRAP do
    local inner
    for i = 1, #WRAPPERS do
      local candidate = obj[WRAPPERS[i]]
      -- An empty table may be an empty array ("data": []): nothing to unwrap.
      if candidate ~= nil and is_object(candidate) and next(candidate) ~= nil then
        inner = candidate
        break
      end
    end
    if not inner then return obj end
    obj = inner
  end
  return obj
end

-- read(value) --> { id, status, service_status, images, revised_prompt, reason, raw }
-- status is "pending", "succeeded", "failed" or nil when the body has none.
-- It runs for every reply, so it looks only for what a caller can use:
-- images (a list) unless the status is pending or failed, reason unless it
-- is pending or succeeded; absent keys cost one lookup each.
function M.read(value)
  local bare = id_string(value)
  if bare or not is_object(value) then return { raw = value, images = {}, id = bare } end
  local obj = unwrap(value)
  local id, status, service_status
  for i = 1, #ID_KEYS do
    local candidate = obj[ID_KEYS[i]]
    if candidate ~= nil then
      id = id_string(candidate)
      if id then break end
    end
  end
  for i = 1, #STATUS_KEYS do
    local word = obj[STATUS_KEYS[i]]
    if type(word) == "string" then
      service_status, status = word, M.classify(word)
      break
    end
  end
  local images, revised_prompt, reason
  if status ~= "pending" and status ~= "failed" then
    images = {}
    for i = 1, #IMAGE_KEYS do
      local candidate = obj[IMAGE_KEYS[i]]
      if candidate ~= nil then
        revised_prompt = images_of(candidate, images)
        if images[1] then break end
      end
    end
    if not status and images[1] then status = "succeeded" end
  end
  if status ~= "pending" and status ~= "succeeded" then reason = reason_of(obj) end
  return { raw = value, images = images, id = id, status = status,
    service_status = service_status, revised_prompt = revised_prompt, reason = reason }
end

-- result(reading, id) --> the result of a job that succeeded: id, status,
-- images (URLs; inline images as data: URLs), url (the first), revised_prompt
-- (where the service gave one) and raw.
function M.result(reading, id)
  return {
    id = id,
    status = "succeeded",
    images = reading.images,
    url = reading.images[1],
    revised_prompt = reading.revised_prompt,
    raw = reading.raw,
  }
end

-- decode(body) --> value | nil, message
function M.decode(body)
  local value, problem = cjson.decode(body or "")
  if value ~= nil then return value end
  if body == nil or body:match("^%s*$") then return nil, "the body is empty" end
  return nil, "the body is not JSON (" .. tostring(problem) .. ")"
end

-- parse(body, what [, id]) --> reading | nil, err: decode then read, or a
-- decode error that says which body it was (`what`, then the job's id).
function M.parse(body, what, id)
  local value, problem = M.decode(body)
  if value == nil then
    return nil, errors.new("decode", what .. (id and " " .. id or "") .. ": " .. problem)
  end
  return M.read(value)
end

-- The message in an error body, if it has one.
function M.service_message(body)
  local value = M.decode(body or "")
  if type(value) == "table" then
    local reading = M.read(value)
    if reading.reason then return reading.reason end
  elseif type(value) == "string" and value ~= "" then
    return value
  end
  return nil
end

return M
