#!/usr/bin/env bash
# The benchmark run: builds in release mode, installs what is missing, runs
# every benchmark on this machine and rewrites docs/benchmarks.md.
#
#   bench/run.sh            # full run (well under 30 minutes)
#   bench/run.sh --quick    # smoke run (a few minutes); writes target/bench/benchmarks-quick.md
#
# Other options go to bench-run: --out FILE, --only ID,ID, --skip-criterion,
# --skip-instructions.
# See docs/benchmarks.md for the method. Loopback only; every load is
# bounded in count and time.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

say() { echo "bench/run.sh: $*" >&2; }

# nginx, wrk and valgrind (for instructions per request) from the
# distribution, when missing (this runs as root on the project's machines;
# elsewhere use sudo or install them yourself).
missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v valgrind >/dev/null || missing+=(valgrind)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]} with apt-get"
        # A failed install is reported in the results ("not measurable"), not fatal.
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
            >target/bench-apt.log 2>&1 || say "apt-get install ${missing[*]} failed (see target/bench-apt.log); going on without"
    else
        say "missing ${missing[*]} (install them: apt-get install ${missing[*]}); going on without"
    fi
fi

# Many concurrent streams need many descriptors (each proxied stream holds two).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
say "open files limit: $(ulimit -n)"

say "building: sluice (profile dist: release + thin LTO, as deployed), sluice-bench (release)"
cargo build --profile dist -p sluice
cargo build --release -p sluice-bench

exec "$repo/target/release/bench-run" "$@"
