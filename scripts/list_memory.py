#!/usr/bin/env python3
"""Server memory while four clients list requests with large params (issue 11, point 3).

Starts a release `assent serve` on a temporary SQLite file, files N requests of about
1 MiB of params each through the HTTP API, then measures the server's resident memory
(VmRSS sampled every 10 ms, and VmHWM after resetting it) while:

  one-page  four concurrent `curl` of GET /v1/requests?limit=1000 (one page each);
  paged     four concurrent clients paging through every request (following next_cursor);
  left-out  four concurrent lists with params_max_bytes=1024 (one page of everything).

Usage:
  scripts/list_memory.py                 # builds target/release/assent first
  scripts/list_memory.py --bin PATH      # measures that binary (e.g. an older build)
  scripts/list_memory.py --requests 100  # a quicker run

The database goes in --dir (default: a temporary directory under $TMPDIR); it needs about
2 bytes of disk per byte of params (each request is also in the event log). Linux only
(/proc). Everything listens on 127.0.0.1 and stops by itself.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

AGENT = "list-memory-agent-token"
REVIEWER = "list-memory-reviewer-token"
MIB = 1024 * 1024


def build(root):
    subprocess.run(
        ["cargo", "build", "--release", "--bin", "assent"], cwd=root, check=True
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    return os.path.join(target, "release", "assent")


def write_config(dir):
    path = os.path.join(dir, "assent.toml")
    with open(path, "w") as f:
        f.write(
            "[server]\n"
            # A filing carries 1 MiB of params plus the envelope.
            f"max_body_bytes = {2 * MIB}\n"
            'sqlite_synchronous = "normal"\n'
            f'\n[[server.tokens]]\nname = "agent"\nrole = "agent"\ntoken = "{AGENT}"\n'
            f'\n[[server.tokens]]\nname = "alice"\nrole = "reviewer"\ntoken = "{REVIEWER}"\n'
        )
    return path


def start(bin, config, db, log):
    proc = subprocess.Popen(
        [bin, "--config", config, "serve", "--listen", "127.0.0.1:0", "--db", db],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "ASSENT_LOG": "warn"},
    )
    line = proc.stdout.readline()
    prefix = "assent: listening on "
    if not line.startswith(prefix):
        proc.kill()
        sys.exit(f"the server did not start: {line!r}")
    return proc, line[len(prefix):].strip()


def call(url, token, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=300) as resp:
        return resp.status, resp.read()


def seed(url, n, params_bytes):
    blob = "x" * (params_bytes - len('{"blob":""}'))

    def one(i):
        body = {"tool": "files.upload", "agent": "uploader", "params": {"blob": blob},
                "tool_call_id": f"upload-{i}"}
        status, _ = call(f"{url}/v1/requests", AGENT, "POST", body)
        assert status in (200, 201), status

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(n)))


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """The largest VmRSS seen every 10 ms, and VmHWM since the last reset."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        # 5: reset the peak resident set size to the current one (Linux >= 4.0).
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")
        self.start = proc_status(self.pid, "VmRSS")
        self.peak = self.start
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()
        return self

    def run(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, proc_status(self.pid, "VmRSS"))

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.hwm = proc_status(self.pid, "VmHWM")


def curl_lists(url, clients):
    procs = [
        subprocess.Popen(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
             "-H", f"Authorization: Bearer {REVIEWER}", f"{url}/v1/requests?limit=1000"],
            stdout=subprocess.PIPE, text=True)
        for _ in range(clients)
    ]
    return [int(p.communicate()[0] or 0) for p in procs]


def page_through(url, query):
    got, size, cursor = 0, 0, None
    while True:
        path = f"{url}/v1/requests?limit=1000{query}"
        if cursor:
            path += f"&cursor={cursor}"
        _, body = call(path, REVIEWER)
        size += len(body)
        page = json.loads(body)
        got += len(page["requests"])
        cursor = page.get("next_cursor")
        if not cursor:
            return got, size


def concurrently(clients, f):
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda _: f(), range(clients)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", help="the assent binary (default: build target/release/assent)")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--params-bytes", type=int, default=MIB)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--dir", help="where the database goes (default: a temporary directory)")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bin = a.bin or build(root)
    dir = tempfile.mkdtemp(prefix="assent-list-memory-", dir=a.dir)
    log = open(os.path.join(dir, "serve.log"), "w")
    proc, url = start(bin, write_config(dir), os.path.join(dir, "assent.db"), log)
    try:
        t = time.monotonic()
        seed(url, a.requests, a.params_bytes)
        print(f"seeded {a.requests} requests of {a.params_bytes} bytes of params "
              f"in {time.monotonic() - t:.1f} s; server RSS "
              f"{proc_status(proc.pid, 'VmRSS') / MIB:.0f} MiB", flush=True)
        rows = []
        with Sampler(proc.pid) as s:
            sizes = curl_lists(url, a.clients)
        rows.append(("one-page", f"{a.clients} x curl ?limit=1000", s,
                     f"{sum(sizes) / MIB / len(sizes):.1f} MiB each"))
        for name, query in (("paged", ""), ("left-out", "&params_max_bytes=1024")):
            try:
                with Sampler(proc.pid) as s:
                    got = concurrently(a.clients, lambda: page_through(url, query))
            except urllib.error.HTTPError as e:
                # A server before issue 11 has no params_max_bytes.
                print(f"{name}: refused with HTTP {e.code}", flush=True)
                continue
            counts = {n for n, _ in got}
            assert counts == {a.requests}, f"{name}: listed {counts}, not {a.requests}"
            what = f"{a.clients} clients paging" + (f" with {query[1:]}" if query else "")
            rows.append((name, what, s, f"{got[0][1] / MIB:.1f} MiB each, all {a.requests}"))
        print(f"\n| scenario | what | server RSS before | peak RSS (sampled) | VmHWM | transferred |")
        print("|---|---|---|---|---|---|")
        for name, what, s, moved in rows:
            print(f"| {name} | {what} | {s.start / MIB:.0f} MiB | {s.peak / MIB:.0f} MiB "
                  f"| {s.hwm / MIB:.0f} MiB | {moved} |")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(dir, ignore_errors=True)


if __name__ == "__main__":
    main()
