#!/bin/sh
# Installs Neovim from Debian's packages for spec/hosts/nvim_spec.lua (run as
# root; it prints nothing when Neovim is already there). Neovim has no service.
set -eu

dpkg-query -W -f='${Status}' neovim 2>/dev/null | grep -q "ok installed" && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "neovim is missing; run:  sudo apt-get install -y --no-install-recommends neovim" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends neovim >/dev/null
