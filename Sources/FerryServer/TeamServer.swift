import FerryAgent
import FerryCore
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// A team server: the store, the API and in-process workers. Embedded, everything lives under
/// `$XDG_DATA_HOME/ferry/server/`; scaled out, the queue, the runs and their events live in PostgreSQL and only the
/// admin key file and the runs' worktrees are local.
public struct TeamServer: Sendable {
    public let dataDirectory: String
    public let store: any ServerStore
    public let runStore: any RunStore
    /// What tenants may point this server at (`ServerPolicy`): by default git URLs to public hosts only, with the
    /// data directory and Ferry's own folders protected.
    public let policy: ServerPolicy
    /// Seals webhook secrets before they are stored (`SecretBox`).
    public let secrets: SecretBox
    /// What the operator's scraper sends for `/metrics`.
    public let metricsToken: String
    public var metricsTokenPath: String { dataDirectory + "/metrics.token" }
    /// How long audit entries are kept (`[server] audit_retention_days`); nil keeps them for ever.
    public var auditRetentionDays: Int?
    /// Each tenant's group-to-role mapping (`[server.oidc.TENANT]`), which SCIM's group changes apply.
    public var groupRoles: [String: OIDCSettings] = [:]
    /// How the server reaches forges (`[server.github_app]`, `[server.gitlab]`), and its address for links in them.
    public var forgeSettings = ForgeSettings()
    public var publicURL: String?
    /// The operator's config, for what the server runs on its own (the accuracy watches' runs).
    public var operatorConfig: FerryConfig?
    /// A new holder of the forges' credentials: each caches its own installation tokens, so a process makes one for
    /// its workers and one for its publisher, and keeps them.
    public func makeForgeAccess() -> ForgeAccess { ForgeAccess(settings: forgeSettings, box: secrets) }

    /// The embedded server on SQLite.
    public init(dataDirectory: String, policy: ServerPolicy? = nil) throws {
        try Self.makePrivate(dataDirectory)
        try self.init(
            dataDirectory: dataDirectory, store: try SQLiteServerStore(path: dataDirectory + "/server.sqlite"),
            runStore: try SQLiteRunStore(path: dataDirectory + "/runs.sqlite", sharedByTenants: true), policy: policy)
    }

