import AsyncHTTPClient
import FerryCore
import FerryServerStore
import Foundation
import Logging
import NIOCore

/// Delivers the outbox: claims a due delivery (a lease, so two dispatchers never send the same one at once), POSTs it
/// signed, records the attempt, and retries failures with exponential backoff up to `maxAttempts`.
public struct WebhookDispatcher: Sendable {
    public let store: any WebhookOutbox
    public var maxAttempts = 6
    public var backoffBaseSeconds = 2.0
    public var timeoutSeconds = 10.0
    public var pollSeconds = 1.0
    let logger = Logger(label: "ferry.webhooks")
    /// The time (tests move it on instead of waiting).
    let now: @Sendable () -> Date
    /// Where deliveries may go: checked at each attempt, on the address then connected to.
    let egress: EgressPolicy
    /// Opens the stored (sealed) signing secrets.
    let secrets: SecretBox?

    public init(
        store: any WebhookOutbox, backoffBaseSeconds: Double = 2, pollSeconds: Double = 1,
        egress: EgressPolicy = EgressPolicy(),
        secrets: SecretBox? = nil, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.store = store
        self.egress = egress
        self.secrets = secrets
        self.backoffBaseSeconds = backoffBaseSeconds
        self.pollSeconds = pollSeconds
        self.now = now
    }

    public func run() async {
        while !Task.isCancelled {
            do {
                if try await deliverOne() { continue }
            } catch {
                if Task.isCancelled { break }
                logger.error("webhook delivery step failed", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: .milliseconds(Int(pollSeconds * 1000)))
        }
    }

    /// Sends one due delivery; false when none was due.
    public func deliverOne() async throws -> Bool {
        guard let delivery = try await store.claimDelivery(now: now(), leaseSeconds: timeoutSeconds * 3) else {
            return false
        }
        var status: Int?
        var failure: String?
        do {
            // The host is resolved and checked now, and the client connects to exactly the address that passed
            // (`dnsOverride` keeps TLS checking the name); redirects are not followed.
            let target: EgressPolicy.Target
            do {
                target = try await egress.check(url: delivery.url)
            } catch {
                throw DeliveryFailure.refused
            }
            status = try await send(delivery, to: target)
        } catch {
            failure = DeliveryFailure(error).rawValue
        }
        let ok = status.map { (200..<300).contains($0) } ?? false
        let next: Date? =
            ok || delivery.attempts >= maxAttempts
            ? nil : now().addingTimeInterval(backoffBaseSeconds * pow(2, Double(delivery.attempts - 1)))
        try await store.recordDelivery(
            id: delivery.id, attempt: delivery.attempts, status: status,
            error: failure ?? (ok ? nil : "HTTP \(status ?? 0)"), delivered: ok, retryAt: next, now: now())
        return true
    }
}

extension WebhookDispatcher {
    /// One POST to the checked address; the HTTP status.
    func send(_ delivery: Delivery, to target: EgressPolicy.Target) async throws -> Int {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.dnsOverride = [target.host: target.address]
        configuration.timeout = .init(connect: .seconds(5), read: .milliseconds(Int64(timeoutSeconds * 1000)))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            var request = HTTPClientRequest(url: delivery.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(
                name: "X-Ferry-Event",
                value: JSONValue.parse(delivery.payload)?["event"]?.stringValue ?? "task.finished")
            request.headers.add(name: "X-Ferry-Delivery", value: delivery.id)
            let secret = try secrets?.open(delivery.secret) ?? delivery.secret
            request.headers.add(name: "X-Ferry-Signature", value: Webhooks.signature(delivery.payload, secret: secret))
            request.body = .bytes(ByteBuffer(string: delivery.payload))
            let response = try await client.execute(request, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            try? await client.shutdown()
            return Int(response.status.code)
        } catch {
            try? await client.shutdown()
            logger.info(
                "webhook delivery failed", metadata: ["delivery": .string(delivery.id), "error": .string("\(error)")])
            throw error
        }
    }
}

/// Why a delivery failed, in words that say what to fix without telling a tenant what is behind the server (which
/// ports refuse, which names resolve inside): the raw error goes to the server's log only.
enum DeliveryFailure: String, Error {
    case refused =
        "the URL's host is not an address this server may call (public addresses only, unless its operator allows more)"
    case timeout = "no answer in time"
    case tls = "the TLS handshake failed"
    case connect = "could not connect"
    case secret =
        "the server could not open this webhook's signing secret (its key changed); its operator's log says more"

    init(_ error: any Error) {
        if let failure = error as? DeliveryFailure {
            self = failure
            return
        }
        if error is FerryError {
            self = .secret
            return
        }
        let text = "\(error)".lowercased()
        if text.contains("timeout") || text.contains("deadline") {
            self = .timeout
        } else if text.contains("ssl") || text.contains("tls") || text.contains("certificate")
            || text.contains("handshake")
        {
            self = .tls
        } else {
            self = .connect
        }
    }
}
