-- Error values: a table with kind, message and, where they apply, status,
-- field, retryable, maybe_submitted and reason; tostring gives one line.
local M = {}

local Error = {}
Error.__index = Error

-- Kinds a caller can rely on, and whether trying again may help.
M.kinds = {
  invalid = false,      -- a bad option, found before anything was sent
  auth = false,         -- 401/403: the key was refused
  rate_limited = true,  -- 429
  http = false,         -- any other non-2xx (5xx and 408 are retryable)
  network = true,       -- the connection failed or broke
  timeout = true,       -- a request or the job's deadline ran out
  decode = false,       -- a body that the response rules do not accept
  failed = false,       -- the service says the job failed
  io = false,           -- a downloaded image could not be written
  canceled = false,     -- job:cancel() stopped this call
  closed = false,       -- the client was closed while this call waited
  unsupported = false,  -- this system lacks what the call needs (pollfd without epoll)
}

local MAX_MESSAGE = 400

local function one_line(text)
  text = tostring(text):gsub("[%c]+", " ")
  if #text > MAX_MESSAGE then text = text:sub(1, MAX_MESSAGE) .. "..." end
  return text
end

function Error:__tostring()
  local details = {}
  if self.status then details[#details + 1] = "HTTP " .. self.status end
  if self.field then details[#details + 1] = "field " .. self.field end
  if self.maybe_submitted then details[#details + 1] = "the job may have been submitted" end
  local text = "dalle " .. self.kind .. ": " .. self.message
  if #details > 0 then text = text .. " (" .. table.concat(details, ", ") .. ")" end
  return text
end

-- new(kind, message [, extra]): extra's fields are copied onto the error.
function M.new(kind, message, extra)
  assert(M.kinds[kind] ~= nil, "unknown error kind")
  local err = setmetatable({ kind = kind, message = one_line(message), retryable = M.kinds[kind] },
    Error)
  if extra then
    for k, v in pairs(extra) do err[k] = v end
  end
  return err
end

-- The errors more than one call makes, each made in one place.
function M.closed()
  return M.new("closed", "the client was closed while this call waited")
end

function M.canceled(id)
  return M.new("canceled", "job " .. (id or "(no id)") .. " was canceled", { id = id })
end

-- deadline("the submit" [, extra]): a call whose deadline ran out.
function M.deadline(what, extra)
  return M.new("timeout", what .. " did not finish before its deadline", extra)
end

-- invalid(field, message) --> nil, err: for `return invalid(...)`.
function M.invalid(field, message)
  return nil, M.new("invalid", message, { field = field })
end

-- Raises "bad argument" at the caller of a public method; `depth` counts
-- helper frames between the method and this call.
function M.bad_argument(n, method, want, got, depth)
  error("bad argument #" .. n .. " to '" .. method .. "' (" .. want .. " expected, got "
    .. type(got) .. ")", 3 + (depth or 0))
end

function M.is_error(value)
  return getmetatable(value) == Error
end

-- The error for an HTTP status the service answered with.
function M.from_status(status, service_message, extra)
  local kind = "http"
  if status == 401 or status == 403 then
    kind = "auth"
  elseif status == 429 then
    kind = "rate_limited"
  end
  local message = service_message or ("the service answered HTTP " .. status)
  local err = M.new(kind, message, extra)
  err.status = status
  if kind == "http" then err.retryable = status == 408 or status >= 500 end
  return err
end

return M
