import ArgumentParser
import FerryAgent
import FerryCore
import FerryDashboard
import FerryModels
import FerryServer
import Foundation
import Logging

/// `ferry serve`: the team server on one machine — the API and in-process workers on the embedded store.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the team server: an HTTP API, a durable task queue and workers.")

    @Option(help: "The port to listen on.") var port = 8787
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "Workers in this process.") var workers = 2
    @Option(help: "postgres://user:password@host:port/database (default: the embedded SQLite store).") var database:
        String?
    @OptionGroup var queue: QueueOptions
    @OptionGroup var projects: ProjectOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        ServerLogging.bootstrap(format: queue.logFormat, level: queue.logLevel, environment: environment)
        guard workers >= 0, port >= 0, port < 65_536 else {
            throw FerryError(.usage, "--workers must be 0 or more and --port 0–65535")
        }
        let policy = try queue.policy()
        var config = try ConfigLoader.load(repo: nil, environment: environment)
        try config.validate()
        projects.apply(to: &config)
        let settled = config
        try await Self.withServer(database: database, config: settled, environment: environment) { server in
            try await serve(server, config: settled, policy: policy, environment: environment)
        }
    }

    /// The API and this process's workers until SIGTERM or SIGINT.
    func serve(_ server: TeamServer, config: FerryConfig, policy: QueuePolicy, environment: [String: String])
        async throws
    {
        if let key = try await server.bootstrap() {
            print(
                "ferry serve: created tenant \"default\" with an admin key (shown once; also in \(server.adminKeyPath)):"
            )
            print("  \(key)")
        }
        await server.reconcileRuns(secrets: Redactor.secrets(in: environment))
        let models = ModelPool(config: config, environment: environment)
        let pool = Self.workers(
            workers, server: server, config: config,
            policy: policy, environment: environment,
            models: models)
        let logger = Logger(label: "ferry.serve")
        let dashboard = try await Dashboard(
            store: server.store, runStore: server.runStore, policy: server.policy, secrets: server.secrets,
            providers: try Self.identityProviders(config, environment: environment))
        // The model clients close, and the embedded model's server (if a task started one) stops, as the last of the
        // server's services.
        try await server.run(
            host: host, port: port, workers: pool, logger: logger, models: models, pages: dashboard
        ) { bound in
            logger.info(
                "listening",
                metadata: ["url": .string("http://\(host):\(bound)"), "workers": .stringConvertible(workers)])
            print(
                "ferry serve: listening on http://\(host):\(bound) with \(workers) worker(s); data in \(server.dataDirectory)"
            )
            fflush(nil)
        }
    }

    /// Each tenant's identity provider from `[server.oidc.TENANT]`, its client secret read from the environment
    /// when the config names a variable.
    static func identityProviders(_ config: FerryConfig, environment: [String: String]) throws -> [OIDCProvider] {
        try config.oidc.keys.sorted().map { tenant in
            var settings = config.oidc[tenant]!
            if let name = settings.clientSecretEnv {
                guard let value = environment[name], !value.isEmpty else {
                    throw FerryError(
                        .config, "[server.oidc.\(tenant)] client_secret_env names $\(name), which is not set")
                }
                settings.clientSecret = value
            }
            return try OIDCProvider(tenant: tenant, settings: settings)
        }
    }

    static func dataDirectory(_ environment: [String: String]) -> String {
        FerryPaths.data(environment: environment) + "/server"
    }

    /// The server for the scope of `body`: on PostgreSQL (whose client runs as a child of the scope) or on the
    /// embedded store.
    static func withServer<T: Sendable>(
        database: String?, config: FerryConfig, environment: [String: String],
        _ body: @Sendable (TeamServer) async throws -> T
    ) async throws -> T {
        // Everything the server writes (stores, indexes, clones, keys, logs) is for its own user only.
        umask(0o077)
        let data = dataDirectory(environment)
        let policy = ServerPolicy.server(
            projectRoots: config.projectRoots, allowHosts: config.allowHosts, dataDirectory: data,
            environment: environment)
        let settle: @Sendable (inout TeamServer) -> Void = { server in
            server.auditRetentionDays = config.auditRetentionDays
            server.groupRoles = config.oidc
            server.forgeSettings = config.forges
            server.publicURL = config.publicURL
            server.operatorConfig = config
        }
        if let database {
            return try await TeamServer.withPostgres(url: database, dataDirectory: data, policy: policy) { server in
                var server = server
                settle(&server)
                return try await body(server)
            }
        }
        var server = try TeamServer(dataDirectory: data, policy: policy)
        settle(&server)
        return try await body(server)
    }

    static func workers(
        _ count: Int, server: TeamServer, config: FerryConfig, policy: QueuePolicy, environment: [String: String],
        models: ModelPool
    ) -> [Worker] {
        let secrets = Redactor.secrets(in: environment)
        let forges = server.makeForgeAccess()
        return (0..<count).map { index in
            Worker(
                id: "\(ProcessIdentity.current.host):\(ProcessIdentity.current.pid)/w\(index + 1)", store: server.store,
                runStore: server.runStore,
                config: config, policy: policy, secrets: secrets, logger: Logger(label: "ferry.worker"),
                projects: server.policy, forges: forges,
                makeModel: { name in try await models.model(named: name) })
        }
    }
}

