#!/usr/bin/env python3
"""Event latency and filing time of a running `assent serve`, seen from outside.

An outside client (Python 3 standard library, raw sockets, TCP_NODELAY on every client
socket) that:

  1. optionally opens --idle N idle, unauthenticated sockets first (no bytes sent);
  2. opens GET /v1/events as the reviewer;
  3. files --count requests over kept-alive HTTP/1.1 sockets, --burst at a time (one per
     socket, sent together, so that each event after the first is written right behind
     the one before it), and for each measures the filing's round trip (send to
     response) and the event latency (send to the arrival of its `request.created`
     event on the stream), and how long after the filing's 201 the event came (the
     stream's own delay, apart from the filing's commit);
  4. with --idle, also files --count requests each on a new connection (connect, send,
     response), as a client arriving while the idle sockets are open would, and reports
     how many of the idle sockets the server still holds open.

Usage (BENCHMARKS.md, "Connections and event latency"):

  target/release/assent serve --config bench.toml &     # prints "assent: listening on URL"
  scripts/event_latency.py --url http://127.0.0.1:7878 \
      --agent-token AGENT --reviewer-token REVIEWER [--count 1000] [--burst 2] [--idle 5000]

Every loop is bounded in count and time; only the given URL is contacted.
"""

import argparse
import json
import selectors
import socket
import statistics
import sys
import time
import urllib.parse

TIMEOUT = 10.0  # seconds any one read may take before the run is declared failed


def connect(host, port):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request_bytes(method, path, host, token, body=None, close=False):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    data = b""
    if body is not None:
        data = json.dumps(body, separators=(",", ":")).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


