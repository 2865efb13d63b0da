#!/bin/sh
# rock-check.sh 5.1|5.4: `luarocks make` into a fresh tree, then generates an
# image against dalle-mock with only that tree on Lua's paths (as
# `luarocks path` gives them), from outside the repository.
set -eu
version=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# No rocks server is reachable here; Debian's lua-cjson package provides the
# one rock dependency, so the tree is told it is there.
cat >"$work/config.lua" <<CONF
rocks_trees = { [[$work/tree]] }
rocks_provided = { ["lua-cjson"] = "2.1.0-1" }
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
echo "Lua $version: installed with luarocks, generated $(wc -c <"$work/rock.png") bytes of PNG"
