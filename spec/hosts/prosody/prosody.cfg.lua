-- Prosody's config for spec/hosts/prosody_spec.lua: examples/prosody's own
-- as it is, plus mod_dalle_probe from this directory; allowed to run as
-- root, as CI does.
-- luacheck: read globals Include VirtualHost
-- luacheck: globals plugin_paths run_as_root modules_enabled
local spec_dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")

Include "../../../examples/prosody/prosody.cfg.lua"

plugin_paths = { spec_dir .. "/../../../examples/prosody", spec_dir }
run_as_root = true

VirtualHost "localhost"
  modules_enabled = { "dalle", "dalle_probe" }
