#!/usr/bin/env bash
# Builds @NAME@ into a WebAssembly component: ./build.sh [OUT.wasm]
# (default: @NAME@.wasm here).
#
# componentize-py comes from $COMPONENTIZE_PY, else from PATH, else from
# ./.venv (created and filled with pip when missing).
set -euo pipefail

COMPONENTIZE_PY_VERSION=@COMPONENTIZE_PY_VERSION@
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/@NAME@.wasm}"
die() { echo "build.sh (@NAME@): $*" >&2; exit 1; }

if [[ -n "${COMPONENTIZE_PY:-}" ]]; then
    cpy="$COMPONENTIZE_PY"
elif command -v componentize-py >/dev/null; then
    cpy="$(command -v componentize-py)"
else
    if [[ ! -x "$here/.venv/bin/componentize-py" ]]; then
        command -v python3 >/dev/null || die "python3 is needed (or set COMPONENTIZE_PY)"
        echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $here/.venv" >&2
        python3 -m venv "$here/.venv" || die "python3 -m venv failed"
        "$here/.venv/bin/python" -m pip install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION" \
            || die "pip install componentize-py failed"
    fi
    cpy="$here/.venv/bin/componentize-py"
fi

case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$here"
RUST_BACKTRACE=0 "$cpy" -d wit -w @WORLD@ componentize app -o "$out" >/dev/null \
    || die "componentize-py failed (see above)"
echo "built $out"
