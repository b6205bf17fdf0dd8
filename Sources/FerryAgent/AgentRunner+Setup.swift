import FerryCore
import FerryIndex
import FerrySandbox
import FerryStore
import FerryWorkspace
import Foundation

extension AgentRunner {
    /// What a run has once it exists: its worktree, sandbox, store row and trace.
    struct Setup: Sendable {
        var record: RunRecord
        var base: String
        var repoGit: Git
        var worktreeGit: Git
        var workspace: Workspace
        var runner: any CommandRunner
        var recorder: EventRecorder
    }

    /// Creates the run: checks the sandbox before anything is created in the repository, then the branch and
    /// worktree, the store row and the trace's first events.
    func setUp(_ request: RunRequest, events: @escaping @Sendable (RunEvent) -> Void) async throws -> Setup {
        let repoRoot = try await Git.root(of: request.repo)
        let repoGit = Git(repoRoot)
        let base = try await repoGit.resolve(request.base ?? "HEAD")
        let runID = request.runID ?? Self.newRunID()
        let branch = "ferry/\(runID)"
        var dataDirectory = (config.dataDirectory as NSString).expandingTildeInPath
        if !dataDirectory.hasPrefix("/") {
            dataDirectory = FileManager.default.currentDirectoryPath + "/" + dataDirectory
        }
        let runDirectory = dataDirectory + "/runs/" + runID
        let worktreePath = runDirectory + "/worktree"
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)

        let commonGitDir = try await repoGit.run("rev-parse", "--path-format=absolute", "--git-common-dir")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let policy = SandboxPolicy(
            workspace: worktreePath, readOnlyPaths: [worktreePath + "/.git", commonGitDir],
            allowNetwork: config.allowNetwork,
            // Other runs' folders and the store live here (wherever the config put it; the XDG folders are hidden by
            // default); the run's own worktree is shown again on top.
            hiddenPaths: [dataDirectory],
            readOnlyBinds: config.sandboxReadOnly, maxProcesses: config.maxProcesses)
        let runner = try makeRunner(policy)

        try await repoGit.addWorktree(path: worktreePath, branch: branch, base: base)
        let workspace = try Workspace(root: worktreePath)

        var record = RunRecord(
            id: runID, repo: repoRoot, base: base, branch: branch, task: redactor(request.task),
            model: model.profile.model,
            provider: model.profile.provider.rawValue, sandbox: runner.name, runDirectory: runDirectory)
        record.owner = ProcessIdentity.current.description
        try await store.insert(record)
        let recorder = EventRecorder(
            runID: runID, tracePath: runDirectory + "/trace.jsonl", store: store, redactor: redactor, sink: events)
        await recorder.record(
            .runStarted(
                .init(
                    runID: runID, repo: repoRoot, base: base, branch: branch, task: request.task,
                    model: model.profile.model,
                    provider: model.profile.provider.rawValue, toolProtocol: model.profile.toolProtocol.rawValue,
                    sandbox: runner.name, sandboxSource: config.sandboxSource, network: config.allowNetwork,
                    maxProcesses: config.maxProcesses, worktree: worktreePath)))
        for warning in config.warnings { await recorder.record(.configWarning(.init(warning))) }
        return Setup(
            record: record, base: base, repoGit: repoGit, worktreeGit: Git(workspace.root), workspace: workspace,
            runner: runner, recorder: recorder)
    }
}

extension AgentRunner {
    /// The run's test command: the configured one (a `{related_tests}` in it filled with the task's related test
    /// files, found through the worktree's index, which is kept for the run, or the whole suite when none can be
    /// found), else the detected one, with the other detected ones to fall back on.
    func testCommand(for task: String, setup: Setup) async -> (String?, fallbacks: [String], CodeIndex?) {
        guard let configured = config.testCommand else {
            let detected = TestCommand.candidates(in: setup.workspace.root)
            return (detected.first, Array(detected.dropFirst()), nil)
        }
        guard configured.contains(RelatedTests.placeholder) else { return (configured, [], nil) }
        do {
            let index = try await CodeIndex.openUpdated(root: setup.workspace.root, recorder: setup.recorder)
            let files = try await setup.worktreeGit.listFiles()
            let (command, note) = try RelatedTests.resolve(
                configured, task: task, index: index, files: files, root: setup.workspace.root)
            await setup.recorder.record(.testsRelated(.init(note)))
            return (command, [], index)
        } catch {
            // The same as when none relate: the whole suite judges.
            await setup.recorder.record(
                .testsRelated(
                    .init(
                        "related tests could not be found (\(error)), so the whole suite judges the change")))
            return (RelatedTests.wholeSuite(configured), [], nil)
        }
    }
}
