"""`ferry mcp --server URL --project NAME` through the real MCP SDK over stdio: run_task hands the task to the team
server with the key `ferry login` kept. Prints the tool's structured result as JSON; exits non-zero on an error."""
import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main():
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("run_task", {"task": "add() returns the wrong sum; fix it"})
            if result.is_error:
                print("FAIL: " + json.dumps([c.model_dump() for c in result.content]), file=sys.stderr)
                sys.exit(1)
            print(json.dumps(result.structured_content), flush=True)


anyio.run(main)
