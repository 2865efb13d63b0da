#!/bin/sh
# Installs Neovim from Debian's packages for spec/hosts/nvim_spec.lua (run as
# root; it prints nothing when Neovim is already there). Neovim has no service.
set -eu
sh "$(dirname "$0")/apt-packages.sh" neovim
