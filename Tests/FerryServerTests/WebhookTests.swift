import FerryCore
import FerryTesting
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// Webhooks: queued in the same transaction as the task's end, signed, retried after a failure, every attempt recorded.
@Suite struct WebhookTests {
    final class Receiver: Sendable {
        struct Call: Sendable {
            var body: String
            var signature: String?
            var delivery: String?
        }
        let calls = Mutex<[Call]>([])
        /// Status codes to answer with, in order; 200 after.
        let plan = Mutex<[Int]>([])
    }

    static func withReceiver<T: Sendable>(failFirst: Int, _ body: @Sendable (String, Receiver) async throws -> T)
        async throws -> T
    {
        let receiver = Receiver()
        receiver.plan.withLock { $0 = Array(repeating: 500, count: failFirst) }
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
            receiver.calls.withLock {
                $0.append(
                    .init(
                        body: text, signature: request.headers[HTTPField.Name("X-Ferry-Signature")!],
                        delivery: request.headers[HTTPField.Name("X-Ferry-Delivery")!]))
            }
            let status = receiver.plan.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
            return Response(status: .init(code: status))
        }
        var logger = Logger(label: "hook")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.runService(gracefulShutdownSignals: [])
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            defer { group.cancelAll() }
            return try await body("http://127.0.0.1:\(port)/hook", receiver)
        }!
    }

    @Test(arguments: QueueTests.Kind.allCases)
    func aTasksEndIsDeliveredSignedAndRetriedUntilTheReceiverTakesIt(kind: QueueTests.Kind) async throws {
        try await Self.withReceiver(failFirst: 1) { url, receiver in
            try await QueueTests.withFixture(kind) { f in
                let secret = Webhooks.newSecret()
                let project = try await f.store.createProject(
                    Project(
                        id: "prj_hook", tenantID: f.tenant.id, name: "hooked", repo: "/tmp/r", base: "main", model: nil,
                        testCommand: nil, createdAt: Date(), webhookURL: url, webhookSecret: secret))
                let (task, _) = try await f.store.createTask(
                    NewTask(projectID: project.id, task: "t"), tenantID: f.tenant.id, now: Date())
                let claimed = try #require(try await f.store.claim(worker: "w", now: Date(), policy: QueuePolicy()))
                #expect(claimed.id == task.id)
                let clock = Locked(Date())
                let dispatcher = WebhookDispatcher(
                    store: f.store, backoffBaseSeconds: 5, egress: EgressPolicy(allowed: ["127.0.0.1"])
                ) { clock.withLock { $0 } }
                // Nothing is queued before the task ends.
                #expect(try await !dispatcher.deliverOne())
                let outcome = TaskOutcome(
                    state: .verified, reason: "ok", runID: "r1", branch: "ferry/r1", commitSHA: "abc", costUSD: 0.5)
                let ended = clock.withLock { $0 }
                #expect(try await f.store.finish(id: task.id, attempt: 1, outcome: outcome, now: ended))
                // A stale finish queues nothing more.
                #expect(try await !f.store.finish(id: task.id, attempt: 1, outcome: outcome, now: ended))

                #expect(try await dispatcher.deliverOne())  // answered 500
                #expect(try await !dispatcher.deliverOne())  // not due yet: backing off 5 s
                clock.withLock { $0 = $0.addingTimeInterval(6) }
                #expect(try await dispatcher.deliverOne())  // answered 200
                #expect(try await !dispatcher.deliverOne())

                let calls = receiver.calls.withLock { $0 }
                #expect(calls.count == 2)
                for call in calls {
                    #expect(call.signature == Webhooks.signature(call.body, secret: secret))
                    #expect(call.delivery == calls[0].delivery)
                }
                let payload = try #require(JSONValue.parse(calls[0].body))
                #expect(payload["event"] == "task.finished" && payload["task"]?["status"] == "verified")
                #expect(payload["task"]?["branch"] == "ferry/r1" && payload["task"]?["cost_usd"] == .number(0.5))
                let recorded = try await f.store.deliveries(taskID: task.id, tenantID: f.tenant.id)
                #expect(recorded.count == 1 && recorded.first?.0.state == "delivered")
                #expect(recorded.first?.1.map(\.status) == [500, 200])
                #expect(recorded.first?.1.first?.error == "HTTP 500")
                let other = try await f.store.createTenant(name: "other")
                #expect(try await f.store.deliveries(taskID: task.id, tenantID: other.id).isEmpty)
            }
        }
    }

    /// A project whose webhook is `url` (secret "s") and one of its tasks, failed at `now`: one delivery queued.
    static func failedTask(hookedTo url: String, at now: Date) async throws -> (QueueTests.Fixture, ServerTask) {
        try await QueueTests.withFixture(.sqlite) { f in
            _ = try await f.store.createProject(
                Project(
                    id: "prj_hook", tenantID: f.tenant.id, name: "hooked", repo: "/tmp/r", base: "main", model: nil,
                    testCommand: nil, createdAt: Date(), webhookURL: url, webhookSecret: "s"))
            let (task, _) = try await f.store.createTask(
                NewTask(projectID: "prj_hook", task: "t"), tenantID: f.tenant.id, now: Date())
            _ = try await f.store.claim(worker: "w", now: Date(), policy: QueuePolicy())
            let outcome = TaskOutcome(state: .failed, reason: "no", runID: nil, branch: nil, commitSHA: nil, costUSD: 0)
            #expect(try await f.store.finish(id: task.id, attempt: 1, outcome: outcome, now: now))
            return (f, task)
        }
    }

    @Test func aReceiverThatNeverAnswersIsGivenUpOnAfterTheLastAttempt() async throws {
        try await Self.withReceiver(failFirst: 100) { url, _ in
            let clock = Locked(Date())
            let (f, task) = try await Self.failedTask(hookedTo: url, at: clock.withLock { $0 })
            var dispatcher = WebhookDispatcher(
                store: f.store, backoffBaseSeconds: 1, egress: EgressPolicy(allowed: ["127.0.0.1"])
            ) { clock.withLock { $0 } }
            dispatcher.maxAttempts = 3
            for _ in 0..<10 {
                _ = try await dispatcher.deliverOne()
                clock.withLock { $0 = $0.addingTimeInterval(60) }
            }
            let recorded = try #require(try await f.store.deliveries(taskID: task.id, tenantID: f.tenant.id).first)
            #expect(recorded.0.state == "failed" && recorded.1.count == 3)
        }
    }

    /// The egress rule holds at delivery, not only when the project was made: a webhook stored earlier (or allowed
    /// then) to a loopback receiver is never called under the default rule, and the delivery says why without
    /// saying what answered there.
    @Test func aDeliveryToAnAddressTheRuleRefusesIsNeverSent() async throws {
        try await Self.withReceiver(failFirst: 0) { url, receiver in
            let (f, task) = try await Self.failedTask(hookedTo: url, at: Date())
            let dispatcher = WebhookDispatcher(store: f.store, backoffBaseSeconds: 1)
            #expect(try await dispatcher.deliverOne())
            #expect(receiver.calls.withLock { $0.isEmpty })
            let recorded = try #require(try await f.store.deliveries(taskID: task.id, tenantID: f.tenant.id).first)
            #expect(recorded.1.first?.status == nil)
            #expect(recorded.1.first?.error == DeliveryFailure.refused.rawValue)
        }
    }
}
