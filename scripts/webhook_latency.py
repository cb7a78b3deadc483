#!/usr/bin/env python3
"""Filing → webhook received, seen from outside the project.

An outside client and an outside receiver, both Python 3 standard library:

  * the receiver is `http.server` on 127.0.0.1; it checks each delivery's Standard
    Webhooks signature itself (HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}"
    with the base64 key of the `whsec_` secret), records when it arrived, answers 204;
  * the filer is `http.client` over one kept-alive socket with TCP_NODELAY; each filing is
    timed from just before its POST to the moment the receiver has its delivery (an upper
    bound of commit → received: it includes the filing's own round trip).

It starts `assent serve` itself (on a temporary SQLite file, with one webhook to the
receiver) and stops it at the end.

Usage (BENCHMARKS.md, "Webhooks"):

  scripts/webhook_latency.py --bin target/release/assent [--count 500] [--gap-ms 5]

Every loop is bounded in count and time; only 127.0.0.1 is contacted.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
AGENT = "agent1-token-0001"
REVIEWER = "alice-token-0001"
WAIT = 30.0  # seconds the deliveries may take to arrive, all told


class Receiver(http.server.BaseHTTPRequestHandler):
    seen = {}
    bad = 0
    lock = threading.Lock()
    key = base64.b64decode(SECRET.removeprefix("whsec_"))

    def do_POST(self):
        at = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        wid = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        signed = f"{wid}.{ts}.".encode() + body
        want = base64.b64encode(hmac.new(self.key, signed, hashlib.sha256).digest()).decode()
        sigs = [s.partition(",")[2] for s in self.headers.get("webhook-signature", "").split()]
        ok = any(hmac.compare_digest(want, s) for s in sigs)
        rid = json.loads(body).get("data", {}).get("request", {}).get("id")
        with Receiver.lock:
            if not ok:
                Receiver.bad += 1
            elif rid:
                Receiver.seen.setdefault(rid, at)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def start_server(binary, hook_url, tmp):
    secret = os.path.join(tmp, "hook.secret")
    with open(secret, "w") as f:
        f.write(SECRET)
    cfg = os.path.join(tmp, "assent.toml")
    with open(cfg, "w") as f:
        f.write(
            f'[server]\nlisten = "127.0.0.1:0"\ndb = "{tmp}/assent.db"\n'
            f'[[server.tokens]]\nname = "agent1"\nrole = "agent"\ntoken = "{AGENT}"\n'
            f'[[server.tokens]]\nname = "alice"\nrole = "reviewer"\ntoken = "{REVIEWER}"\n'
            f'[[notify.webhooks]]\nname = "outside"\nurl = "{hook_url}"\n'
            f'secret_file = "{secret}"\n'
        )
    proc = subprocess.Popen(
        [binary, "serve", "--config", cfg],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            return proc, line.strip().rsplit(" ", 1)[1]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    sys.exit("assent serve did not start")


def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/assent")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--gap-ms", type=float, default=5.0)
    args = ap.parse_args()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(args.bin, hook_url, tmp)
        try:
            host, port = url.removeprefix("http://").rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sent = {}
            for i in range(args.count):
                body = json.dumps({
                    "tool": "order_tools.process_refund",
                    "agent": "bench",
                    "params": {"order_id": f"W-{i}", "amount": i},
                })
                t = time.perf_counter()
                conn.request("POST", "/v1/requests", body, {
                    "Authorization": f"Bearer {AGENT}",
                    "Content-Type": "application/json",
                })
                resp = conn.getresponse()
                answer = json.loads(resp.read())
                if resp.status != 201:
                    sys.exit(f"filing {i}: {resp.status} {answer}")
                sent[answer["id"]] = t
                time.sleep(args.gap_ms / 1000)
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                with Receiver.lock:
                    if all(k in Receiver.seen for k in sent):
                        break
                time.sleep(0.02)
            with Receiver.lock:
                got = {k: Receiver.seen[k] - t for k, t in sent.items() if k in Receiver.seen}
                bad = Receiver.bad
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            httpd.shutdown()
    ms = sorted(v * 1000 for v in got.values())
    if len(ms) < len(sent):
        sys.exit(f"only {len(ms)} of {len(sent)} deliveries arrived within {WAIT:.0f} s")
    print(f"deliveries: {len(ms)} of {len(sent)}, signatures that failed: {bad}")
    print(
        f"filing sent -> webhook received: p50 {statistics.median(ms):.2f} ms, "
        f"p99 {pct(ms, 99):.2f} ms, max {ms[-1]:.2f} ms"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
