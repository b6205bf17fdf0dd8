import FerryTesting
import Foundation
import Testing

/// `ferry chat` in a real terminal (tmux send-keys / capture-pane) against a scripted model: a question and its
/// checked citation, Ctrl-C stopping an answer but not the chat, `/run`, `/diff`, `/apply` and `/undo` through git,
/// `/cost`, `/quit`, and `--resume` bringing the conversation back.
@Suite struct ChatTmuxTests {
    struct Terminal {
        let session = "ferry-chat-\(UUID().uuidString.prefix(8))"

        /// Runs tmux through the shell and returns what it printed. (Not Foundation's Process: it missed the exit of
        /// the client that forks tmux's server and waited for ever.)
        @discardableResult
        func tmux(_ arguments: String...) async throws -> String {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("\(session)-\(UUID().uuidString.prefix(6)).out").path
            defer { try? FileManager.default.removeItem(atPath: output) }
            let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            _ = system("tmux \(quoted) > '\(output)' 2>&1 < /dev/null")
            return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }

        func type(_ text: String) async throws {
            try await tmux("send-keys", "-t", session, "-l", text)
            try await tmux("send-keys", "-t", session, "Enter")
        }

        func screen() async throws -> String { try await tmux("capture-pane", "-p", "-J", "-S", "-400", "-t", session) }

        /// Waits until the screen shows `text` (after `after` occurrences of it), or fails with the screen.
        func wait(for text: String, count: Int = 1, seconds: Double = 60) async throws {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if try await screen().components(separatedBy: text).count - 1 >= count { return }
                try await Task.sleep(for: .milliseconds(200))
            }
            Issue.record("the terminal never showed \(text):\n\(try await screen())")
            throw CancellationError()
        }
    }

    @Test func aQuestionACitationCtrlCRunDiffApplyUndoAndResume() async throws {
        let binary = CLITests.packageRoot + "/.build/debug/ferry"
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "install tmux (scripts/setup.sh --test-clients)")
        let repo = try await FixtureRepo.make(McpTests.files)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-chat-\(UUID().uuidString.prefix(8))").path
        try await FakeModelServer.with(.openai, responder: McpTests.responder) { fake in
            try fake.writeConfig(configHome: home + "/config")
            let command = "env XDG_CONFIG_HOME=\(home)/config XDG_DATA_HOME=\(home)/data \(binary) chat --repo \(repo) --model fake"
            let terminal = Terminal()
            try await terminal.tmux("new-session", "-d", "-s", terminal.session, "-x", "200", "-y", "60", command + "; sleep 30")
            defer { Self.kill(terminal.session) }
            try await terminal.wait(for: "ferry> ")

            try await terminal.type("Where is add defined?")
            try await terminal.wait(for: "citation(s) checked")
            #expect(try await terminal.screen().contains("calc.py:1"))

            // Ctrl-C stops the answer, not the chat.
            try await terminal.type("this question hangs")
            try await terminal.wait(for: "(read", count: 2)
            try await terminal.tmux("send-keys", "-t", terminal.session, "C-c")
            try await terminal.wait(for: "(stopped)")

            try await terminal.type("/run add() returns the wrong sum; fix it")
            try await terminal.wait(for: ": verified")
            try await terminal.type("/diff")
            try await terminal.wait(for: "+    return a + b")

            try await terminal.type("/apply")
            try await terminal.wait(for: "/undo takes it back")
            #expect(try String(contentsOfFile: repo + "/calc.py", encoding: .utf8).contains("a + b"))
            try await terminal.type("/undo")
            try await terminal.wait(for: "took back")
            #expect(try String(contentsOfFile: repo + "/calc.py", encoding: .utf8).contains("a - b"))

            try await terminal.type("/cost")
            try await terminal.wait(for: "this chat:", count: 1)
            if ProcessInfo.processInfo.environment["FERRY_SHOW_CLIENTS"] != nil { print(try await terminal.screen()) }
            try await terminal.type("/quit")
            try await terminal.wait(for: "resume with ferry chat --chat")

            // The conversation comes back.
            let second = Terminal()
            try await second.tmux("new-session", "-d", "-s", second.session, "-x", "200", "-y", "60", command + " --resume; sleep 30")
            defer { Self.kill(second.session) }
            try await second.wait(for: "resumed chat-")
            #expect(try await second.screen().contains("turns)"))
            try await second.type("/quit")
            try await second.wait(for: "resume with ferry chat --chat")
        }
    }

    static func kill(_ session: String) {
        _ = system("tmux kill-session -t '\(session)' > /dev/null 2>&1 < /dev/null")
    }
}
