#!/usr/bin/env bash
# Builds the redact-guardrail plugin into a WebAssembly component.
#
#   examples/javascript/redact-guardrail/build.sh [OUT.wasm]
#
# OUT defaults to target/examples/redact-guardrail.wasm at the repository
# root. jco and componentize-js come from this directory's node_modules
# (`npm ci` is run first when they are missing). The QuickJS backend is
# used, without component-model async (sluice calls plugins synchronously):
# its components are ~1.6 MB and start fast. (The default StarlingMonkey
# backend did not produce a component this host could load.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$repo/target/examples/redact-guardrail.wasm}"

die() { echo "build.sh (redact-guardrail): $*" >&2; exit 1; }

command -v node >/dev/null || die "node (Node.js 20 or later) is needed"
cd "$here"
if [[ ! -x node_modules/.bin/jco ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    command -v npm >/dev/null || die "npm is needed to install jco (npm ci)"
    echo "installing jco and componentize-js (npm ci) in $here" >&2
    log="$(mktemp)"
    if ! npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
        head -n 6 "$log" >&2
        # npm ci refuses a lock file that lists platform-specific optional
        # packages the registry in use does not have (a partial mirror);
        # `npm install --no-save` installs the same locked versions
        # without rewriting package-lock.json.
        echo "npm ci failed; retrying with npm install --no-save (package-lock.json is left as it is)" >&2
        npm install --no-save --no-audit --no-fund --loglevel=error >&2 \
            || die "npm install failed (is the npm registry reachable?)"
    fi
    rm -f "$log"
fi
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$.wasm"
trap 'rm -f "$tmp"' EXIT
node_modules/.bin/jco componentize app.js \
    --wit "$repo/wit" -n guardrail \
    --backend quickjs --backend-qjs-disable-async \
    -o "$tmp" >/dev/null || die "jco componentize failed (see above)"
mv "$tmp" "$out"
echo "built $out ($(wc -c <"$out") bytes)"
