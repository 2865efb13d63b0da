-- A Prosody config to try mod_dalle on its own: HTTP on 127.0.0.1 only, no
-- XMPP ports, Prosody in the foreground logging to the console.
--   mkdir -p /tmp/prosody-dalle
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/lua5.4/?.so;;" \
--     scripts/with-mock.sh prosody --config examples/prosody/prosody.cfg.lua -F
--   curl -o lighthouse.png 'http://127.0.0.1:5280/dalle/image?prompt=a+lighthouse+at+dusk'
-- Prosody drops relative entries from LUA_PATH and LUA_CPATH: give absolute
-- ones. DALLE_HTTP_PORT (default 5280) and DALLE_PROSODY_DATA (default
-- /tmp/prosody-dalle, where the images go too) change those.
-- luacheck: read globals VirtualHost
-- luacheck: globals plugin_paths data_path log certificates http_ports http_interfaces https_ports
-- luacheck: globals http_default_host modules_disabled modules_enabled
local config_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
if config_dir:sub(1, 1) ~= "/" then config_dir = os.getenv("PWD") .. "/" .. config_dir end

local data_dir = os.getenv("DALLE_PROSODY_DATA") or "/tmp/prosody-dalle"

plugin_paths = { config_dir }
data_path = data_dir
log = { { levels = { min = "info" }, to = "console" } }
-- No TLS here: a directory without certificates to index.
certificates = data_dir

http_ports = { tonumber(os.getenv("DALLE_HTTP_PORT")) or 5280 }
http_interfaces = { "127.0.0.1" }
https_ports = {}
http_default_host = "localhost"
modules_disabled = { "c2s", "s2s", "s2s_auth_certs", "offline" }

VirtualHost "localhost"
  modules_enabled = { "dalle" }
