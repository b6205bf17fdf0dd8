"""Real clients of a team server's assistant surfaces: the official `openai` SDK against /v1/chat/completions
(streaming and not) and the `mcp` SDK over streamable HTTP at /mcp, both pinned in scripts/setup.sh. Run by
AssistServerTests (Swift) against a scripted model; exits non-zero with the reason on the first thing that is wrong."""
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
parser.add_argument("--key", required=True, help="a member key of the tenant that owns --project")
parser.add_argument("--other-key", required=True, help="a key of another tenant")
parser.add_argument("--project", required=True)
parser.add_argument("--repo", required=True, help="the project's checkout, to check citations against")
args = parser.parse_args()


def fail(message):
    print("FAIL: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def check_citations(citations, content):
    if not citations:
        fail(f"no citations in: {content}")
    for citation in citations:
        if not citation["valid"]:
            fail(f"a citation does not point at a real line: {citation}")
        lines = open(f"{args.repo}/{citation['path']}").read().split("\n")
        if citation["line"] > len(lines):
            fail(f"citation {citation} is past the end of the file")
    first = citations[0]
    line = open(f"{args.repo}/{first['path']}").read().split("\n")[first["line"] - 1]
    if "def add" not in line:
        fail(f"the citation {first} points at {line!r}, not at add()")


def chat():
    client = openai.OpenAI(base_url=args.url + "/v1", api_key=args.key, max_retries=0)
    models = [m.id for m in client.models.list()]
    if args.project not in models:
        fail(f"/v1/models does not list the project: {models}")

    reply = client.chat.completions.create(
        model=args.project, messages=[{"role": "user", "content": "Where is add defined?"}])
    content = reply.choices[0].message.content
    if "calc.py:1" not in content:
        fail(f"the answer cites nothing: {content}")
    if reply.usage is None or reply.usage.total_tokens <= 0:
        fail(f"no usage: {reply}")
    check_citations(reply.model_extra["citations"], content)
    print("ok: chat.completions without streaming, with checked citations", flush=True)

    stream = client.chat.completions.create(
        model=args.project, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "What does add do?"}, {"role": "assistant", "content": "It adds."},
                  {"role": "user", "content": "Where is add defined?"}])
    pieces, citations, usage = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
        if chunk.model_extra.get("citations") is not None:
            citations = chunk.model_extra["citations"]
    text = "".join(pieces)
    if "calc.py:1" not in text or usage is None:
        fail(f"the stream did not carry the answer and usage: {text!r} {usage}")
    check_citations(citations, text)
    print(f"ok: chat.completions streamed in {len(pieces)} pieces with usage and citations", flush=True)

    try:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
        fail("an unknown project was answered")
    except openai.NotFoundError:
        pass
    other = openai.OpenAI(base_url=args.url + "/v1", api_key=args.other_key, max_retries=0)
    try:
        other.chat.completions.create(model=args.project, messages=[{"role": "user", "content": "Where is add defined?"}])
        fail("another tenant's key was answered about this project")
    except openai.NotFoundError:
        pass
    try:
        openai.OpenAI(base_url=args.url + "/v1", api_key="wrong", max_retries=0).models.list()
        fail("a wrong key was accepted")
    except openai.AuthenticationError:
        pass
    print("ok: unknown project 404, another tenant's project 404, a wrong key 401", flush=True)


async def mcp_http():
    headers = {"Authorization": f"Bearer {args.key}"}
    async with create_mcp_http_client(headers=headers) as http, streamable_http_client(args.url + "/mcp", http_client=http) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            if "search_code" not in tools or "run_task" not in tools:
                fail(f"the HTTP MCP server lacks tools: {tools}")
            hits = await session.call_tool("search_code", {"query": "add", "project": args.project})
            if hits.is_error or not any(h["path"] == "calc.py" for h in hits.structured_content["results"]):
                fail(f"search_code over HTTP failed: {hits}")
            answer = await session.call_tool("ask", {"question": "Where is add defined?", "project": args.project})
            if answer.is_error or "calc.py:1" not in answer.structured_content["answer"]:
                fail(f"ask over HTTP failed: {answer}")
            missing = await session.call_tool("search_code", {"query": "add"})
            if not missing.is_error:
                fail("a tool call without its project was accepted")
    print("ok: MCP over HTTP with the tenant's key", flush=True)

    other = {"Authorization": f"Bearer {args.other_key}"}
    async with create_mcp_http_client(headers=other) as http, streamable_http_client(args.url + "/mcp", http_client=http) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            refused = await session.call_tool("search_code", {"query": "add", "project": args.project})
            if not refused.is_error or "no project" not in refused.content[0].text:
                fail(f"another tenant's key searched this project: {refused}")
            refused = await session.call_tool("run_task", {"task": "fix it", "project": args.project})
            if not refused.is_error:
                fail(f"another tenant's key started a task on this project: {refused}")
    print("ok: MCP over HTTP refuses another tenant's project", flush=True)

    async with httpx2.AsyncClient() as client:
        response = await client.post(args.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                     headers={"Accept": "application/json, text/event-stream"})
        if response.status_code != 401:
            fail(f"/mcp without a key answered {response.status_code}")
    print("ok: /mcp without a key is 401", flush=True)


chat()
anyio.run(mcp_http)
print("ok: all", flush=True)
