#!/usr/bin/env bash
# The whole benchmark suite (BENCHMARKS.md): the console's in-process figures (criterion),
# then the end-to-end figures (examples/loadgen against the real `assent serve` on
# 127.0.0.1). About five minutes on 2 cores. `--quick` for a smoke run (not figures).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
crit=(--warm-up-time 1 --measurement-time 3)
if [[ "${1:-}" == "--quick" ]]; then
    quick=(--quick)
    crit=(--warm-up-time 1 --measurement-time 1)
fi

# 10,000 long polls need 10,000 sockets in the generator and as many in the server.
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt 12000 ]]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); $(date -u +%Y-%m-%d)"
echo "== build"
cargo build --release --bins --examples
echo "== in-process figures (criterion)"
cargo bench --bench console -- "${crit[@]}"
cargo bench --bench policy -- "${crit[@]}"
echo "== end-to-end figures (loadgen)"
target/release/examples/loadgen all "${quick[@]}"
