import FerryCore
import FerryIndex
import FerrySandbox
import FerryWorkspace
import Foundation

/// The executor's work for the attempt phase beyond writing and testing: localising to definitions, and checking a
/// change parses before the tests run.
extension RunExecutor {
    /// The definitions to show when the likeliest file is too large for a whole-file reply; nil without an index (the
    /// config turned it off, or it failed) or when the whole-file attempt fits. Opens the worktree's index, kept for
    /// the loop.
    mutating func symbolChoice(maxOutputTokens: Int) async -> AttemptSymbols.Choice? {
        guard machine.repoMapTokens > 0 else { return nil }
        do {
            // Opened already when the test command named `{related_tests}`; nothing has changed since.
            let index: CodeIndex
            if let opened = self.index {
                index = opened
            } else {
                index = try await CodeIndex.openUpdated(root: workspace.root, recorder: recorder)
            }
            self.index = index
            return try AttemptSymbols.choose(
                task: task, index: index, root: workspace.root, maxOutputTokens: maxOutputTokens)
        } catch is CancellationError {
            return nil
        } catch {
            await recorder.record(.indexFailed(.init("\(error)")))
            return nil
        }
    }

    /// Parses the changed Python files with `ast.parse` in the sandbox (nothing runs, nothing is written); files of
    /// other languages pass, having no parser at hand. A sandbox without python3 checks nothing.
    func checkSyntax(_ paths: [String]) async throws -> RunMachine.Event {
        let python = paths.filter {
            $0.hasSuffix(".py") && FileManager.default.fileExists(atPath: workspace.root + "/" + $0)
        }
        guard !python.isEmpty else { return .syntaxChecked(problems: [], now: elapsed()) }
        let script = """
            python3 -c 'import ast, sys
            for path in sys.argv[1:]:
                try:
                    ast.parse(open(path, "rb").read(), path)
                except SyntaxError as error:
                    print("%s line %s: %s: %s" % (path, error.lineno, error.msg, (error.text or "").strip()))
            ' 
            """ + python.map(shellQuote).joined(separator: " ")
        let result = try await runner.run(
            CommandRequest(
                script: script, workingDirectory: workspace.root, timeoutSeconds: 60, outputLimit: 4_000))
        guard result.exitCode == 0 else {
            // Not "it parses": the check did not run (no python3 in the sandbox, a timeout). The tests still judge
            // the change; the trace says the check was skipped and why.
            await recorder.record(
                .runError(
                    .init(
                        "the syntax check could not run (\(result.timedOut ? "timed out" : "exit \(result.exitCode.map(String.init) ?? "?")")): "
                            + Truncation.headTail(result.output, limit: 300))))
            return .syntaxChecked(problems: [], now: elapsed())
        }
        let problems = result.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        return .syntaxChecked(problems: problems, now: elapsed())
    }
}

extension CodeIndex {
    /// The worktree's index (seeded from the repository's), brought up to date, with `index.ready` in the trace.
    static func openUpdated(root: String, recorder: EventRecorder) async throws -> CodeIndex {
        let index = try CodeIndex.openSeeded(root: root)
        let stats = try await index.update()
        await recorder.record(
            .indexReady(
                .init(
                    files: stats.files, changed: stats.changed, seconds: stats.seconds, mapTokens: 0,
                    warning: stats.warning)))
        return index
    }
}
