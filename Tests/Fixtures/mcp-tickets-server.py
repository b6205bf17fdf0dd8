#!/usr/bin/env python3
"""A stdio MCP server for tests, on the standard library only (it runs inside the sandbox, where no venv is seen).
Tools: lookup_ticket (a canned ticket text), probe (who and where the server runs, and whether a host path is
visible), fail (always an error). Newline-delimited JSON-RPC 2.0 on stdin/stdout."""
import json
import os
import sys

TOOLS = [
    {"name": "lookup_ticket", "description": "Read a ticket from the tracker.",
     "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
    {"name": "probe", "description": "Report the server's uid and working directory, and whether a path exists.",
     "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}},
    {"name": "fail", "description": "Always fails.", "inputSchema": {"type": "object", "properties": {}}},
]


def reply(message_id, result=None, error=None):
    message = {"jsonrpc": "2.0", "id": message_id}
    if error is not None:
        message["error"] = error
    else:
        message["result"] = result
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    if not line.strip():
        continue
    request = json.loads(line)
    method, message_id, params = request.get("method"), request.get("id"), request.get("params") or {}
    if message_id is None:
        continue  # a notification
    if method == "initialize":
        reply(message_id, {"protocolVersion": params.get("protocolVersion", "2025-06-18"), "capabilities": {"tools": {}},
                           "serverInfo": {"name": "tickets", "version": "1"}})
    elif method == "tools/list":
        reply(message_id, {"tools": TOOLS})
    elif method == "tools/call":
        name, arguments = params.get("name"), params.get("arguments") or {}
        if name == "lookup_ticket":
            text = f"{arguments.get('id')}: add() must return the sum of its arguments, not their difference."
            reply(message_id, {"content": [{"type": "text", "text": text}], "isError": False})
        elif name == "probe":
            path = arguments.get("path", "")
            text = f"uid={os.getuid()} cwd={os.getcwd()} exists={os.path.exists(path)}"
            reply(message_id, {"content": [{"type": "text", "text": text}], "isError": False})
        elif name == "fail":
            reply(message_id, {"content": [{"type": "text", "text": "the tracker is down"}], "isError": True})
        else:
            reply(message_id, error={"code": -32602, "message": f"no tool {name}"})
    elif method == "ping":
        reply(message_id, {})
    else:
        reply(message_id, error={"code": -32601, "message": f"no method {method}"})