    public init(dataDirectory: String, store: any ServerStore, runStore: any RunStore, policy: ServerPolicy? = nil)
        throws
    {
        self.dataDirectory = dataDirectory
        self.store = store
        self.runStore = runStore
        self.policy = policy ?? .server(projectRoots: [], allowHosts: [], dataDirectory: dataDirectory)
        secrets = try SecretBox.load(dataDirectory: dataDirectory)
        metricsToken = try Self.metricsToken(dataDirectory: dataDirectory)
        // Stores made before the data directory was private keep their old modes: only the server's user may read
        // them (they hold tenants' code in indexes, task diffs and secrets).
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: dataDirectory)) ?? [] {
            var isDirectory: ObjCBool = false
            let path = dataDirectory + "/" + name
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            try? fm.setAttributes([.posixPermissions: isDirectory.boolValue ? 0o700 : 0o600], ofItemAtPath: path)
        }
    }

    /// The server on PostgreSQL at `url`, for the scope of `body`: the database client runs as a child of it and
    /// stops when `body` ends (`ferry serve`, `ferry worker` and `ferry tenants` run inside it).
    public static func withPostgres<T: Sendable>(
        url: String, dataDirectory: String, policy: ServerPolicy? = nil,
        _ body: @Sendable (TeamServer) async throws -> T
    ) async throws -> T {
        try makePrivate(dataDirectory)
        return try await PostgresServerStore.withStore(url: url) { store in
            try await body(
                try TeamServer(
                    dataDirectory: dataDirectory, store: store, runStore: PostgresRunStore(store), policy: policy))
        }
    }

    /// `$FERRY_METRICS_TOKEN`, else `metrics.token` in the data directory (made on first start, 0600).
    static func metricsToken(dataDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> String
    {
        if let token = environment["FERRY_METRICS_TOKEN"], !token.isEmpty { return token }
        return try SecretFile.readOrCreate(dataDirectory + "/metrics.token") { ServerIDs.secret("fm_") }
    }

    /// The data directory holds tenants' code, indexes, stores and secrets: only the server's user may read it
    /// (0700, and new files 0600 through the process's umask, which `ferry serve` sets).
    static func makePrivate(_ directory: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
    }

    public var adminKeyPath: String { dataDirectory + "/admin.key" }

    /// On first start: the tenant `default` and an admin key, written to `admin.key` (mode 0600). Returns the key
    /// when it was made now, nil when the tenant already existed.
    public func bootstrap() async throws -> String? {
        guard try await store.tenant(named: "default") == nil else { return nil }
        let tenant = try await store.createTenant(name: "default")
        let (_, key) = try await store.createKey(tenantID: tenant.id, role: .admin)
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: adminKeyPath, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return key
    }

    /// Closes the runs of this machine whose process died mid-run (a server or worker killed): `interrupted`, with
    /// their partial change committed. Their tasks come back through the queue's rescue. Runs of other machines and
    /// of live processes are left alone.
    @discardableResult
    public func reconcileRuns(secrets: [String]) async -> Int {
        (try? await RunReconciler(store: runStore, redactor: Redactor(secrets: secrets)).reconcile().count) ?? 0
    }

    /// Serves the API (and `pages`) on `host:port` and runs `workers` until the service is told to stop (SIGTERM/SIGINT when
    /// `signals` has them). `onListening` gets the bound port.
    public func run(
        host: String = "127.0.0.1", port: Int, workers: [Worker], webhooks: WebhookDispatcher? = nil,
        signals: [UnixSignal] = [.sigterm, .sigint], logger: Logger? = nil, models: ModelPool? = nil,
        pages: (any ServerPages)? = nil, onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        let logger =
            logger
            ?? {
                var quiet = Logger(label: "ferry.serve")
                quiet.logLevel = .warning
                return quiet
            }()
        // The API under /v1 and the pages (the dashboard, when the caller adds it) at /.
        let api = ServerAPI(
            store: store, runStore: runStore, policy: policy, secrets: secrets, metricsToken: metricsToken,
            groupRoles: groupRoles, forges: forgeSettings)
        let router = api.router()
        pages?.addRoutes(to: router)
        // The assistant surfaces answer with this process's models: MCP over streamable HTTP and the OpenAI-style chat.
        let sessions = models.map {
            McpSessions(
                assist: ServerAssist(
                    store: store, runStore: runStore, models: $0, dataDirectory: dataDirectory, policy: policy))
        }
        if let sessions {
            let assist = sessions.assist
            for method in [HTTPRequest.Method.post, .get, .delete] {
                router.on("/mcp", method: method) { request, _ in
                    try await ServerAPI.mcpRoute(sessions, api: api, request: request)
                }
            }
            router.post("/v1/chat/completions") { request, _ in
                try await api.handle { try await ServerAPI.chatCompletions(assist, api: api, request: request) }
            }
            router.get("/v1/models") { request, _ in
                try await api.handle { try await ServerAPI.listModels(assist, api: api, request: request) }
            }
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) }, logger: logger)
        // The API stopping (a signal, or the caller's cancellation) stops the rest: the API is last in the group, so
        // it shuts down first, then the workers, whose running attempts are handed back to the queue.
        var services = backgroundServices(workers: workers, webhooks: webhooks, models: models)
        services.append(.init(service: app, successTerminationBehavior: .gracefullyShutdownGroup))
        do {
            try await Self.runGroup(services, signals: signals, logger: logger)
        } catch {
            await sessions?.shutdown()
            throw error
        }
        await sessions?.shutdown()
    }
}

/// Pages served beside the API at `/` (the dashboard, FerryDashboard): routes added to the server's router, under
/// the same context, so they read the same principal and problem rules.
public protocol ServerPages: Sendable {
    func addRoutes(to router: Router<ServerContext>)
}
