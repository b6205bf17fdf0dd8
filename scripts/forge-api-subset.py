#!/usr/bin/env python3
"""Cuts the operations Ferry calls out of a forge's published API description, with every component they refer to,
so the forge stand-ins in Tests/FerryForgeTests check requests and responses against the forge's own schemas.

    scripts/forge-api-subset.py DESCRIPTION.json OUT.json 'post /app/installations/{installation_id}/access_tokens' ...

Descriptions and examples are dropped (the checks read schemas only); everything else is kept as published.
"""
import json
import sys

source, out, *wanted = sys.argv[1:]
doc = json.load(open(source))
subset = {k: doc[k] for k in ("openapi", "swagger", "info") if k in doc}
subset["paths"] = {}
for item in wanted:
    method, path = item.split(" ", 1)
    subset["paths"].setdefault(path, {})[method] = doc["paths"][path][method]


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in ("description", "examples", "example", "x-github")}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


subset["paths"] = strip(subset["paths"])
components = {}
pending = [subset["paths"]]
while pending:
    node = pending.pop()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            parts = ref[2:].split("/")
            target = doc
            for part in parts:
                target = target[part]
            place = components
            for part in parts[:-1]:
                place = place.setdefault(part, {})
            if parts[-1] not in place:
                place[parts[-1]] = strip(target)
                pending.append(place[parts[-1]])
        pending.extend(node.values())
    elif isinstance(node, list):
        pending.extend(node)
subset.update(components)
json.dump(subset, open(out, "w"), indent=1, sort_keys=True)
print(out, len(json.dumps(subset)), "bytes,", sum(len(v) for v in subset["paths"].values()), "operations")
