#!/usr/bin/env bash
# Builds @NAME@ into a WebAssembly component: ./build.sh [OUT.wasm]
# (default: @NAME@.wasm here).
#
# jco comes from $JCO, else from ./node_modules (`npm install` is run when
# it is missing). The QuickJS backend without component-model async is the
# one sluice runs (plugins are called synchronously).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/@NAME@.wasm}"
die() { echo "build.sh (@NAME@): $*" >&2; exit 1; }

case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$here"
jco="${JCO:-$here/node_modules/.bin/jco}"
if [[ ! -x "$jco" ]]; then
    command -v npm >/dev/null || die "npm is needed to install jco (or set JCO)"
    echo "installing jco and componentize-js (npm install)" >&2
    npm install --no-audit --no-fund --loglevel=error >&2 || die "npm install failed"
fi
"$jco" componentize app.js --wit wit -n @WORLD@ \
    --backend quickjs --backend-qjs-disable-async -o "$out" >/dev/null \
    || die "jco componentize failed (see above)"
echo "built $out"