class Responses:
    """HTTP/1.1 responses with a Content-Length body, parsed from a byte stream."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data

    def next(self):
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buf) < end + 4 + length:
            return None
        status = int(head.split(" ", 2)[1])
        body = self.buf[end + 4 : end + 4 + length]
        self.buf = self.buf[end + 4 + length :]
        return status, body


class Events:
    """Server-sent events (after the response head), parsed from a byte stream."""

    def __init__(self):
        self.buf = b""
        self.head_done = False

    def feed(self, data):
        self.buf += data
        out = []
        if not self.head_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return out
            status = self.buf.split(b" ", 2)[1]
            if status != b"200":
                sys.exit(f"GET /v1/events answered {status.decode()}: {self.buf[:300]!r}")
            self.buf = self.buf[end + 4 :]
            self.head_done = True
        # The body is chunked; SSE blocks end with a blank line, and a chunk never splits
        # the server's small events in practice, so chunk-size lines are skipped.
        while True:
            end = self.buf.find(b"\n\n")
            if end < 0:
                return out
            block, self.buf = self.buf[:end], self.buf[end + 2 :]
            name, data = None, []
            for line in block.decode("utf-8", "replace").split("\n"):
                line = line.rstrip("\r")
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
            if name and data:
                out.append((name, "\n".join(data)))


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(name, ms):
    return (
        f"{name}: n={len(ms)} p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
        f"max {max(ms):.2f} ms, mean {statistics.fmean(ms):.2f} ms"
    )


def still_open(socks):
    """How many of `socks` the server has not closed (EOF or reset)."""
    n = 0
    for s in socks:
        try:
            s.setblocking(False)
            if s.recv(1, socket.MSG_PEEK) == b"":
                continue
            n += 1  # bytes waiting: open (the server sends none to a silent socket)
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:7878")
    ap.add_argument("--agent-token", required=True)
    ap.add_argument("--reviewer-token", required=True)
    ap.add_argument("--count", type=int, default=1000, help="filings to time (default 1000)")
    ap.add_argument("--idle", type=int, default=0, help="idle sockets to open first")
    ap.add_argument("--gap-ms", type=float, default=2.0, help="pause between filings")
    ap.add_argument(
        "--burst", type=int, default=1, help="filings sent at once, each on its own socket"
    )
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port or 80
    hosthdr = f"{host}:{port}"

    idle = []
    if a.idle:
        t0 = time.perf_counter()
        for _ in range(a.idle):
            idle.append(connect(host, port))
        print(f"opened {len(idle)} idle sockets in {time.perf_counter() - t0:.2f} s", flush=True)
        time.sleep(0.5)

    stream = connect(host, port)
    stream.sendall(request_bytes("GET", "/v1/events", hosthdr, a.reviewer_token))
    events, responses = Events(), Responses()
    # The stream starts "now" once its head is sent: file before that and the first
    # event would be missed.
    while not events.head_done:
        data = stream.recv(65536)
        if not data:
            sys.exit("GET /v1/events: closed before its response")
        events.feed(data)
    filers = [connect(host, port) for _ in range(a.burst)]
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ, None)
    parsers = {}
    for f in filers:
        parsers[f.fileno()] = Responses()
        sel.register(f, selectors.EVENT_READ, parsers[f.fileno()])

    rtt, lat, behind = [], [], []
    run = f"{time.time_ns()}"
    for i in range(0, a.count, a.burst):
        # A burst: one filing on each socket at once, so each event after the first is
        # written behind the one before it.
        sent, resp_at, event_at, sock_of = {}, {}, {}, {}
        for j, f in enumerate(filers):
            nonce = f"{run}-{i + j}"
            body = {"tool": "bench.latency", "agent": "event-latency", "params": {"nonce": nonce}}
            sent[nonce] = time.perf_counter()
            f.sendall(request_bytes("POST", "/v1/requests", hosthdr, a.agent_token, body))
            resp_at[f.fileno()] = None
            sock_of[nonce] = f.fileno()
        while len(event_at) < len(sent) or None in resp_at.values():
            ready = sel.select(timeout=TIMEOUT)
            if not ready:
                sys.exit(f"filing {i}: nothing within {TIMEOUT} s")
            now = time.perf_counter()
            for key, _ in ready:
                data = key.fileobj.recv(65536)
                if not data:
                    sys.exit(f"filing {i}: the server closed a socket")
                if key.data is None:
                    for name, payload in events.feed(data):
                        if name != "request.created":
                            continue
                        nonce = json.loads(payload)["request"]["params"].get("nonce")
                        if nonce in sent:
                            event_at[nonce] = now
                    continue
                key.data.feed(data)
                r = key.data.next()
                if r is not None:
                    if r[0] != 201:
                        sys.exit(f"filing {i} answered {r[0]}: {r[1][:300]!r}")
                    resp_at[key.fileobj.fileno()] = now
        first = min(sent.values())
        rtt += [(t - first) * 1000 for t in resp_at.values()]
        lat += [(event_at[n] - sent[n]) * 1000 for n in sent]
        behind += [(event_at[n] - resp_at[sock_of[n]]) * 1000 for n in sent]
        time.sleep(a.gap_ms / 1000)

    print(summary("filing round trip (kept-alive sockets)", rtt))
    print(summary("filing sent -> request.created received", lat))
    # The stream's own delay, apart from the filing's (fsync included): the event is
    # written just before the 201, so this is about 0 unless the event was held back.
    print(summary("request.created received - its 201 received", behind))

    if a.idle:
        fresh = []
        for i in range(min(a.count, 200)):
            body = {"tool": "bench.latency", "agent": "event-latency", "params": {"fresh": i}}
            t0 = time.perf_counter()
            s = connect(host, port)
            s.sendall(request_bytes("POST", "/v1/requests", hosthdr, a.agent_token, body, close=True))
            rs = Responses()
            while (r := rs.next()) is None:
                data = s.recv(65536)
                if not data:
                    sys.exit(f"fresh filing {i}: closed before the response")
                rs.feed(data)
            if r[0] != 201:
                sys.exit(f"fresh filing {i} answered {r[0]}: {r[1][:300]!r}")
            fresh.append((time.perf_counter() - t0) * 1000)
            s.close()
        print(summary(f"filing on a new connection with {a.idle} idle sockets opened", fresh))
        print(f"idle sockets the server still holds open: {still_open(idle)} of {len(idle)}")


if __name__ == "__main__":
    main()
