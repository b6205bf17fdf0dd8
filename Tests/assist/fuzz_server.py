"""Fuzzes a running team server from outside, as ServerFuzzTests (Swift) runs it: every operation in its OpenAPI
document with schemathesis (coverage, fuzzing and stateful phases, seeded), then every MCP tool's JSON schema with a
seeded generator of hostile values (out-of-range and non-integral numbers, huge and control-character strings,
wrong types, missing and unknown keys, other tenants' project names) through the `mcp` SDK. After schemathesis and
after every MCP call the server must still answer /healthz. Prints one `fuzz:` line of counts per part and exits
non-zero with the reason on the first failure."""
import argparse
import json
import random
import subprocess
import sys

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--key", required=True, help="an admin key of the tenant that owns --project")
parser.add_argument("--project", required=True)
parser.add_argument("--schemathesis", required=True, help="the schemathesis command")
parser.add_argument("--examples", type=int, default=20, help="schemathesis --max-examples")
parser.add_argument("--calls", type=int, default=40, help="MCP calls per tool")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--report", help="a folder for schemathesis' JUnit report")
args = parser.parse_args()


def fail(message):
    print("FAIL: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def alive():
    try:
        status = httpx2.get(args.url + "/healthz", timeout=10).status_code
    except Exception as error:  # noqa: BLE001 - any failure to answer is the finding
        fail(f"the server no longer answers /healthz: {error!r}")
    if status != 200:
        fail(f"/healthz answered {status}")


def schemathesis():
    command = [
        args.schemathesis, "run", args.url + "/openapi.yaml", "-H", f"Authorization: Bearer {args.key}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance",
        "--max-examples", str(args.examples), "--seed", str(args.seed),
        # One worker: with two, hypothesis describes its filters from several threads at once, and CPython 3.11's
        # `ast.parse` is not safe for that ("AST constructor recursion depth mismatch", an error of the tool's own).
        "--workers", "1",
        "--phases", "coverage,fuzzing,stateful", "--no-color",
        # Revoking a key is the one operation left out: the stateful phase finds this key's id and revokes it, and
        # every later request is a 401 (ServerAPITests and DashboardTests cover revocation).
        "--exclude-path", "/v1/keys/{id}",
    ]
    if args.report:
        command += ["--report", "junit", "--report-dir", args.report]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    alive()
    if result.returncode != 0:
        fail("schemathesis found failures:\n" + output[-6000:])
    counts = next((line.strip() for line in output.splitlines() if " generated, " in line), "?")
    print(f"fuzz: schemathesis {counts} (seed {args.seed}, max {args.examples} examples per operation); server alive",
          flush=True)


HUGE = "x" * (1 << 20)


def hostile(schema, rng):
    """A value for a property of `schema` that a careless server would trip on."""
    numbers = [1e308, -1e308, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 0, -1, 51, 1.5, 1e-300, -0.0]
    strings = ["", HUGE, "\u0000", "\uffff\U0001F600", "../../../../etc/passwd", "--output=/tmp/ferry-fuzz", "' OR 1=1 --",
               "%s%n%x", "<script>alert(1)</script>", "\u202eevil", "a" * 70000, "ferry://tasks/../../x", "\n\r\t"]
    wrong = [None, True, [], {}, [1, 2], {"a": {"b": []}}, "7", 7, 7.5]
    kind = schema.get("type")
    pool = numbers + wrong if kind in ("integer", "number") else strings + wrong if kind == "string" else wrong + strings
    return rng.choice(pool)


def arguments(tool, rng, project):
    schema = tool.input_schema or {}
    properties = schema.get("properties", {})
    values = {}
    for name, spec in properties.items():
        roll = rng.random()
        if roll < 0.15:
            continue  # missing, required or not
        if name == "project" and roll < 0.6:
            values[name] = rng.choice([project, project, "nope", "other-tenant-project", "prj_" + "0" * 20])
        else:
            values[name] = hostile(spec, rng)
    if rng.random() < 0.2:
        values[rng.choice(["__proto__", "limit ", "x" * 300, "\u0000"])] = hostile({}, rng)
    return values


async def mcp():
    rng = random.Random(args.seed)
    headers = {"Authorization": f"Bearer {args.key}"}
    calls = errors = refused = 0
    async with create_mcp_http_client(headers=headers) as http, \
            streamable_http_client(args.url + "/mcp", http_client=http) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            for tool in tools:
                for _ in range(args.calls):
                    values = arguments(tool, rng, args.project)
                    try:
                        with anyio.fail_after(120):
                            result = await session.call_tool(tool.name, values)
                        errors += 1 if result.is_error else 0
                    except MCPError:
                        refused += 1  # a JSON-RPC error: the input was refused as a whole
                    except Exception as error:  # noqa: BLE001 - anything else is the transport failing
                        fail(f"{tool.name} {json.dumps(values)[:300]} broke the session: {error!r}")
                    calls += 1
                    alive()
    print(f"fuzz: MCP {calls} calls over {len(tools)} tools (seed {args.seed}): {errors} tool errors, "
          f"{refused} JSON-RPC errors, {calls - errors - refused} answered; server alive after each", flush=True)


alive()
anyio.run(mcp)
schemathesis()
print("fuzz: ok", flush=True)
