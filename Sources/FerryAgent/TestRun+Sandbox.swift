import FerryCore
import FerrySandbox

extension TestRun {
    /// Runs `command` in the sandbox.
    static func run(_ command: String, in directory: String, runner: any CommandRunner, timeout: Double) async throws
        -> TestRun
    {
        let result = try await runner.run(
            CommandRequest(script: command, workingDirectory: directory, timeoutSeconds: timeout, outputLimit: 24_000))
        return TestRun(
            command: command, exitCode: result.exitCode, timedOut: result.timedOut,
            durationSeconds: result.durationSeconds, output: result.output)
    }
}
