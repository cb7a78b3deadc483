"""A real MCP client for tests/mcp.rs: the official Python SDK (`mcp`), remote-controlled.

    client.py COMMAND ARGS...

Starts COMMAND as an MCP server over stdio with `mcp.client.stdio.stdio_client`, initializes
a `ClientSession`, prints {"op": "ready", ...}, then takes one JSON command a line on stdin
and prints one JSON event a line on stdout (stderr is the server's, and this script's own
errors). The environment's ASSENT_* variables are passed to the server (the SDK passes only
a safe few by default).

Commands, each answered by an event with the same "op" (and "tag", where given):
    {"op": "list"}                                   -> {"tools": [...]}
    {"op": "call", "tag": T, "name": N, "arguments": {...}, "progress": bool}
        -> later {"op": "result", "tag": T, "result": {...}, "progress": [...]}
           or   {"op": "error", "tag": T, "error": "..."}
    {"op": "cancel", "tag": T}  cancels call T: the SDK sends notifications/cancelled
        -> {"op": "cancelled", "tag": T}
    {"op": "resources"}, {"op": "read", "uri": U}, {"op": "prompts"},
    {"op": "prompt", "name": N, "arguments": {...}}  -> the SDK's result, as JSON
    {"op": "quit"}                                   -> exits 0
Every wait is bounded by the caller (tests/mcp.rs), which kills this process when done.
"""

import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def dump(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def call(session, cmd, scopes):
    tag = cmd["tag"]
    progress = []

    async def on_progress(value, total, message):
        progress.append({"progress": value, "total": total, "message": message})

    with anyio.CancelScope() as scope:
        scopes[tag] = scope
        try:
            result = await session.call_tool(
                cmd["name"],
                cmd.get("arguments"),
                progress_callback=on_progress if cmd.get("progress") else None,
            )
            emit({"op": "result", "tag": tag, "result": dump(result), "progress": progress})
        except Exception as e:  # an MCP error answer, or the connection lost
            emit({"op": "error", "tag": tag, "error": f"{type(e).__name__}: {e}"})
    if scope.cancelled_caught:
        emit({"op": "cancelled", "tag": tag})
    scopes.pop(tag, None)


async def main(argv):
    env = {k: v for k, v in os.environ.items() if k.startswith("ASSENT_")}
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            emit({"op": "ready", "server": dump(init.server_info), "protocol": init.protocol_version})
            scopes = {}
            async with anyio.create_task_group() as tg:
                while True:
                    line = await anyio.to_thread.run_sync(sys.stdin.readline)
                    if not line:
                        break
                    cmd = json.loads(line)
                    op = cmd["op"]
                    if op == "quit":
                        break
                    try:
                        await dispatch(session, cmd, scopes, tg)
                    except Exception as e:
                        emit({"op": op, "error": f"{type(e).__name__}: {e}"})
                tg.cancel_scope.cancel()


async def dispatch(session, cmd, scopes, tg):
    op = cmd["op"]
    if op == "call":
        tg.start_soon(call, session, cmd, scopes)
    elif op == "cancel":
        scope = scopes.get(cmd["tag"])
        if scope is not None:
            scope.cancel()
    elif op == "list":
        tools = await session.list_tools()
        emit({"op": "list", "tools": [dump(t) for t in tools.tools]})
    elif op == "resources":
        emit({"op": "resources", "result": dump(await session.list_resources())})
    elif op == "read":
        emit({"op": "read", "result": dump(await session.read_resource(cmd["uri"]))})
    elif op == "prompts":
        emit({"op": "prompts", "result": dump(await session.list_prompts())})
    elif op == "prompt":
        result = await session.get_prompt(cmd["name"], cmd.get("arguments"))
        emit({"op": "prompt", "result": dump(result)})
    else:
        emit({"op": "unknown", "command": cmd})


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
    # The SDK's reader thread may still sit in a read of our stdin: do not wait for it.
    sys.stdout.flush()
    os._exit(0)
