import FerryCore
import FerryModels
import Testing

@Suite struct TextProtocolTests {
    func expectCall(
        _ reply: String, _ name: String, _ args: JSONValue, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(TextToolProtocol.parse(reply) == .call(name: name, arguments: args), sourceLocation: sourceLocation)
    }

    @Test func fencedJSON() {
        expectCall(
            "I'll read it.\n```json\n{\"tool\": \"read_file\", \"args\": {\"path\": \"a.py\"}}\n```", "read_file",
            ["path": "a.py"])
    }

    @Test func nameAndArgumentsKeys() {
        expectCall(
            "```json\n{\"name\": \"search\", \"arguments\": {\"pattern\": \"x\"}}\n```", "search", ["pattern": "x"])
    }

    @Test func qwenToolCallTags() {
        expectCall(
            "<tool_call>\n{\"name\": \"finish\", \"arguments\": {\"summary\": \"done\"}}\n</tool_call>", "finish",
            ["summary": "done"])
    }

    @Test func qwenToolCallWithoutClosingTag() {
        expectCall(
            "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}", "read_file", ["path": "a"])
    }

    @Test func argumentsAsAJSONString() {
        expectCall(
            "<tool_call>{\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\": \\\"a\\\"}\"}</tool_call>",
            "read_file", ["path": "a"])
    }

    @Test func bashBlockIsAShellCall() {
        expectCall("Run the tests:\n```bash\npython3 -m pytest -q\n```", "shell", ["command": "python3 -m pytest -q"])
    }

    @Test func unclosedFenceRunsToTheEnd() {
        expectCall("```bash\nls -la", "shell", ["command": "ls -la"])
    }

    @Test func truncatedJSONIsClosed() {
        expectCall("```json\n{\"tool\": \"read_file\", \"args\": {\"path\": \"a.py\"", "read_file", ["path": "a.py"])
    }

    @Test func trailingTextAfterTheObject() {
        expectCall("```json\n{\"tool\": \"list_files\", \"args\": {}} and then more\n```", "list_files", [:])
    }

    @Test func jsonWinsOverAnExampleShellBlock() {
        expectCall(
            "```sh\necho hi\n```\n```json\n{\"tool\": \"finish\", \"args\": {\"summary\": \"s\"}}\n```", "finish",
            ["summary": "s"])
    }

    @Test func bareObject() {
        expectCall("{\"tool\": \"read_file\", \"args\": {\"path\": \"b\"}}", "read_file", ["path": "b"])
    }

    @Test func noActionIsAnError() {
        guard case .error(let message) = TextToolProtocol.parse("I think the bug is in cart.py.") else {
            Issue.record("expected error")
            return
        }
        #expect(message.contains("No action"))
    }

    @Test func malformedJSONIsAnError() {
        guard case .error(let message) = TextToolProtocol.parse("```json\n{\"tool\": read_file}\n```") else {
            Issue.record("expected error")
            return
        }
        #expect(message.contains("not a valid JSON object"))
    }

    @Test func missingToolNameIsAnError() {
        guard case .error(let message) = TextToolProtocol.parse("```json\n{\"args\": {}}\n```") else {
            Issue.record("expected error")
            return
        }
        #expect(message.contains("no \"tool\""))
    }

    @Test func emptyBashBlockIsAnError() {
        guard case .error = TextToolProtocol.parse("```bash\n\n```") else {
            Issue.record("expected error")
            return
        }
    }

    @Test func instructionsListEveryTool() {
        let tools = [
            ToolSpec(
                name: "read_file", description: "Read.",
                parameters: ["type": "object", "properties": ["path": ["type": "string"]], "required": ["path"]])
        ]
        let text = TextToolProtocol.instructions(for: tools)
        #expect(text.contains("`read_file`: Read. Args: {path: string}"))
    }
}

