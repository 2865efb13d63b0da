-- Results by callback: the client's receiver (src/receiver.c) or an app's
-- own HTTP server hands in what the service POSTs to a job's secret URL.
-- Tokens are made and matched in C; this module holds the public prefix and
-- never keeps a token: a job's callback URL exists only in its submit form.
--
--   callbacks.new(core, config) --> cb | nil (no callbacks configured) |
--       nil, err: listens when config.callback_listen says so
--   cb:url() --> public prefix, listening port (nil: not listening)
--   cb:expect() --> id, url: a fresh token's event id and its callback URL
--   cb:forget(id): the token ends
--   cb:deliver(path_or_token, body) --> true | nil, err
local config = require "dalle.config"
local errors = require "dalle.errors"

local M = {}

local Callbacks = {}
Callbacks.__index = Callbacks

function Callbacks:__tostring()
  return "dalle.callbacks (" .. self._prefix .. "/...)"
end

-- "127.0.0.1:8787", "[::1]:0", "*:8787", ":8787" --> host, port
local function parse_listen(text)
  local host, port = text:match("^%[([%x:.]+)%]:(%d+)$")
  if not host then host, port = text:match("^([^:]*):(%d+)$") end
  port = tonumber(port)
  if not port or port > 65535 then return nil end
  if host == "" then host = "*" end
  return host, port
end

local function listen(core, c)
  local host, port = parse_listen(c.callback_listen)
  if not host then
    return errors.invalid("callback_listen", "config 'callback_listen' must be HOST:PORT or "
      .. "[IPv6]:PORT with a port from 0 (any free one) to 65535 (got '"
      .. c.callback_listen:sub(1, 80) .. "')")
  end
  if not c.callback_public_url and not config.is_loopback_host(host) then
    return errors.invalid("callback_public_url", "a receiver listening on '" .. host
      .. "' needs config 'callback_public_url': the URL the service reaches it at (only a "
      .. "loopback address is its own public URL)")
  end
  local bound, problem = core:listen {
    host = host, port = port, max_body = c.reply_cap, seconds = c.callback_timeout,
    max_connections = c.callback_max_connections,
    tls_cert = c.callback_tls_cert, tls_key = c.callback_tls_key,
  }
  if not bound then return errors.invalid("callback_listen", problem) end
  local prefix = c.callback_public_url
  if not prefix then
    local scheme = c.callback_tls_cert and "https" or "http"
    prefix = scheme .. "://" .. (host:find(":", 1, true) and "[" .. host .. "]" or host)
      .. ":" .. bound
  end
  return bound, prefix
end

function M.new(core, c)
  if not c.callback_listen and not c.callback_public_url then return nil end
  local port, prefix
  if c.callback_listen then
    port, prefix = listen(core, c)
    if not port then return nil, prefix end
  else
    prefix = c.callback_public_url
  end
  return setmetatable({ _core = core, _prefix = prefix:gsub("/+$", ""), _port = port,
    _max_body = c.reply_cap }, Callbacks)
end

function Callbacks:url()
  return self._prefix, self._port
end

function Callbacks:expect()
  local id, token = self._core:expect_callback()
  return id, self._prefix .. "/" .. token
end

function Callbacks:forget(id)
  self._core:forget_callback(id)
end

function Callbacks:deliver(path, body)
  if #body > self._max_body then
    return nil, errors.new("invalid", "the callback body is larger than max_body plus room for one inline image ("
      .. self._max_body .. " bytes)", { field = "body" })
  end
  if self._core:deliver_callback(path, body) then return true end
  -- The path is not repeated: it holds the token.
  return nil, errors.new("invalid", "no job waits on this callback URL (an unknown token, or "
    .. "its job has ended)", { field = "path" })
end

return M
