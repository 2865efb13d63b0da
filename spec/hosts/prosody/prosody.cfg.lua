-- Prosody's config for spec/hosts/prosody_spec.lua and bench/hosts.lua:
-- examples/prosody's own as it is, plus mod_dalle_probe from this
-- directory; allowed to run as root, as CI does.
-- luacheck: read globals Include VirtualHost
-- luacheck: globals plugin_paths run_as_root network_settings modules_enabled
local spec_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")

Include "../../../examples/prosody/prosody.cfg.lua"

plugin_paths = { spec_dir .. "/../../../examples/prosody", spec_dir }
run_as_root = true
-- bench/hosts.lua opens 200 connections at once: past Prosody's default
-- listen backlog (128) the rest would retry their SYN a second later.
network_settings = { tcp_backlog = 256 }

VirtualHost "localhost"
  modules_enabled = { "dalle", "dalle_probe" }
