"""A real MCP client (the `mcp` SDK from PyPI, pinned in scripts/setup.sh) drives `ferry mcp` over stdio on a fixture
repository: it lists the tools and their schemas, calls every one, receives progress while `ask` streams, reads the
resources, abandons a hanging `ask` (the SDK sends notifications/cancelled) and cancels a running task. Run by
McpTests (Swift) against a scripted model; exits non-zero with the reason on the first thing that is wrong."""
import argparse
import json
import os
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

parser = argparse.ArgumentParser()
parser.add_argument("--ferry", required=True)
parser.add_argument("--repo", required=True)
args = parser.parse_args()


def fail(message):
    print("FAIL: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def structured(result, tool):
    if result.is_error:
        fail(f"{tool} failed: {result.content}")
    if not isinstance(result.structured_content, dict):
        fail(f"{tool} returned no structured content: {result}")
    return result.structured_content


async def wait_for(session, task_id, statuses, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = structured(await session.call_tool("task_status", {"id": task_id}), "task_status")
        if status["status"] in statuses:
            return status
        await anyio.sleep(0.3)
    fail(f"task {task_id} did not reach {statuses}: {status}")


async def main():
    server = StdioServerParameters(command=args.ferry, args=["mcp", "--repo", args.repo, "--model", "fake"], env=dict(os.environ))
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            info = await session.initialize()
            if info.server_info.name != "ferry":
                fail(f"the server calls itself {info.server_info.name}")
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            expected = {"search_code", "find_symbol", "locate", "ask", "run_task", "task_status", "task_result", "cancel_task"}
            if set(tools) != expected:
                fail(f"tools {sorted(tools)} are not {sorted(expected)}")
            for tool in tools.values():
                schema = tool.input_schema
                if schema.get("type") != "object" or not schema.get("required"):
                    fail(f"{tool.name} has no usable input schema: {schema}")
            print("ok: 8 tools with schemas", flush=True)

            # Bad input is a tool error, not a crash.
            bad = await session.call_tool("search_code", {"query": ""})
            if not bad.is_error:
                fail("an empty query was not refused")

            hits = structured(await session.call_tool("search_code", {"query": "add numbers"}), "search_code")["results"]
            if not any(h["path"] == "calc.py" and h["startLine"] == 1 and "def add" in h["text"] for h in hits):
                fail(f"search_code did not find add(): {hits}")
            symbol = structured(await session.call_tool("find_symbol", {"name": "add"}), "find_symbol")
            if not any(d["path"] == "calc.py" and d["line"] == 1 for d in symbol["definitions"]):
                fail(f"find_symbol did not find add at calc.py:1: {symbol}")
            files = structured(await session.call_tool("locate", {"problem": "add() returns the wrong sum"}), "locate")["files"]
            if not files or files[0]["path"] != "calc.py":
                fail(f"locate did not rank calc.py first: {files}")
            print("ok: search_code, find_symbol, locate", flush=True)

            progress = []

            async def on_progress(value, total, message):
                progress.append(message)

            answer = structured(await session.call_tool(
                "ask", {"question": "Where is add defined?"}, progress_callback=on_progress), "ask")
            if "calc.py:1" not in answer["answer"]:
                fail(f"the answer has no citation: {answer}")
            if not any(c["path"] == "calc.py" and c["line"] == 1 and c["valid"] for c in answer["citations"]):
                fail(f"the citation was not checked against the file: {answer['citations']}")
            if len(progress) < 2 or not progress[0].startswith("read "):
                fail(f"no progress while the answer streamed: {progress}")
            print(f"ok: ask answered with a checked citation after {len(progress)} progress notifications", flush=True)

            resources = (await session.list_resources()).resources
            if not any(str(r.uri) == "ferry://repo-map" for r in resources):
                fail(f"no repo-map resource: {resources}")
            repo_map = (await session.read_resource("ferry://repo-map")).contents[0].text
            if "calc.py" not in repo_map:
                fail(f"the repo map does not show calc.py: {repo_map}")
            templates = (await session.list_resource_templates()).resource_templates
            if not any(t.uri_template == "ferry://tasks/{id}/trace" for t in templates):
                fail(f"no trace template: {templates}")
            print("ok: resources", flush=True)

            # A call the client abandons: the SDK sends notifications/cancelled and the server stops the answer.
            started = time.monotonic()
            with anyio.move_on_after(3):
                await session.call_tool("ask", {"question": "this question hangs"})
                fail("the hanging question was answered")
            if time.monotonic() - started > 10:
                fail("abandoning the call took too long")
            # The session still works after the cancellation.
            await session.list_tools()
            print("ok: an abandoned call was cancelled and the session goes on", flush=True)

            started = structured(await session.call_tool("run_task", {"task": "add() returns the wrong sum; fix it"}), "run_task")
            task_id = started["id"]
            if started["status"] not in ("queued", "running"):
                fail(f"run_task did not return at once: {started}")
            done = await wait_for(session, task_id, {"verified", "unverified", "failed", "limit", "interrupted"})
            if done["status"] != "verified":
                fail(f"the task ended {done}")
            result = structured(await session.call_tool("task_result", {"id": task_id}), "task_result")
            if "+    return a + b" not in result["diff"] or not result["branch"].startswith("ferry/"):
                fail(f"task_result has no diff or branch: {json.dumps(result)[:2000]}")
            if result["tests"]["final"] is None or "cost_usd" not in result:
                fail(f"task_result has no evidence or cost: {json.dumps(result)[:2000]}")
            trace = (await session.read_resource(f"ferry://tasks/{task_id}/trace")).contents[0].text
            if len(trace.splitlines()) < 3 or "model" not in trace:
                fail(f"the trace resource is empty: {trace[:500]}")
            print(f"ok: run_task {task_id} verified with its diff, evidence and trace", flush=True)

            hanging = structured(await session.call_tool("run_task", {"task": "this one hangs; cancel it"}), "run_task")["id"]
            await wait_for(session, hanging, {"running"})
            await anyio.sleep(1)
            cancelled = structured(await session.call_tool("cancel_task", {"id": hanging}), "cancel_task")
            if cancelled["status"] != "interrupted":
                fail(f"the cancelled task is {cancelled}")
            missing = await session.call_tool("task_status", {"id": "nope"})
            if not missing.is_error:
                fail("an unknown task id was not an error")
            print("ok: cancel_task stopped a running task", flush=True)


anyio.run(main)
print("ok: all", flush=True)
