import AsyncHTTPClient
import FerryCore
import FerryServerStore
import Foundation
import Logging
import NIOCore

/// Pushes each tenant's audit entries to its sink, in order, at least once: up to 500 entries a POST as JSON lines
/// (`AuditLine`, the export's form), signed like webhooks (`X-Ferry-Signature` over the body with the sink's
/// secret), `X-Ferry-Event: audit.entries`, and `X-Ferry-Audit-After` / `X-Ferry-Audit-Last` naming the batch. A
/// sink advances only on a 2xx; a failure waits (5 s doubling to 5 minutes) and the same entries go again, so a
/// receiver deduplicates by `seq`. The host is checked by the egress policy at every push.
public struct AuditSinkPusher: Sendable {
    public let store: any AuditStore
    let egress: EgressPolicy
    let secrets: SecretBox?
    var pollSeconds = 2.0
    var batch = 500
    let logger = Logger(label: "ferry.audit")

    public init(store: any AuditStore, egress: EgressPolicy, secrets: SecretBox?, pollSeconds: Double = 2) {
        self.store = store
        self.egress = egress
        self.secrets = secrets
        self.pollSeconds = pollSeconds
    }

    public func run() async {
        while !Task.isCancelled {
            do {
                if try await pushOnce(now: Date()) > 0 { continue }
            } catch {
                if Task.isCancelled { break }
                logger.error("audit push step failed", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: .milliseconds(Int(pollSeconds * 1000)))
        }
    }

    /// One round over the sinks that are due; how many entries were delivered.
    @discardableResult
    public func pushOnce(now: Date) async throws -> Int {
        var delivered = 0
        for sink in try await store.auditSinks() where sink.nextAt <= now {
            let entries = try await store.auditChain(tenantID: sink.tenantID, after: sink.after, limit: batch)
            guard let last = entries.last else { continue }
            do {
                try await send(entries, to: sink)
                try await store.recordAuditPush(tenantID: sink.tenantID, after: last.seq, error: nil, retryAt: nil)
                delivered += entries.count
            } catch {
                let wait = min(300, 5 * pow(2, Double(min(sink.failures, 6))))
                let reason = (error as? DeliveryFailure)?.rawValue ?? "\(error)"
                try await store.recordAuditPush(
                    tenantID: sink.tenantID, after: nil, error: reason, retryAt: now.addingTimeInterval(wait))
            }
        }
        return delivered
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    func send(_ entries: [AuditEntry], to sink: AuditSink) async throws {
        let target: EgressPolicy.Target
        do { target = try await egress.check(url: sink.url) } catch { throw DeliveryFailure.refused }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.dnsOverride = [target.host: target.address]
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(15))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let body = entries.map { AuditLine.line($0) + "\n" }.joined()
            var request = HTTPClientRequest(url: sink.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-ndjson")
            request.headers.add(name: "X-Ferry-Event", value: "audit.entries")
            request.headers.add(name: "X-Ferry-Audit-After", value: String(entries[0].seq - 1))
            request.headers.add(name: "X-Ferry-Audit-Last", value: String(entries[entries.count - 1].seq))
            let secret: String
            do { secret = try secrets?.open(sink.secret) ?? sink.secret } catch { throw DeliveryFailure.secret }
            request.headers.add(name: "X-Ferry-Signature", value: Webhooks.signature(body, secret: secret))
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await client.execute(request, timeout: .seconds(15))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            try? await client.shutdown()
            guard (200..<300).contains(response.status.code) else {
                throw Refused(description: "HTTP \(response.status.code)")
            }
        } catch {
            try? await client.shutdown()
            throw error is Refused || error is DeliveryFailure ? error : DeliveryFailure(error)
        }
    }
}
