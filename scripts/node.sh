#!/usr/bin/env bash
# Source this file (`. scripts/node.sh`) to have Node 24 LTS first on PATH. Node 20 reached its end
# of life in April 2026; on a machine whose own Node is older, Node 24 comes from the npm registry's
# `node` package (it ships the binary), installed once into a cache folder outside the clone, so
# every clone and CI run on the machine shares it. npm itself is a script: with this node first on
# PATH it runs under Node 24 too.
want=24
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt "$want" ]; then
  dir="${NODE24_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clinical-copilot/node$want}"
  if [ ! -x "$dir/node_modules/.bin/node" ]; then
    printf 'node: installing Node %s into %s (this machine has %s)\n' "$want" "$dir" "$(node -v 2>/dev/null || echo none)" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "node@$want" >&2
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
  hash -r
fi
printf 'node: %s at %s\n' "$(node -v)" "$(command -v node)" >&2
