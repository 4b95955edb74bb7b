#!/usr/bin/env bash
# Builds the example plugins written in other languages:
#
#   examples/python/ollama                -> target/examples/ollama-native.wasm
#   examples/javascript/redact-guardrail  -> target/examples/redact-guardrail.wasm
#
# Idempotent and quick when nothing changed: each output has a stamp with
# the sha256 of its inputs (sources, build script, lock file, WIT), and is
# rebuilt only when that changes or the output is missing. FORCE=1 rebuilds.
# SLUICE_EXAMPLES_DIR overrides the output directory (the tests read it too).
#
# Needs python3 (componentize-py is pip-installed into .venv at the
# repository root unless COMPONENTIZE_PY names one) and node + npm (jco is
# installed with `npm ci` in the example's directory). Exits non-zero,
# saying which example failed, when a build fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${SLUICE_EXAMPLES_DIR:-$repo/target/examples}"
mkdir -p "$out_dir"

# The sha256 of every input file (names and contents), in a stable order.
inputs_hash() {
    local dir="$1"
    {
        echo "wit"; sha256sum "$repo/wit/sluice.wit"
        (cd "$dir" && find . -type f \
            \( -name '*.py' -o -name '*.js' -o -name '*.sh' -o -name 'package.json' -o -name 'package-lock.json' \) \
            -not -path './node_modules/*' -not -path './__pycache__/*' -print0 | sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}

build() {
    local name="$1" dir="$repo/$2"
    local out="$out_dir/$name.wasm" stamp="$out_dir/.$name.stamp"
    local hash; hash="$(inputs_hash "$dir")"
    # node_modules must exist for the JS build even when the stamp matches
    # (a fresh clone with an old target dir).
    if [[ "${FORCE:-0}" != 1 && -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]] \
        && [[ ! -f "$dir/package.json" || -x "$dir/node_modules/.bin/jco" ]]; then
        touch "$stamp" # the tests compare the stamp's time with the sources'
        echo "$name: up to date ($out)"
        return
    fi
    echo "$name: building from ${dir#"$repo"/}"
    rm -f "$stamp"
    if ! "$dir/build.sh" "$out"; then
        echo "build-examples.sh: building $name failed; see the messages above (the build script is ${dir#"$repo"/}/build.sh)" >&2
        exit 1
    fi
    echo "$hash" >"$stamp"
}

build ollama-native examples/python/ollama
build redact-guardrail examples/javascript/redact-guardrail
