import Foundation

/// Runs a program of a test (a Python client, a browser script) to its end without blocking a thread of the
/// cooperative pool: its stdout and stderr together, and its exit status. Killed after `timeout`.
public enum ChildProcess {
    public static func run(
        _ executable: String, _ arguments: [String], environment extra: [String: String] = [:],
        timeout: Duration = .seconds(300)
    ) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-child-\(UUID().uuidString.prefix(8)).log"
        ).path
        FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        let started = ContinuousClock.now
        // Polled: Foundation reaps children itself, and waitUntilExit can miss an exit.
        while process.isRunning {
            let elapsed = ContinuousClock.now - started
            // SIGTERM, then SIGKILL: a child started from a thread of Swift's pool may inherit a mask that blocks
            // SIGTERM, and then it would never end.
            if elapsed > timeout + .seconds(2) {
                kill(process.processIdentifier, SIGKILL)
            } else if elapsed > timeout {
                process.terminate()
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return (process.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
