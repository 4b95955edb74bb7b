#!/usr/bin/env bash
# Builds the ollama-native plugin into a WebAssembly component.
#
#   examples/python/ollama/build.sh [OUT.wasm]
#
# OUT defaults to target/examples/ollama-native.wasm at the repository root.
# componentize-py comes from $COMPONENTIZE_PY, else from PATH, else from the
# repository's .venv (created and filled with `pip install` when missing).
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$repo/target/examples/ollama-native.wasm}"

die() { echo "build.sh (ollama-native): $*" >&2; exit 1; }

find_componentize_py() {
    if [[ -n "${COMPONENTIZE_PY:-}" ]]; then
        [[ -x "$COMPONENTIZE_PY" ]] || command -v "$COMPONENTIZE_PY" >/dev/null \
            || die "COMPONENTIZE_PY=$COMPONENTIZE_PY is not an executable"
        echo "$COMPONENTIZE_PY"; return
    fi
    if [[ -x "$repo/.venv/bin/componentize-py" ]]; then
        echo "$repo/.venv/bin/componentize-py"; return
    fi
    if command -v componentize-py >/dev/null; then
        command -v componentize-py; return
    fi
    command -v python3 >/dev/null || die "python3 is needed to install componentize-py (or set COMPONENTIZE_PY)"
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $repo/.venv" >&2
    if [[ ! -x "$repo/.venv/bin/python" ]]; then
        python3 -m venv "$repo/.venv" >&2 || die "python3 -m venv $repo/.venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    "$repo/.venv/bin/python" -m pip install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION" >&2 \
        || die "pip install componentize-py==$COMPONENTIZE_PY_VERSION failed (is PyPI reachable?)"
    echo "$repo/.venv/bin/componentize-py"
}

cpy="$(find_componentize_py)"
mkdir -p "$(dirname "$out")"
# Only the plugin's modules go into the component (not tests or caches):
# `app` (Plugin, Adapter), `adapter` (the stream-mapper resource: componentize-py
# looks for a resource in a module named after its interface) and `translate`.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/app.py" "$here/adapter.py" "$here/translate.py" "$work/"
cd "$work"
RUST_BACKTRACE=0 "$cpy" -d "$repo/wit" -w sluice:plugin/provider@0.1.0 componentize app -o plugin.wasm >/dev/null \
    || die "componentize-py failed (see above)"
mv plugin.wasm "$out"
echo "built $out ($(wc -c <"$out") bytes)"
