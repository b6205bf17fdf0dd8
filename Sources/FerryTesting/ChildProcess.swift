import FerrySandbox
import Foundation

/// Runs a program of a test (a Python client, a browser script) to its end without blocking a thread of the
/// cooperative pool: its stdout and stderr together, and its exit status. Stopped after `timeout`.
public enum ChildProcess {
    public static func run(
        _ executable: String, _ arguments: [String], environment extra: [String: String] = [:],
        timeout: Duration = .seconds(300)
    ) async throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-child-\(UUID().uuidString.prefix(8)).log"
        ).path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try await BackgroundProcess.start(
            executable, arguments,
            environment: ProcessInfo.processInfo.environment.merging(extra) { _, new in new },
            stdout: .file(log), stderr: .output, newSession: true)
        let exit: BackgroundProcess.Exit
        if let ended = await process.wait(upTo: timeout) {
            exit = ended
        } else {
            // SIGTERM, then SIGKILL: a child started from a thread of Swift's pool may inherit a mask that blocks
            // SIGTERM, and then it would never end.
            exit = await process.stop(grace: .seconds(2))
        }
        return (exit.code, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
