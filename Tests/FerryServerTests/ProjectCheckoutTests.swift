import FerryAgent
import FerryCore
import FerryModels
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// A project given as a git URL is cloned once by the worker and fetched before each task, so a task starts from
/// the remote's current base. The remote is served over real HTTP (git's dumb protocol from a file server).
@Suite struct ProjectCheckoutTests {
    struct Remote {
        var source: String
        var root: String
        var server: TeamServer
        var project: Project
    }

    /// A bare remote cloned from the fixture repository under `root`, published for HTTP.
    static func bareRemote() async throws -> (source: String, root: String) {
        let source = try await FixtureRepo.make(ServerAPITests.files)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-url-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = try await Git(root).run("clone", "--quiet", "--bare", source, root + "/remote.git")
        _ = try await Git(root + "/remote.git").run("update-server-info")
        return (source, root)
    }

    static func server(root: String, repo: String, push: Bool) async throws -> Remote {
        let server = try TeamServer(dataDirectory: root + "/server", policy: .tests(data: root + "/server"))
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let project = try await server.store.createProject(
            Project(
                id: "prj_url", tenantID: tenant.id, name: "calc", repo: repo, base: "main",
                model: nil, testCommand: "python3 -m unittest", createdAt: Date(), push: push))
        return Remote(source: "", root: root, server: server, project: project)
    }

    /// One task on the project, run to its end by a worker whose data directory is `root/worker`.
    static func runTask(_ remote: Remote) async throws -> ServerTask {
        var config = FerryConfig(dataDirectory: remote.root + "/worker")
        config.firstAttempt = .off
        let frozen = config
        return try await FakeModelServer.with(.openai, script: ServerAPITests.script) { fake in
            let (worker, client) = fakeWorker(fake, server: remote.server, config: frozen)
            let (task, _) = try await remote.server.store.createTask(
                NewTask(projectID: remote.project.id, task: "fix add()"), tenantID: remote.project.tenantID, now: Date()
            )
            await worker.execute(
                try #require(try await remote.server.store.claim(worker: "w", now: Date(), policy: QueuePolicy())))
            try await client.shutdown()
            return try #require(try await remote.server.store.task(id: task.id))
        }
    }

    @Test func aGitURLProjectIsClonedOnceAndFetchedBeforeEachTask() async throws {
        let (source, root) = try await Self.bareRemote()
        try await FakeHTTPServer.files(root: root) { http in
            var remote = try await Self.server(root: root, repo: http.baseURL + "/remote.git", push: false)
            remote.source = source
            let project = remote.project
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
            _ = try await Git(root + "/remote.git").run("update-server-info")
            let again = try await ProjectCheckout.prepare(
                project, dataDirectory: root + "/worker", policy: remote.server.policy)
            #expect(again.repo == clone && again.base == "origin/main")
            #expect(
                try await Git(clone).run("log", "-1", "--format=%s", "origin/main").trimmingCharacters(
                    in: .whitespacesAndNewlines) == "later")
            // The same URL under the default rule (public addresses only) is refused before git runs.
            await #expect(throws: FerryError.self) {
                try await ProjectCheckout.prepare(project, dataDirectory: root + "/strict", policy: ServerPolicy())
            }
            #expect(!FileManager.default.fileExists(atPath: root + "/strict/repos"))
        }
    }

    /// A local project (inside the operator's roots) that pushes delivers the result branch to its own origin.
    @Test func aProjectThatPushesDeliversTheResultBranchToItsRemote() async throws {
        let (_, root) = try await Self.bareRemote()
        let local = root + "/checkout"
        _ = try await Git(root).run("clone", "--quiet", root + "/remote.git", local)
        let remote = try await Self.server(root: root, repo: local, push: true)
        let task = try await Self.runTask(remote)
        #expect(task.state == .verified, "\(task)")
        let branch = try #require(task.branch)
        #expect(task.pushedTo == "\(root)/remote.git \(branch)")
        let pushed = try await Git(root + "/remote.git").run("rev-parse", branch).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(pushed == task.commitSHA)
    }
}
