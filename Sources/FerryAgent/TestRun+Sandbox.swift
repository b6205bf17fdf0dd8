import FerryCore
import FerrySandbox
import FerryWorkspace

extension TestRun {
    /// Runs `command` in the sandbox, then puts back what it left in the work tree (`WorkTreeState`): files it made,
    /// changed or deleted that git would commit. On ferry-easy, a reproduction test wrote `test_file.txt` beside the
    /// code, and it went into the change with the fix.
    static func run(_ command: String, in directory: String, runner: any CommandRunner, timeout: Double) async throws
        -> TestRun
    {
        let git = Git(directory)
        let before = try await WorkTreeState.take(git)
        let result = try await runner.run(
            CommandRequest(script: command, workingDirectory: directory, timeoutSeconds: timeout, outputLimit: 24_000))
        var run = TestRun(
            command: command, exitCode: result.exitCode, timedOut: result.timedOut,
            durationSeconds: result.durationSeconds, output: result.output)
        run.tidied = try await before.restore(git)
        return run
    }
}
