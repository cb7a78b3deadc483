#!/usr/bin/env bash
# The added latency of `assent mcp` on a call the policy allows (BENCHMARKS.md): the
# reference server `@modelcontextprotocol/server-everything` bare and behind the gateway,
# side by side in one run of tests/mcp/bench.py (the official Python SDK's client), with
# the release binaries and a real `assent serve` on 127.0.0.1.
#
#   scripts/mcp-bench.sh [CALLS] [full|normal]
#
# CALLS: timed calls on each side (default 2000, after 200 to warm up). full|normal: the
# server's sqlite_synchronous (default full, the shipped default: every filing is fsynced).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
sync="${2:-full}"

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); $(date -u +%Y-%m-%d)"
cargo build --release --bin assent
tests/mcp/setup

tmp="$(mktemp -d)"
serve_pid=""
cleanup() {
    if [[ -n "$serve_pid" ]]; then kill "$serve_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/assent.toml" <<EOF
[server]
sqlite_synchronous = "$sync"

[[server.tokens]]
name = "bench-agent"
role = "agent"
token = "bench-agent-token-0001"

[policy]
default = "require_approval"

[[policy.rules]]
name = "echo"
tool = "mcp.everything.echo"
action = "allow"
EOF

ASSENT_LOG=warn target/release/assent --config "$tmp/assent.toml" serve \
    --listen 127.0.0.1:0 --db "$tmp/assent.db" >"$tmp/serve.out" 2>"$tmp/serve.err" &
serve_pid=$!
url=""
for _ in $(seq 1 100); do
    url="$(sed -n 's/^assent: listening on //p' "$tmp/serve.out")"
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || { echo "assent serve did not start:"; cat "$tmp/serve.err"; exit 1; }

server=(node "$PWD/tests/mcp/node_modules/.bin/mcp-server-everything")
gated=("$PWD/target/release/assent" --config "$tmp/assent.toml" --url "$url" mcp --name everything -- "${server[@]}")
cfg="$(python3 -c 'import json,sys; print(json.dumps({"bare": sys.argv[1].split("\x1f"), "gated": sys.argv[2].split("\x1f"), "tool": "echo", "arguments": {"message": "hello"}, "n": int(sys.argv[3]), "warmup": 200}))' \
    "$(IFS=$'\x1f'; echo "${server[*]}")" "$(IFS=$'\x1f'; echo "${gated[*]}")" "$n")"
echo "== $n calls of echo on each side, sqlite_synchronous = $sync"
ASSENT_TOKEN=bench-agent-token-0001 ASSENT_LOG_DIR="${MCP_BENCH_LOGS:-$tmp/logs}" ASSENT_LOG="${ASSENT_LOG:-warn}" \
    target/mcp-venv/bin/python tests/mcp/bench.py "$cfg"