/// `ferry worker --database URL`: workers on another machine, taking tasks from the shared PostgreSQL queue.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run workers that take tasks from a team server's PostgreSQL queue.")

    @Option(help: "postgres://user:password@host:port/database") var database: String
    @Option(help: "Workers in this process.") var workers = 1
    @OptionGroup var queue: QueueOptions
    @OptionGroup var projects: ProjectOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        ServerLogging.bootstrap(format: queue.logFormat, level: queue.logLevel, environment: environment)
        guard workers >= 1 else { throw FerryError(.usage, "--workers must be 1 or more") }
        let policy = try queue.policy()
        var config = try ConfigLoader.load(repo: nil, environment: environment)
        try config.validate()
        projects.apply(to: &config)
        let (workers, settled) = (self.workers, config)
        try await ServeCommand.withServer(database: database, config: settled, environment: environment) { server in
            try await Self.work(workers, server: server, config: settled, policy: policy, environment: environment)
        }
    }

    /// `workers` workers with the background services until SIGTERM or SIGINT.
    static func work(
        _ workers: Int, server: TeamServer, config: FerryConfig, policy: QueuePolicy, environment: [String: String]
    ) async throws {
        await server.reconcileRuns(secrets: Redactor.secrets(in: environment))
        let models = ModelPool(config: config, environment: environment)
        let pool = ServeCommand.workers(
            workers, server: server, config: config,
            policy: policy, environment: environment,
            models: models)
        print(
            "ferry worker: \(workers) worker(s) on \(ProcessIdentity.current.host) (pid \(ProcessIdentity.current.pid))"
        )
        fflush(nil)
        // Until SIGTERM or SIGINT: then running attempts are handed back to the queue. Webhooks go out from here too,
        // under the same egress rule and signing key as the API server's (`$FERRY_SERVER_SECRET` on every machine).
        try await server.runWorkers(pool, models: models, logger: Logger(label: "ferry.worker"))
        print("ferry worker: stopped; running attempts were handed back to the queue")
    }
}

/// `ferry tenants create NAME`: a new tenant and its admin key, against the server's data directory.
struct TenantsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenants", abstract: "Manage the team server's tenants.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant and print its admin key (once).")
        @Argument(help: "The tenant's name.") var name: String
        @Option(help: "postgres://… (default: the embedded SQLite store).") var database: String?

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let name = self.name
            let key = try await ServeCommand.withServer(
                database: database, config: try ConfigLoader.load(repo: nil, environment: environment),
                environment: environment
            ) { server in
                guard try await server.store.tenant(named: name) == nil else {
                    throw FerryError(.usage, "a tenant named \(name) already exists")
                }
                let tenant = try await server.store.createTenant(name: name)
                return try await server.store.createKey(tenantID: tenant.id, role: .admin).key
            }
            print(key)
        }
    }
}

/// Where the server's tenants may point it, beyond git URLs to public hosts (added to `[server]` in the config).
struct ProjectOptions: ParsableArguments {
    @Option(
        name: .customLong("project-root"),
        help: "A folder whose repositories tenants may register by path (repeatable; [server] project_roots).")
    var roots: [String] = []
    @Option(
        name: .customLong("allow-host"),
        help:
            "A host name or address block (10.0.0.0/8) tenants' git URLs and webhooks may reach although it is not public (repeatable; [server] allow_hosts)."
    )
    var hosts: [String] = []

    func apply(to config: inout FerryConfig) {
        config.projectRoots += roots.map {
            URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath).standardizedFileURL.path
        }
        config.allowHosts += hosts
    }
}
