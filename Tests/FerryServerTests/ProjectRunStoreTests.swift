import FerryCore
import FerryStore
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// The tool loop's record on the team server is a project's own: another project's runs, or another tenant's, never
/// open or close its gate.
@Suite struct ProjectRunStoreTests {
    @Test(arguments: QueueTests.Kind.allCases)
    func theLoopsRecordIsReadFromTheProjectsOwnTasks(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-project-runs-\(UUID().uuidString.prefix(8))"
            ).path
            let runs = try Self.runStore(f, kind: kind, directory: dir)
            let sibling = try await f.store.createProject(
                Project(
                    id: "prj_2", tenantID: f.tenant.id, name: "cart", repo: "/tmp/cart", base: "main", model: nil,
                    testCommand: nil, createdAt: Date()))
            let rival = try await f.store.createTenant(name: "rival")
            let theirs = try await f.store.createProject(
                Project(
                    id: "prj_3", tenantID: rival.id, name: "shop", repo: "/tmp/theirs", base: "main", model: nil,
                    testCommand: nil, createdAt: Date()))
            var clock = QueueTests.t0
            /// A task of `project` whose run (with `model`) reached the loop and kept a change or not.
            func task(_ project: Project, kept: Bool, model: String = "qwen", loop: LoopGate.Use? = .ran) async throws {
                clock += 1
                let (created, _) = try await f.store.createTask(
                    NewTask(projectID: project.id, task: "task at \(clock)"), tenantID: project.tenantID, now: clock)
                let claimed = try #require(
                    try await f.store.claim(worker: "w", now: clock, policy: QueuePolicy(leaseSeconds: 600)))
                #expect(claimed.id == created.id)
                let runID = "run-\(Int(clock.timeIntervalSince1970))"
                try await f.store.attachRun(id: claimed.id, attempt: claimed.attempt, runID: runID)
                var record = RunRecord(
                    id: runID, repo: project.repo, base: "b", branch: "ferry/\(runID)", task: "t", model: model,
                    provider: "local", sandbox: "bubblewrap", runDirectory: dir + "/" + runID, createdAt: clock)
                record.status = kept ? .verified : .failed
                record.toolLoop = loop
                // Each also asked for later replies, whose change was never the one kept.
                record.retries = .ran
                record.retryKept = false
                try await runs.insert(record)
            }
            // This project: four loops that kept nothing, one run of another model that kept its change.
            for _ in 0..<4 { try await task(f.project, kept: false) }
            try await task(f.project, kept: true, model: "gpt-4.1")
            // The sibling project and the rival tenant's project: loops that kept their changes.
            for _ in 0..<2 {
                try await task(sibling, kept: true)
                try await task(theirs, kept: true)
            }

            func history(_ project: Project) async throws -> [LoopGate.Past] {
                try await ProjectRunStore(base: runs, queue: f.store, tenantID: project.tenantID, projectID: project.id)
                    .gateHistory(.toolLoop, model: "qwen", provider: "local", limit: LoopGate.window)
            }
            let own = try await history(f.project)
            #expect(own == Array(repeating: LoopGate.Past(use: .ran, keptChange: false), count: 4))
            #expect(LoopGate.decide(.auto, history: own, model: "qwen") != .start)
            #expect(
                try await history(sibling) == Array(repeating: LoopGate.Past(use: .ran, keptChange: true), count: 2))
            #expect(try await history(theirs).count == 2)
            // Both stages come from one reading of the tasks, each by its own rule: the sibling's loops kept their
            // changes, its later replies did not.
            let both = try await ProjectRunStore(
                base: runs, queue: f.store, tenantID: f.tenant.id, projectID: sibling.id
            ).gateHistories([.toolLoop, .retries], model: "qwen", provider: "local", limit: LoopGate.window)
            #expect(both[.toolLoop] == Array(repeating: LoopGate.Past(use: .ran, keptChange: true), count: 2))
            #expect(both[.retries] == Array(repeating: LoopGate.Past(use: .ran, keptChange: false), count: 2))
            // The shared store alone keeps no record; the limit holds.
            #expect(try await runs.gateHistory(.toolLoop, model: "qwen", provider: "local", limit: 20).isEmpty)
            let two = try await ProjectRunStore(
                base: runs, queue: f.store, tenantID: f.tenant.id, projectID: f.project.id
            ).gateHistory(.toolLoop, model: "qwen", provider: "local", limit: 2)
            #expect(two.count == 2)
            // Behind more tasks than a store gives in one page (runs that ended before the loop), the record is
            // still found: the gate's probes are up to `LoopGate.maxInterval` runs apart.
            for _ in 0..<201 { try await task(f.project, kept: false, loop: nil) }
            #expect(try await history(f.project) == own)
        }
    }

    /// The server's run store on `kind`, as `TeamServer` pairs it with the queue: SQLite beside the embedded queue,
    /// PostgreSQL beside PostgreSQL's.
    static func runStore(_ f: QueueTests.Fixture, kind: QueueTests.Kind, directory: String) throws -> any RunStore {
        switch kind {
        case .sqlite: return try SQLiteRunStore(path: directory + "/runs.sqlite", sharedByTenants: true)
        case .postgres: return PostgresRunStore(try #require(f.store as? PostgresServerStore))
        }
    }

    /// The worker reads a page of tasks' runs at once: exact ids only (a prefix of one is not a match), unknown ids
    /// left out, each run once.
    @Test(arguments: QueueTests.Kind.allCases)
    func runsAreReadManyAtOnceByTheirExactIds(kind: QueueTests.Kind) async throws {
        try await QueueTests.withFixture(kind) { f in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-run-batch-\(UUID().uuidString.prefix(8))"
            ).path
            let runs = try Self.runStore(f, kind: kind, directory: dir)
            for id in ["run-a1", "run-a2", "run-b1"] {
                try await runs.insert(
                    RunRecord(
                        id: id, repo: "/tmp/shop", base: "b", branch: "ferry/\(id)", task: "t", model: "qwen",
                        provider: "local", sandbox: "bubblewrap", runDirectory: dir + "/" + id,
                        createdAt: QueueTests.t0))
            }
            let found = try await runs.runs(ids: ["run-b1", "run-a1", "run-a", "run-missing", "run-a1"])
            #expect(Set(found.map(\.id)) == ["run-a1", "run-b1"])
            #expect(found.count == 2)
            #expect(try await runs.runs(ids: []).isEmpty)
        }
    }
}
