#!/usr/bin/env python3
"""The shape of the Swift sources: lines per module, the largest files, functions over 60 lines, unstructured tasks.

    python3 scripts/code-shape.py [ROOT] [--json]

Lines are physical lines (blank and comment lines included). A function is a `func`, `init` or `deinit` with a body,
measured from its declaration to its closing brace; braces inside string literals and comments are ignored.
An unstructured task is `Task {`, `Task(...) {` or `Task.detached` (task-group children are structured)."""
import json
import os
import re
import sys

root = "."
as_json = False
for arg in sys.argv[1:]:
    if arg == "--json":
        as_json = True
    else:
        root = arg

DECL = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|package|static|class|"
                  r"final|override|mutating|nonmutating|nonisolated|convenience|required|dynamic|isolated)\s+)*"
                  r"(func\s+[^\s(<]+|init[?!]?|deinit)\b")
UNSTRUCTURED = re.compile(r"(?<![\w.])Task(\s*\{|\.detached|\s*\(\s*priority)")


def code_only(lines):
    """Each line with string literals and comments blanked, so braces in them do not count."""
    out = []
    in_block = False
    in_multi = False
    for line in lines:
        result = []
        i = 0
        while i < len(line):
            if in_block:
                end = line.find("*/", i)
                if end < 0:
                    i = len(line)
                else:
                    in_block = False
                    i = end + 2
                continue
            if in_multi:
                end = line.find('"""', i)
                if end < 0:
                    i = len(line)
                else:
                    in_multi = False
                    i = end + 3
                continue
            if line.startswith("//", i):
                break
            if line.startswith("/*", i):
                in_block = True
                i += 2
                continue
            if line.startswith('"""', i):
                in_multi = True
                i += 3
                continue
            if line[i] == '"':
                j = i + 1
                while j < len(line) and line[j] != '"':
                    j += 2 if line[j] == "\\" else 1
                i = j + 1
                result.append('""')
                continue
            result.append(line[i])
            i += 1
        out.append("".join(result))
    return out


def functions(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    code = code_only(lines)
    found = []
    for n, line in enumerate(code):
        m = DECL.match(line)
        if not m:
            continue
        depth = 0
        opened = False
        for k in range(n, len(code)):
            text = code[k]
            if not opened and k > n and DECL.match(text):
                break  # a declaration without a body (a protocol requirement)
            for ch in text:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
            if opened and depth <= 0:
                found.append((m.group(1).replace("func ", ""), n + 1, k - n + 1))
                break
    return found, code


def module_of(rel):
    parts = rel.split(os.sep)
    return parts[1] if parts[0] == "Sources" and len(parts) > 2 else parts[0]


files = []
for base in ["Sources"]:
    for dirpath, _, names in os.walk(os.path.join(root, base)):
        for name in names:
            if name.endswith(".swift"):
                files.append(os.path.join(dirpath, name))

modules = {}
sizes = []
long_functions = []
tasks = []
for path in sorted(files):
    rel = os.path.relpath(path, root)
    with open(path, encoding="utf-8", errors="replace") as f:
        count = len(f.read().rstrip("\n").split("\n"))
    modules.setdefault(module_of(rel), [0, 0])
    modules[module_of(rel)][0] += count
    modules[module_of(rel)][1] += 1
    sizes.append((count, rel))
    found, code = functions(path)
    long_functions += [(length, rel, name, line) for name, line, length in found if length > 60]
    tasks += [(rel, i + 1) for i, line in enumerate(code) if UNSTRUCTURED.search(line)]

report = {
    "modules": {name: {"lines": v[0], "files": v[1]} for name, v in sorted(modules.items())},
    "total_lines": sum(v[0] for v in modules.values()),
    "largest_files": [{"lines": c, "file": f} for c, f in sorted(sizes, reverse=True)[:10]],
    "functions_over_60": [{"lines": n, "file": f, "function": name, "line": line}
                          for n, f, name, line in sorted(long_functions, reverse=True)],
    "unstructured_tasks": [f"{f}:{line}" for f, line in tasks],
}
if as_json:
    print(json.dumps(report, indent=1))
else:
    print(f"{report['total_lines']} lines in Sources/")
    for name, v in report["modules"].items():
        print(f"  {name:24} {v['lines']:6} lines {v['files']:4} files")
    print("largest files:")
    for entry in report["largest_files"]:
        print(f"  {entry['lines']:5} {entry['file']}")
    print(f"functions over 60 lines: {len(report['functions_over_60'])}")
    for entry in report["functions_over_60"]:
        print(f"  {entry['lines']:4} {entry['file']}:{entry['line']} {entry['function']}")
    print(f"unstructured tasks: {len(report['unstructured_tasks'])}")
    for entry in report["unstructured_tasks"]:
        print(f"  {entry}")
