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
    @Test func aGitURLProjectIsClonedOnceAndFetchedBeforeEachTask() async throws {
        let source = try await FixtureRepo.make(ServerAPITests.files)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-url-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = try await Git(root).run("clone", "--quiet", "--bare", source, root + "/remote.git")
        let server = try TeamServer(dataDirectory: root + "/server")
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let project = try await server.store.createProject(Project(
            id: "prj_url", tenantID: tenant.id, name: "calc", repo: "file://" + root + "/remote.git", base: "main",
            model: nil, testCommand: "python3 -m unittest", createdAt: Date()))
        var config = FerryConfig(dataDirectory: root + "/worker")
        config.firstAttempt = .off
        let frozen = config
        try await FakeModelServer.with(.openai, script: ServerAPITests.script) { fake in
            let profile = ModelProfile(name: "t", provider: .openai, baseURL: fake.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "K")
            let client = ModelFactory.httpClient(for: profile)
            let worker = Worker(
                id: "w", store: server.store, runStore: server.runStore, config: frozen,
                makeModel: { _ in ModelFactory.make(profile: profile, apiKey: "k", client: client, retry: RetryPolicy(maxAttempts: 1)) })
            let (task, _) = try await server.store.createTask(NewTask(projectID: project.id, task: "fix add()"), tenantID: tenant.id, now: Date())
            await worker.execute(try #require(try await server.store.claim(worker: "w", now: Date(), policy: QueuePolicy())))
            try await client.shutdown()
            let done = try #require(try await server.store.task(id: task.id))
            #expect(done.state == .verified, "\(done)")
            #expect(done.diff?.contains("+    return a + b") == true)
        }
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
}

extension ProjectCheckoutTests {
    @Test func aProjectThatPushesDeliversTheResultBranchToItsRemote() async throws {
        let source = try await FixtureRepo.make(ServerAPITests.files)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-push-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = try await Git(root).run("clone", "--quiet", "--bare", source, root + "/remote.git")
        let server = try TeamServer(dataDirectory: root + "/server")
        _ = try await server.bootstrap()
        let tenant = try #require(try await server.store.tenant(named: "default"))
        let project = try await server.store.createProject(Project(
            id: "prj_push", tenantID: tenant.id, name: "calc", repo: "file://" + root + "/remote.git", base: "main",
            model: nil, testCommand: "python3 -m unittest", createdAt: Date(), push: true))
        var config = FerryConfig(dataDirectory: root + "/worker")
        config.firstAttempt = .off
        let frozen = config
        let task = try await FakeModelServer.with(.openai, script: ServerAPITests.script) { fake in
            let profile = ModelProfile(name: "t", provider: .openai, baseURL: fake.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "K")
            let client = ModelFactory.httpClient(for: profile)
            let worker = Worker(
                id: "w", store: server.store, runStore: server.runStore, config: frozen,
                makeModel: { _ in ModelFactory.make(profile: profile, apiKey: "k", client: client, retry: RetryPolicy(maxAttempts: 1)) })
            let (task, _) = try await server.store.createTask(NewTask(projectID: project.id, task: "fix add()"), tenantID: tenant.id, now: Date())
            await worker.execute(try #require(try await server.store.claim(worker: "w", now: Date(), policy: QueuePolicy())))
            try await client.shutdown()
            return try #require(try await server.store.task(id: task.id))
        }
        #expect(task.state == .verified, "\(task)")
        let branch = try #require(task.branch)
        #expect(task.pushedTo == "file://\(root)/remote.git \(branch)")
        let pushed = try await Git(root + "/remote.git").run("rev-parse", branch).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(pushed == task.commitSHA)
    }
}
