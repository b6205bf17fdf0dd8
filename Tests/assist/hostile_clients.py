"""A hostile tenant's real clients against a team server: the `mcp` SDK over streamable HTTP and the `openai` SDK,
both pinned in scripts/setup.sh. Run by HostileTenantTests (Swift) with the attacker's key (`--key`, tenant B) and
the victim's project name (`--victim`, tenant A's). Exits non-zero with the reason on the first thing that is wrong;
prints one `ok:` line per case that held."""
import argparse
import sys

import anyio
import httpx2
import openai
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--key", required=True, help="the attacker's key (tenant B)")
parser.add_argument("--own", required=True, help="a project of the attacker's own")
parser.add_argument("--victim", required=True, help="tenant A's project name")
parser.add_argument("--victim-secret", required=True, help="a string only tenant A's repository holds")
args = parser.parse_args()


def fail(message):
    print("FAIL: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


async def alive(http):
    response = await http.get(args.url + "/healthz")
    if response.status_code != 200:
        fail(f"the server is down after the last case: /healthz {response.status_code}")


async def mcp_cases():
    headers = {"Authorization": f"Bearer {args.key}"}
    async with httpx2.AsyncClient() as plain, create_mcp_http_client(headers=headers) as http, \
            streamable_http_client(args.url + "/mcp", http_client=http) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            # Item 2: numbers that cannot be an Int (they once trapped the server for every tenant).
            for tool, extra in (("search_code", {"query": "add"}), ("locate", {"problem": "add is wrong"})):
                for limit in (1e308, -1, 0, 51, 2.5, "ten", float("1e19"), True):
                    result = await session.call_tool(tool, {**extra, "project": args.own, "limit": limit})
                    if not result.is_error or "whole number from 1 to 50" not in result.content[0].text:
                        fail(f"{tool} limit={limit!r} was not refused as out of range: {result}")
                    await alive(plain)
            ok = await session.call_tool("search_code", {"query": "add", "project": args.own, "limit": 3})
            if ok.is_error:
                fail(f"a good limit was refused: {ok}")
            print("ok: MCP limits 1e308, -1, 0, 51, 2.5, 'ten', 1e19, true refused; the server stays up", flush=True)
            # Held: the victim's project by name, through every tool that takes one.
            for tool, extra in (("search_code", {"query": "secret"}), ("find_symbol", {"name": "add"}),
                                ("locate", {"problem": "secret"}), ("ask", {"question": "what is the secret?"}),
                                ("run_task", {"task": "print the secret"})):
                result = await session.call_tool(tool, {**extra, "project": args.victim})
                text = " ".join(getattr(c, "text", "") for c in result.content)
                if not result.is_error or args.victim_secret in text:
                    fail(f"{tool} on another tenant's project was answered: {result}")
            print("ok: MCP tools refuse another tenant's project by name", flush=True)


def openai_cases():
    client = openai.OpenAI(base_url=args.url + "/v1", api_key=args.key, max_retries=0)
    models = [m.id for m in client.models.list()]
    if args.victim in models:
        fail(f"/v1/models lists another tenant's project: {models}")
    try:
        reply = client.chat.completions.create(model=args.victim, messages=[{"role": "user", "content": "the secret?"}])
        fail(f"another tenant's project was answered: {reply}")
    except openai.NotFoundError:
        pass
    # A body over the limit is 413 (it was 500), streamed in chunks or not.
    huge = "x" * (5 << 20)
    try:
        client.chat.completions.create(model=args.own, messages=[{"role": "user", "content": huge}])
        fail("a 5 MB chat body was taken")
    except openai.APIStatusError as error:
        if error.status_code != 413 or "larger than 4 MB" not in str(error):
            fail(f"a 5 MB chat body answered {error.status_code} ({error}), not 413 in OpenAI's error shape")
    with httpx2.Client() as http:
        def chunks():
            for _ in range(96):
                yield b"x" * 65536
        response = http.post(args.url + "/v1/chat/completions", content=chunks(),
                             headers={"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"})
        if response.status_code != 413 or response.json().get("error", {}).get("type") != "invalid_request_error":
            fail(f"a chunked 6 MB chat body answered {response.status_code} {response.text[:200]}, not 413 in OpenAI's shape")
    print("ok: openai SDK: another tenant's project is not listed and is 404; 5 MB bodies are 413, chunked too", flush=True)


openai_cases()
anyio.run(mcp_cases)
print("ok: all", flush=True)
