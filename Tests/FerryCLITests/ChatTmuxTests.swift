import FerryTesting
import Foundation
import Testing

/// `ferry chat` in a real terminal (tmux send-keys / capture-pane) against a scripted model: a question and its
/// checked citation, Ctrl-C stopping an answer but not the chat, `/run`, `/diff`, `/apply` and `/undo` through git,
/// `/cost`, `/quit`, and `--resume` bringing the conversation back.
@Suite struct ChatTmuxTests {
    @Test func aQuestionACitationCtrlCRunDiffApplyUndoAndResume() async throws {
        let binary = CLITests.packageRoot + "/.build/debug/ferry"
        try #require(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"),
            "install tmux (scripts/setup.sh --test-clients)")
        let repo = try await FixtureRepo.make(CalcFixture.files)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-chat-\(UUID().uuidString.prefix(8))"
        ).path
        try await FakeModelServer.with(.openai, responder: CalcFixture.responder) { fake in
            try fake.writeConfig(configHome: home + "/config")
            let command =
                "env XDG_CONFIG_HOME=\(home)/config XDG_DATA_HOME=\(home)/data \(binary) chat --repo \(repo) --model fake"
            let terminal = TmuxTerminal()
            try await terminal.start(command + "; sleep 30")
            defer { terminal.kill() }
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
            let second = TmuxTerminal()
            try await second.start(command + " --resume; sleep 30")
            defer { second.kill() }
            try await second.wait(for: "resumed chat-")
            #expect(try await second.screen().contains("turns)"))
            try await second.type("/quit")
            try await second.wait(for: "resume with ferry chat --chat")
        }
    }

}
