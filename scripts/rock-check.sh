#!/bin/sh
# rock-check.sh 5.1|5.4: `luarocks make` into a fresh tree, then generates an
# image against dalle-mock with only that tree on Lua's paths (as
# `luarocks path` gives them), from outside the repository, and runs the
# `dalle` command the rock installed.
set -eu
version=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# No rocks server is reachable here; Debian's lua-cjson and lua-argparse
# packages provide the rock dependencies, so the tree is told they are there.
cat >"$work/config.lua" <<CONF
rocks_trees = { [[$work/tree]] }
rocks_provided = { ["lua-cjson"] = "2.1.0-1", ["argparse"] = "0.7.1-1" }
CONF
export LUAROCKS_CONFIG="$work/config.lua"
unset LUA_PATH LUA_CPATH

echo "== luarocks make for Lua $version into a fresh tree"
(cd "$repo" && luarocks --lua-version "$version" --tree "$work/tree" make lua-dalle-scm-1.rockspec) \
    >"$work/make.log" 2>&1 || { cat "$work/make.log"; exit 1; }
eval "$(luarocks --lua-version "$version" --tree "$work/tree" path)"
cp "$repo/examples/generate.lua" "$work/"
cd "$work"
"$repo/scripts/with-mock.sh" "lua$version" generate.lua "a rock in a river" "$work/rock.png"
head -c 8 "$work/rock.png" | od -An -c | grep -q 'P   N   G' || { echo "no PNG written"; exit 1; }
"$work/tree/bin/dalle" --help >"$work/help.txt" || { cat "$work/help.txt"; exit 1; }
grep -q "Usage: dalle" "$work/help.txt" || { echo "the installed dalle printed no usage"; exit 1; }
echo "Lua $version: installed with luarocks, generated $(wc -c <"$work/rock.png") bytes of PNG;" \
    "the installed dalle --help runs"

# The callback receiver is in the installed core too: a job finished by its
# callback, with the polls too slow to have done it (the mock's jobs need no
# polls to finish).
cat >"$work/receive.lua" <<'LUA'
local dalle = require "dalle"
local client = assert(dalle.new { base_url = os.getenv("AIRIGHT_BASE_URL"),
  callback_listen = "127.0.0.1:0", poll_interval = 30, max_poll_interval = 30 })
local started = os.time()
local result, err = client:generate { prompt = "a letter in the post", size = "256x256", timeout = 20 }
assert(result, tostring(err))
assert(os.time() - started < 10, "the job was not finished by its callback")
print("callback received on " .. client:callback_url())
LUA
DALLE_MOCK_DELAY_MS=200 DALLE_MOCK_POLLS=0 "$repo/scripts/with-mock.sh" "lua$version" receive.lua
