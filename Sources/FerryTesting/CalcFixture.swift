import FerryCore

/// The assistant surfaces' fixture: a repository whose `add()` subtracts, and a scripted model that answers
/// questions about it citing calc.py:1, fixes it when given a task (read, edit, finish), and never answers anything
/// that says "hangs" (for cancellation).
public enum CalcFixture {
    public static let files = [
        "calc.py": "def add(a, b):\n    return a - b\n",
        "test_calc.py":
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
        ".ferry/config.toml": "[project]\ntest_command = \"python3 -m unittest\"\n",
    ]

    public static let answer = "add() is defined at calc.py:1; it returns a - b (calc.py:2)."

    public static let responder: @Sendable (JSONValue) -> FakeStep = { body in
        guard case .array(let messages)? = body["messages"] else { return .status(400) }
        let text = messages.compactMap { $0["content"]?.stringValue }.joined(separator: "\n")
        if messages.contains(where: { $0["role"] == "user" && ($0["content"]?.stringValue ?? "").contains("hangs") }) {
            return .delay(seconds: 120, then: FakeReply(text: "too late"))
        }
        if text.contains("You answer questions about a code repository") {
            return .reply(text: answer, usage: Usage(inputTokens: 300, outputTokens: 30))
        }
        let call: FakeToolCall
        switch messages.filter({ $0["role"] == "tool" }).count {
        case 0: call = FakeToolCall(name: "read_file", arguments: #"{"path": "calc.py"}"#)
        case 1:
            call = FakeToolCall(
                name: "edit_file", arguments: #"{"path": "calc.py", "old": "return a - b", "new": "return a + b"}"#)
        default: call = FakeToolCall(name: "finish", arguments: #"{"summary": "add() subtracted; it now adds."}"#)
        }
        return .reply(toolCalls: [call])
    }
}