@Suite struct EditBlockTests {
    @Test func searchReplaceWithThePathBeforeTheFence() {
        let reply =
            "The comparison is wrong.\ncart.py\n```python\n<<<<<<< SEARCH\n    if n > 10:\n=======\n    if n >= 10:\n>>>>>>> REPLACE\n```"
        #expect(
            TextToolProtocol.parse(reply)
                == .call(
                    name: "edit_file",
                    arguments: ["path": "cart.py", "old": "    if n > 10:", "new": "    if n >= 10:"]))
    }

    @Test func pathInTheFenceInfoAndDecoratedPaths() {
        let inInfo = "```python src/cart.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```"
        #expect(
            TextToolProtocol.parse(inInfo)
                == .call(name: "edit_file", arguments: ["path": "src/cart.py", "old": "a", "new": "b"]))
        let bold = "**`src/cart.py`**:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE"
        #expect(
            TextToolProtocol.parse(bold)
                == .call(name: "edit_file", arguments: ["path": "src/cart.py", "old": "a", "new": "b"]))
    }

    @Test func severalBlocksAreSeveralCalls() {
        let reply =
            "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n\nb.py\n<<<<<<< SEARCH\nu\n=======\nv\n>>>>>>> REPLACE\n"
        #expect(
            TextToolProtocol.parseCalls(reply) == [
                .call(name: "edit_file", arguments: ["path": "a.py", "old": "x", "new": "y"]),
                .call(name: "edit_file", arguments: ["path": "b.py", "old": "u", "new": "v"]),
            ])
    }

    @Test func emptySearchCreatesTheFile() {
        let reply = "new_module.py\n```python\n<<<<<<< SEARCH\n=======\nVALUE = 1\n>>>>>>> REPLACE\n```"
        #expect(
            TextToolProtocol.parse(reply)
                == .call(name: "write_file", arguments: ["path": "new_module.py", "content": "VALUE = 1\n"]))
    }

    @Test func truncatedBlockEndsAtItsFence() {
        let reply = "a.py\n```\n<<<<<<< SEARCH\nx\n=======\ny\n```"
        #expect(
            TextToolProtocol.parse(reply)
                == .call(name: "edit_file", arguments: ["path": "a.py", "old": "x", "new": "y"]))
    }

    @Test func missingPathIsAnError() {
        guard case .error(let message) = TextToolProtocol.parse("Here:\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE")
        else {
            Issue.record("expected an error")
            return
        }
        #expect(message.contains("path"))
    }

    @Test func missingDividerIsAnError() {
        guard case .error = TextToolProtocol.parse("a.py\n<<<<<<< SEARCH\nx\n") else {
            Issue.record("expected an error")
            return
        }
    }

    /// What Qwen2.5-Coder-1.5B really wrote: a docstring's quotes and raw newlines inside JSON strings.
    @Test func unescapedCodeInsideJSONStringsIsRepaired() {
        let reply =
            "```json\n{\"tool\": \"edit_file\", \"args\": {\"new\": \"def total(items):\\n    \"\"\"Doc.\"\"\"\n    if n >= 10:\\n\", \"old\": \"def total(items):\\n    \"\"\"Doc.\"\"\"\n    if n > 10:\\n\", \"path\": \"cart.py\"}}\n```"
        #expect(
            TextToolProtocol.parse(reply)
                == .call(
                    name: "edit_file",
                    arguments: [
                        "path": "cart.py", "old": "def total(items):\n    \"\"\"Doc.\"\"\"\n    if n > 10:\n",
                        "new": "def total(items):\n    \"\"\"Doc.\"\"\"\n    if n >= 10:\n",
                    ]))
    }
}

@Suite struct MultiActionTests {
    @Test func aPlanIsSeveralCallsInOrder() {
        let reply =
            "```json\n{\"tool\": \"read_file\", \"args\": {\"path\": \"stats.py\"}}\n```\nstats.py\n```python\n<<<<<<< SEARCH\n    return a\n=======\n    return b\n>>>>>>> REPLACE\n```\n```json\n{\"tool\": \"finish\", \"args\": {\"summary\": \"done\"}}\n```"
        #expect(
            TextToolProtocol.parseCalls(reply) == [
                .call(name: "read_file", arguments: ["path": "stats.py"]),
                .call(
                    name: "edit_file", arguments: ["path": "stats.py", "old": "    return a", "new": "    return b"]),
                .call(name: "finish", arguments: ["summary": "done"]),
            ])
    }

    @Test func qwenTagsInOrder() {
        let reply =
            "<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}</tool_call>\n<tool_call>{\"name\": \"read_file\", \"arguments\": {\"path\": \"b\"}}</tool_call>"
        #expect(TextToolProtocol.parseCalls(reply).count == 2)
    }
}
