-- A client's configuration: the keys dalle.new accepts, their defaults, and
-- the checks that turn a caller's table into settings or an invalid error.
local core = require "dalle.core"
local errors = require "dalle.errors"

local M = {}

M.VERSION = "0.1.0"
M.DEFAULT_BASE_URL = "https://developers.airight.io/nft-market-backend-service"
M.DEFAULT_USER_AGENT = "lua-dalle/" .. M.VERSION .. " libcurl/" .. core.curl_version

local DEFAULTS = {
  timeout = 30,
  connect_timeout = 10,
  stall_timeout = 30,
  poll_interval = 2,
  max_poll_interval = 15,
  max_retries = 3,
  wait_timeout = 600,
  max_body = 1024 * 1024,
  max_image_bytes = 50 * 1024 * 1024,
  max_transfers = 64,
  yield = true,
  allow_insecure_http = false,
  callback_confirm = true,
  callback_poll_interval = 20,
  callback_timeout = 5,
  callback_max_connections = 1024,
}

local TYPES = {
  api_key = "string",
  base_url = "string",
  callback = "string",
  timeout = "number",
  connect_timeout = "number",
  stall_timeout = "number",
  poll_interval = "number",
  max_poll_interval = "number",
  max_retries = "number",
  wait_timeout = "number",
  max_body = "number",
  max_image_bytes = "number",
  max_transfers = "number",
  user_agent = "string",
  ca_file = "string",
  ca_path = "string",
  yield = "boolean",
  allow_insecure_http = "boolean",
  log = "function",
  loop = "string or table",
  record = "string",
  record_prompts = "boolean",
  journal = "string",
  callback_listen = "string",
  callback_public_url = "string",
  callback_confirm = "boolean",
  callback_poll_interval = "number",
  callback_timeout = "number",
  callback_max_connections = "number",
  callback_tls_cert = "string",
  callback_tls_key = "string",
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local KEY_LIST = table.concat(sorted_keys(TYPES), ", ")
local invalid = errors.invalid

local function check_number(c, key)
  local v = c[key]
  if key == "max_retries" then
    if v < 0 or v ~= math.floor(v) then
      return invalid(key, "config 'max_retries' must be a whole number >= 0 (got " .. v .. ")")
    end
  elseif key == "max_transfers" then
    if v < 1 or v > 100000 or v ~= math.floor(v) then
      return invalid(key, "config 'max_transfers' must be a whole number from 1 to 100000 (got "
        .. v .. ")")
    end
  elseif key == "callback_max_connections" then
    if v < 1 or v > 100000 or v ~= math.floor(v) then
      return invalid(key, "config 'callback_max_connections' must be a whole number from 1 to "
        .. "100000 (got " .. v .. ")")
    end
  elseif key == "poll_interval" then
    if v ~= v or v < 0 then
      return invalid(key, "config 'poll_interval' must be >= 0 seconds (got " .. v .. ")")
    end
  elseif v ~= v or v <= 0 or v == math.huge then
    return invalid(key, "config '" .. key .. "' must be a positive number (got " .. v .. ")")
  end
  return true
end

-- "127.0.0.1", "localhost", "::1": hosts where plain http never leaves the machine.
function M.is_loopback_host(host)
  host = host:lower()
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

local function is_loopback(url)
  local authority = url:match("^%a[%w+.-]*://([^/?#]+)") or ""
  authority = authority:gsub("^.*@", "")
  return M.is_loopback_host(authority:match("^%[(.-)%]") or authority:match("^[^:]+") or "")
end

local function read_base_url(c)
  local base = c.base_url or os.getenv("AIRIGHT_BASE_URL")
  if base == nil or base == "" then base = M.DEFAULT_BASE_URL end
  base = base:gsub("/+$", "")
  if not core.is_http_url(base) then
    return invalid("base_url", "config 'base_url' must be an absolute http:// or https:// URL")
  end
  if base:lower():match("^http://") and not is_loopback(base) and not c.allow_insecure_http then
    return invalid("base_url", "config 'base_url' is plain http:// to a host that is not this "
      .. "machine, which would send the API key unencrypted; use https://, or set "
      .. "allow_insecure_http = true if you must")
  end
  return base
end

-- The receiver's settings that can be checked before it starts.
local function check_callbacks(c)
  local public = c.callback_public_url
  if public ~= nil then
    -- Checked with a token's room added: the URL the service gets must pass.
    if not core.is_http_url(public .. "/" .. string.rep("x", 32)) or public:find("[?#]") then
      return invalid("callback_public_url", "config 'callback_public_url' must be an absolute "
        .. "http:// or https:// URL with no query or fragment (each job's token is added as "
        .. "its last path segment)")
    end
    c.callback_public_url = public:gsub("/+$", "")
  end
  if c.callback and (public or c.callback_listen) then
    return invalid("callback", "config 'callback' and a receiver ('callback_listen' or "
      .. "'callback_public_url') both say where results go: set one (a call's own 'callback' "
      .. "option still wins over the receiver)")
  end
  if (c.callback_tls_cert == nil) ~= (c.callback_tls_key == nil) then
    return invalid(c.callback_tls_cert and "callback_tls_key" or "callback_tls_cert",
      "config 'callback_tls_cert' and 'callback_tls_key' go together: the receiver's "
      .. "certificate and its private key, PEM files")
  end
  if c.callback_tls_cert and not c.callback_listen then
    return invalid("callback_tls_cert", "config 'callback_tls_cert' is for the receiver: set "
      .. "'callback_listen' too")
  end
  return true
end

-- read(config) --> settings | nil, err: the checked config, defaults filled.
function M.read(config)
  local c = {}
  for key, value in pairs(config) do
    local want = TYPES[key]
    if not want then
      return invalid(tostring(key),
        "unknown config option '" .. tostring(key) .. "' (allowed: " .. KEY_LIST .. ")")
    end
    if type(value) ~= want and not want:find(type(value), 1, true) then
      return invalid(key, "config '" .. key .. "' must be a " .. want .. " (got " .. type(value) .. ")")
    end
    c[key] = value
  end
  for key, value in pairs(DEFAULTS) do
    if c[key] == nil then c[key] = value end
  end
  for key, want in pairs(TYPES) do
    if want == "number" then
      local ok, err = check_number(c, key)
      if not ok then return nil, err end
    end
  end
  if c.max_poll_interval < c.poll_interval then
    return invalid("max_poll_interval", "config 'max_poll_interval' (" .. c.max_poll_interval
      .. ") must not be below 'poll_interval' (" .. c.poll_interval .. ")")
  end
  c.api_key = c.api_key or os.getenv("AIRIGHT_API_KEY")
  if not c.api_key or c.api_key == "" then
    return invalid("api_key", "an API key is required: config 'api_key' or the environment "
      .. "variable AIRIGHT_API_KEY")
  end
  if c.api_key:find("[%c]") then
    return invalid("api_key", "the API key must not contain control characters")
  end
  local base, err = read_base_url(c)
  if not base then return nil, err end
  c.base_url = base
  if c.callback ~= nil and not core.is_http_url(c.callback) then
    return invalid("callback", "config 'callback' must be an absolute http:// or https:// URL")
  end
  local ok, cerr = check_callbacks(c)
  if not ok then return nil, cerr end
  c.user_agent = c.user_agent or M.DEFAULT_USER_AGENT
  if c.user_agent:find("[%c]") then
    return invalid("user_agent", "the user agent must not contain control characters "
      .. "(a line break would start another header)")
  end
  c.loop = c.loop or "auto"
  if type(c.loop) == "string" and c.loop ~= "auto" and c.loop ~= "none" then
    return invalid("loop", "config 'loop' must be \"auto\", \"none\" or an adapter table (got '"
      .. c.loop .. "')")
  end
  if c.record == nil then
    local from_env = os.getenv("DALLE_RECORD")
    if from_env and from_env ~= "" then c.record, c.record_from_env = from_env, true end
  end
  if c.record == "" then return invalid("record", "config 'record' must name a file") end
  if c.journal == "" then return invalid("journal", "config 'journal' must name a file") end
  -- A poll or callback reply may carry the image itself in base64 (4 bytes
  -- of text for every 3 of image): room for one beside max_body.
  c.reply_cap = c.max_body + math.ceil(c.max_image_bytes / 3) * 4
  if not c.log and os.getenv("DALLE_DEBUG") == "1" then
    c.log = function(record) io.stderr:write("dalle: ", record.message, "\n") end
  end
  return c
end

-- Splits the options a call takes for itself (timeout, and key: the
-- request's name in the journal) from the request's own: returns request,
-- timeout, key. dalle.core.validate only reads the request, with raw
-- access, so options without either go on as they are: no copy.
-- The copy is written with next(), not pairs(): LuaJIT 2.1.0-beta3 (Debian
-- 12) can compile a pairs() copy loop, under load, into one that copies nothing.
function M.split_options(opts)
  if rawget(opts, "timeout") == nil and rawget(opts, "key") == nil then return opts, nil, nil end
  local request, timeout, key = {}, nil, nil
  local k, v = next(opts)
  while k ~= nil do
    if k == "timeout" then
      timeout = v
    elseif k == "key" then
      key = v
    else
      request[k] = v
    end
    k, v = next(opts, k)
  end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0) then
    return invalid("timeout", "option 'timeout' must be a positive number of seconds (got "
      .. tostring(timeout) .. ")")
  end
  if key ~= nil and type(key) ~= "string" then
    return invalid("key", "option 'key' must be a string naming the request in the journal (got "
      .. type(key) .. ")")
  end
  return request, timeout, key
end

-- The options of wait and download: only `timeout` is known.
-- Returns true, timeout | nil, err; raises when opts is not a table.
function M.wait_options(opts, method, position)
  if opts == nil then return true, nil end
  if type(opts) ~= "table" then errors.bad_argument(position, method, "table", opts, 1) end
  for k in pairs(opts) do
    if k ~= "timeout" then
      return invalid(tostring(k), "unknown option '" .. tostring(k) .. "' (allowed: timeout)")
    end
  end
  local request, timeout = M.split_options(opts)
  if not request then return nil, timeout end
  return true, timeout
end

return M
