import FerryAgent
import FerryCore
import FerryModels
@testable import FerryServer
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// A project given as a git URL is cloned once by the worker and fetched before each task, so a task starts from
/// the remote's current base.
@Suite struct ProjectCheckoutTests {
    struct Remote {
        var source: String
        var root: String
        var server: TeamServer
        var project: Project
    }

    /// A bare remote cloned from the fixture repository, and a project on its `file://` URL.
    static func remote(push: Bool) async throws -> Remote {
        let source = try await FixtureRepo.make(ServerAPITests.files)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-url-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = try await Git(root).run("clone", "--quiet", "--bare", source, root + "/remote.git")
        let server = try TeamServer(dataDirectory: root + "/server")
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let project = try await server.store.createProject(Project(
            id: "prj_url", tenantID: tenant.id, name: "calc", repo: "file://" + root + "/remote.git", base: "main",
            model: nil, testCommand: "python3 -m unittest", createdAt: Date(), push: push))
        return Remote(source: source, root: root, server: server, project: project)
    }

    /// One task on the project, run to its end by a worker whose data directory is `root/worker`.
    static func runTask(_ remote: Remote) async throws -> ServerTask {
        var config = FerryConfig(dataDirectory: remote.root + "/worker")
        config.firstAttempt = .off
        let frozen = config
        return try await FakeModelServer.with(.openai, script: ServerAPITests.script) { fake in
            let (worker, client) = fakeWorker(fake, server: remote.server, config: frozen)
            let (task, _) = try await remote.server.store.createTask(
                NewTask(projectID: remote.project.id, task: "fix add()"), tenantID: remote.project.tenantID, now: Date())
            await worker.execute(try #require(try await remote.server.store.claim(worker: "w", now: Date(), policy: QueuePolicy())))
            try await client.shutdown()
            return try #require(try await remote.server.store.task(id: task.id))
        }
    }

    @Test func aGitURLProjectIsClonedOnceAndFetchedBeforeEachTask() async throws {
        let remote = try await Self.remote(push: false)
        let (source, root, project) = (remote.source, remote.root, remote.project)
        let done = try await Self.runTask(remote)
        #expect(done.state == .verified, "\(done)")
        #expect(done.diff?.contains("+    return a + b") == true)
        // The clone lives in the worker's data directory; its run's branch is there, the remote is untouched.
        let clone = root + "/worker/repos/prj_url"
        #expect(FileManager.default.fileExists(atPath: clone + "/.git"))
        #expect(try await !Git(clone).run("branch", "--list", "ferry/*").isEmpty)
        #expect(try await Git(root + "/remote.git").run("branch", "--list", "ferry/*").isEmpty)
        // A later commit on the remote is fetched before the next task.
        try "# later\n".write(toFile: source + "/NOTES.md", atomically: true, encoding: .utf8)
        _ = try await Git(source).run("add", "NOTES.md")
        _ = try await Git(source).run("commit", "-q", "-m", "later")
        _ = try await Git(source).run("push", "-q", root + "/remote.git", "main")
        let again = try await ProjectCheckout.prepare(project, dataDirectory: root + "/worker")
        #expect(again.repo == clone && again.base == "origin/main")
        #expect(try await Git(clone).run("log", "-1", "--format=%s", "origin/main").trimmingCharacters(in: .whitespacesAndNewlines) == "later")
    }

    @Test func aProjectThatPushesDeliversTheResultBranchToItsRemote() async throws {
        let remote = try await Self.remote(push: true)
        let root = remote.root
        let task = try await Self.runTask(remote)
        #expect(task.state == .verified, "\(task)")
        let branch = try #require(task.branch)
        #expect(task.pushedTo == "file://\(root)/remote.git \(branch)")
        let pushed = try await Git(root + "/remote.git").run("rev-parse", branch).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pushed == task.commitSHA)
    }
}
