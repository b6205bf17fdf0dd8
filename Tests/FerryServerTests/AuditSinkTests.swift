import FerryCore
import FerryTesting
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// The audit sink on both stores: a tenant's entries reach its URL in order, signed, as export lines that check out;
/// a failing receiver gets the same entries again; another tenant's entries never go there.
@Suite struct AuditSinkTests {
    @Test(arguments: QueueTests.Kind.allCases)
    func entriesArePushedInOrderSignedAndAgainAfterAFailure(kind: QueueTests.Kind) async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-sink-\(UUID().uuidString.prefix(8))"
        ).path
        try await WebhookTests.withReceiver(failFirst: 1) { url, receiver in
            try await ServerAPITests.withServer(kind, data: data) { server in
                let admin = try #require(try await server.bootstrap())
                let tenant = try #require(try await server.store.tenant(named: "default"))
                let other = try await server.store.createTenant(name: "other")
                try await server.serving { port in
                    let client = ServerAPITests.Client(port: port)
                    #expect(try await client.send(.GET, "/v1/audit/sink", key: admin).status == 404)
                    let refused = try await client.send(
                        .PUT, "/v1/audit/sink", key: admin, body: ["url": "http://169.254.169.254/latest"])
                    #expect(refused.status == 422, "the egress rule applies: \(refused.body)")
                    // Some activity in both tenants, then the sink, from the chain's start.
                    for name in ["a", "b"] {
                        _ = try await client.send(.PUT, "/v1/budgets/tenant", key: admin, body: ["monthly_usd": 5])
                        try await server.store.audit(
                            AuditEntry(
                                tenantID: other.id, keyID: "key_x", action: "secret.\(name)", object: "x", detail: "",
                                remote: nil, at: Date()))
                    }
                    let set = try await client.send(
                        .PUT, "/v1/audit/sink", key: admin, body: ["url": .string(url), "from_start": true])
                    #expect(set.status == 200, "\(set.body)")
                    let secret = try #require(set.json["secret"]?.stringValue)
                    // The server's own pusher: the first push fails (the receiver answers 500), so nothing advances
                    // and the same entries go again after the backoff.
                    func waitFor(_ calls: Int) async throws {
                        let started = ContinuousClock.now
                        while receiver.calls.withLock({ $0.count }) < calls,
                            ContinuousClock.now - started < .seconds(60)
                        {
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                    try await waitFor(2)
                    let calls = receiver.calls.withLock { $0 }
                    // The retry starts where the failed push started (a push may carry more if more was written).
                    let firstSeqs = try calls.map { try AuditLine.entry($0.body.split(separator: "\n")[0]).seq }
                    #expect(calls.count == 2 && firstSeqs == [1, 1], "the failed batch again: \(firstSeqs)")
                    let last = try #require(calls.last)
                    #expect(last.signature == Webhooks.signature(last.body, secret: secret))
                    let entries = try last.body.split(separator: "\n").map { try AuditLine.entry($0) }
                    #expect(entries.map(\.seq) == [1, 2, 3] && AuditChain.verify(entries).intact)
                    #expect(entries.allSatisfy { $0.tenantID == tenant.id }, "another tenant's entries never go there")
                    #expect(entries.map(\.action) == ["budget.set", "budget.set", "audit.sink.set"])
                    // Later entries follow, from where the push got to.
                    _ = try await client.send(.PUT, "/v1/budgets/tenant", key: admin, body: ["monthly_usd": 6])
                    try await waitFor(3)
                    let next = try #require(receiver.calls.withLock { $0 }.last)
                    #expect(try AuditLine.entry(next.body.split(separator: "\n")[0]).seq == 4)
                    // The push is recorded once the receiver has answered.
                    var after = try await client.send(.GET, "/v1/audit/sink", key: admin)
                    for _ in 0..<100 where after.json["delivered_through"] != 4 {
                        try await Task.sleep(for: .milliseconds(100))
                        after = try await client.send(.GET, "/v1/audit/sink", key: admin)
                    }
                    #expect(after.json["delivered_through"] == 4 && after.json["pending"] == 0, "\(after.body)")
                    #expect(try await client.send(.DELETE, "/v1/audit/sink", key: admin).status == 204)
                }
            }
        }
    }
}
