"""Added latency of `assent mcp`, side by side: the same MCP server bare and behind the
gateway, in one process, with the official Python SDK's client (BENCHMARKS.md).

    bench.py CONFIG_JSON

CONFIG_JSON: {"bare": [CMD...], "gated": [CMD...], "tool": NAME, "arguments": {...},
              "n": CALLS, "warmup": CALLS}

Both sessions are opened first; then the calls alternate, bare then gated, one at a time,
each timed from just before `call_tool` to its result (time.perf_counter_ns), so that
both see the same machine at the same moments; then a `ping` on each side the same way
(a message the gate passes through unread, for the cost of the gate alone). Prints one
JSON object: for each, the percentiles of each side in microseconds, the difference of
the medians, and the percentiles of the paired differences (gated minus bare).
"""

import json
import os
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def percentiles(xs):
    xs = sorted(xs)
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))] / 1000.0
    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "min": xs[0] / 1000.0}


async def main(cfg):
    env = {k: v for k, v in os.environ.items() if k.startswith("ASSENT_")}
    bare_p = StdioServerParameters(command=cfg["bare"][0], args=cfg["bare"][1:], env=env)
    gated_p = StdioServerParameters(command=cfg["gated"][0], args=cfg["gated"][1:], env=env)
    async with stdio_client(bare_p) as (br, bw), stdio_client(gated_p) as (gr, gw):
        async with ClientSession(br, bw) as bare, ClientSession(gr, gw) as gated:
            await bare.initialize()
            await gated.initialize()
            await bare.list_tools()
            await gated.list_tools()
            tool, args = cfg["tool"], cfg["arguments"]

            async def timed(session):
                t0 = time.perf_counter_ns()
                r = await session.call_tool(tool, args)
                dt = time.perf_counter_ns() - t0
                if r.is_error:
                    raise SystemExit(f"the call failed: {r}")
                return dt

            async def pinged(session):
                t0 = time.perf_counter_ns()
                await session.send_ping()
                return time.perf_counter_ns() - t0

            for _ in range(cfg["warmup"]):
                await timed(bare)
                await timed(gated)
                await pinged(bare)
                await pinged(gated)
            b, g, pb, pg = [], [], [], []
            for _ in range(cfg["n"]):
                b.append(await timed(bare))
                g.append(await timed(gated))
                pb.append(await pinged(bare))
                pg.append(await pinged(gated))
    print(json.dumps({
        "calls": cfg["n"],
        "tool_call": side_by_side(b, g),
        "ping": side_by_side(pb, pg),
    }, indent=1))


def side_by_side(bare, gated):
    """Both sides' percentiles, the difference of their medians, and the percentiles of
    the paired differences (each gated call minus the bare call just before it)."""
    return {
        "bare_us": percentiles(bare),
        "gated_us": percentiles(gated),
        "added_p50_us": percentiles(gated)["p50"] - percentiles(bare)["p50"],
        "added_paired_us": percentiles([y - x for x, y in zip(bare, gated)]),
    }


if __name__ == "__main__":
    anyio.run(main, json.loads(sys.argv[1]))
    sys.stdout.flush()
    os._exit(0)
