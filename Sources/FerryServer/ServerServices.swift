import FerryAgent
import FerryServerStore
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// A loop that runs until its process stops, as a service of a `ServiceGroup`: graceful shutdown (a signal, or the
/// API stopping) cancels it, and each loop ends its own way on cancellation (a worker hands its running attempt back
/// to the queue).
struct LoopService: Service, CustomStringConvertible {
    let description: String
    let body: @Sendable () async -> Void

    func run() async throws {
        try await cancelWhenGracefulShutdown { await body() }
    }
}

/// Work for the group's end, as a service placed before the ones that need it: it waits for the group to shut down
/// (or be cancelled), and runs once every service after it in the list has stopped.
struct ShutdownService: Service, CustomStringConvertible {
    let description: String
    let body: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await body()
    }
}

/// Removes audit entries older than the retention, once at start and then daily, and records that it did in each
/// tenant's chain (surface `system`), so a gap in an export is explained by the chain itself.
struct AuditRetention: Sendable {
    let store: any ServerStore
    let days: Int
    var logger = Logger(label: "ferry.audit")

    func run() async {
        while !Task.isCancelled {
            await pruneOnce(now: Date())
            try? await Task.sleep(for: .seconds(86_400))
        }
    }

    @discardableResult
    func pruneOnce(now: Date) async -> Int {
        let cutoff = now.addingTimeInterval(-Double(days) * 86_400)
        do {
            let before = try await store.auditedTenants()
            var starts: [String: Int] = [:]
            for tenant in before { starts[tenant] = try await store.auditHead(tenantID: tenant).startSeq }
            let removed = try await store.pruneAudit(before: cutoff)
            guard removed > 0 else { return 0 }
            for tenant in before {
                let head = try await store.auditHead(tenantID: tenant)
                guard head.startSeq != starts[tenant] else { continue }
                try await store.audit(
                    AuditEntry(
                        tenantID: tenant, keyID: "system", surface: .system, action: "audit.prune", object: tenant,
                        detail: "entries through \(head.startSeq) removed (older than \(days) days)", remote: nil,
                        at: now))
            }
            logger.info("audit entries removed", metadata: ["removed": "\(removed)", "days": "\(days)"])
            return removed
        } catch {
            logger.error("audit retention failed", metadata: ["error": "\(error)"])
            return 0
        }
    }
}

extension TeamServer {
    /// What a server process runs besides its API: its workers, the listener that wakes them when another process
    /// queues a task, and the webhook dispatcher (the outbox is shared; claims keep each send single). `ferry serve`
    /// runs them under its API; `ferry worker` runs them alone.
    /// `models` (the process's model clients and the embedded model's server) stop last, after every worker.
    public func backgroundServices(workers: [Worker], webhooks: WebhookDispatcher? = nil, models: ModelPool? = nil)
        -> [ServiceGroupConfiguration.ServiceConfiguration]
    {
        let store = store
        let dispatcher = webhooks ?? WebhookDispatcher(store: store, egress: policy.egress, secrets: secrets)
        var first: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let models {
            first.append(
                .init(
                    service: ShutdownService(description: "models") { await models.shutdown() },
                    successTerminationBehavior: .ignore))
        }
        var loops = [LoopService(description: "webhooks") { await dispatcher.run() }]
        let pusher = AuditSinkPusher(store: store, egress: policy.egress, secrets: secrets)
        loops.append(LoopService(description: "audit sinks") { await pusher.run() })
        let publisher = ForgePublisher(
            store: store, runStore: runStore, access: makeForgeAccess(), publicURL: publicURL)
        loops.append(LoopService(description: "forge publisher") { await publisher.run() })
        if let models, let config = operatorConfig {
            let watch = AccuracyWatch(
                store: store, runStore: runStore, dataDirectory: dataDirectory, policy: policy, config: config,
                makeModel: { try await models.model(named: $0) })
            loops.append(LoopService(description: "accuracy watch") { await watch.run() })
        }
        if let days = auditRetentionDays {
            let retention = AuditRetention(store: store, days: days)
            loops.append(LoopService(description: "audit retention") { await retention.run() })
        }
        if !workers.isEmpty {
            loops.append(LoopService(description: "work signal") { await store.listenForWork() })
        }
        loops += workers.map { worker in LoopService(description: "worker \(worker.id)") { await worker.run() } }
        return first + loops.map { .init(service: $0, successTerminationBehavior: .ignore) }
    }

    /// Runs `services` in one `ServiceGroup` until a signal in `signals` or the caller's cancellation; the services
    /// stop in the reverse of their order (the API first, then the workers, whose attempts go back to the queue).
    static func runGroup(
        _ services: [ServiceGroupConfiguration.ServiceConfiguration], signals: [UnixSignal], logger: Logger
    ) async throws {
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: signals, logger: logger))
        try await group.run()
    }

    /// Runs `workers` (with the work listener and the webhook dispatcher) without an API, until SIGTERM or SIGINT
    /// (or the caller's cancellation): `ferry worker`.
    public func runWorkers(
        _ workers: [Worker], models: ModelPool? = nil, signals: [UnixSignal] = [.sigterm, .sigint], logger: Logger
    ) async throws {
        try await Self.runGroup(
            backgroundServices(workers: workers, models: models), signals: signals, logger: logger)
    }
}
