#!/usr/bin/env python3
"""Filings + decisions per second against two `assent serve` instances on one PostgreSQL
database, from a client that is not the project's own.

Python 3 standard library only: `http.client` on one kept-alive socket per client thread,
TCP_NODELAY on each. Each client is an agent and a reviewer in a loop, as `loadgen
throughput` is: file a request, then approve it with the args_hash it came back with;
client i uses instance i % 2. Every call that answered with success counts once; any
other answer stops the run.

It starts both instances itself (`--db URL`, a temporary config each) and stops them at
the end. The database should be empty, e.g. `createdb assent_bench`. With `--db sqlite`
it starts one instance on a temporary SQLite file instead, for the same client's figure
beside it.

Usage (BENCHMARKS.md, "PostgreSQL"):

  scripts/pg_throughput.py --bin target/release/assent \
      --db postgres://postgres@127.0.0.1:5432/assent_bench [--clients 32] [--seconds 5] \
      [--worker-threads 1]
  scripts/pg_throughput.py --bin target/release/assent --db sqlite

Every loop is bounded in count and time; only 127.0.0.1 is contacted.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

AGENT = "agent1-token-0001"
REVIEWER = "alice-token-0001"


def start(binary, db, tmp, name, workers=None):
    cfg = os.path.join(tmp, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(
            '[server]\nlisten = "127.0.0.1:0"\n'
            + (f"worker_threads = {workers}\n" if workers else "")
            +
            f'[[server.tokens]]\nname = "agent1"\nrole = "agent"\ntoken = "{AGENT}"\n'
            f'[[server.tokens]]\nname = "alice"\nrole = "reviewer"\ntoken = "{REVIEWER}"\n'
        )
    proc = subprocess.Popen(
        [binary, "serve", "--config", cfg, "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            host, port = line.strip().rsplit(" ", 1)[1].removeprefix("http://").rsplit(":", 1)
            return proc, (host, int(port))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    sys.exit(f"instance {name} did not start")


def client(addr, n, deadline, out, errors):
    conn = http.client.HTTPConnection(*addr, timeout=15)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ops, lat, i = 0, [], 0

    def call(method, path, token, body):
        t = time.perf_counter()
        conn.request(method, path, json.dumps(body), {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        })
        resp = conn.getresponse()
        data = resp.read()
        lat.append(time.perf_counter() - t)
        if resp.status not in (200, 201):
            raise RuntimeError(f"{method} {path}: {resp.status} {data[:200]!r}")
        return json.loads(data)

    try:
        while time.monotonic() < deadline:
            i += 1
            req = call("POST", "/v1/requests", AGENT, {
                "tool": f"bench.tool{i % 6}",
                "agent": f"bench-{n % 4}",
                "params": {"client": n, "i": i, "amount": i * 7 % 1000},
                "reason": "throughput from outside",
            })
            ops += 1
            call("POST", f"/v1/requests/{req['id']}/decision", REVIEWER, {
                "outcome": "approve",
                "args_hash": req["args_hash"],
            })
            ops += 1
    except Exception as e:  # noqa: BLE001 - any failure stops the run and is reported
        errors.append(str(e))
    out.append((ops, lat))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/assent")
    ap.add_argument("--db", required=True)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--worker-threads", type=int, default=None,
                    help="[server] worker_threads of each instance (default: one per core)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            a, addr_a = start(args.bin, os.path.join(tmp, "assent.db"), tmp, "a")
            b, addr_b = None, addr_a
        else:
            a, addr_a = start(args.bin, args.db, tmp, "a", args.worker_threads)
            b, addr_b = start(args.bin, args.db, tmp, "b", args.worker_threads)
        try:
            out, errors = [], []
            t0 = time.monotonic()
            deadline = t0 + args.seconds
            threads = [
                threading.Thread(
                    target=client,
                    args=((addr_a, addr_b)[n % 2], n, deadline, out, errors),
                )
                for n in range(args.clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=args.seconds + 30)
            took = time.monotonic() - t0
        finally:
            for p in (a, b):
                if p:
                    p.terminate()
            for p in (a, b):
                if p:
                    p.wait(timeout=10)
    if errors:
        sys.exit(f"{len(errors)} clients failed, first: {errors[0]}")
    ops = sum(o for o, _ in out)
    lat = sorted(x * 1000 for _, ls in out for x in ls)
    p50 = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, len(lat) * 99 // 100)]
    print(
        f"{args.clients} clients over {'one instance' if args.db == 'sqlite' else 'two instances'}, {took:.1f} s: {ops / took:.0f} "
        f"filings+decisions/s ({ops} calls; call p50 {p50:.2f} ms, p99 {p99:.2f} ms)"
    )


if __name__ == "__main__":
    main()
