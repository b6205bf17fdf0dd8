import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A detached tmux session a test types into and reads (send-keys, capture-pane): `ferry chat` in a real terminal.
public struct TmuxTerminal: Sendable {
    public let session = "ferry-chat-\(UUID().uuidString.prefix(8))"

    public struct Timeout: Error, CustomStringConvertible {
        public var description: String
    }

    public init() {}

    /// Runs tmux through the shell and returns what it printed. (Not Foundation's Process: it missed the exit of the
    /// client that forks tmux's server and waited for ever.)
    @discardableResult
    public func tmux(_ arguments: String...) async throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(session)-\(UUID().uuidString.prefix(6)).out"
        ).path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(
            separator: " ")
        _ = system("tmux \(quoted) > '\(output)' 2>&1 < /dev/null")
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }

    /// Starts the session running `command` (a shell line) in a 200x60 terminal.
    public func start(_ command: String) async throws {
        try await tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "60", command)
    }

    public func type(_ text: String) async throws {
        try await tmux("send-keys", "-t", session, "-l", text)
        try await tmux("send-keys", "-t", session, "Enter")
    }

    public func screen() async throws -> String {
        try await tmux("capture-pane", "-p", "-J", "-S", "-400", "-t", session)
    }

    /// Waits until the screen shows `text` `count` times, or throws with the screen.
    public func wait(for text: String, count: Int = 1, seconds: Double = 60) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await screen().components(separatedBy: text).count - 1 >= count { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Timeout(description: "the terminal never showed \(text):\n\(try await screen())")
    }

    public func kill() {
        _ = system("tmux kill-session -t '\(session)' > /dev/null 2>&1 < /dev/null")
    }
}
