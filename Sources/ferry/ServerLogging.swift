import ArgumentParser
import FerryCore
import FerryServer
import Logging

/// How `ferry serve` and `ferry worker` log: `--log-format json|text`, `--log-level`.
enum ServerLogging {
    enum Format: String, ExpressibleByArgument, CaseIterable { case json, text }

    struct Level: ExpressibleByArgument {
        let level: Logger.Level
        init?(argument: String) {
            guard let level = Logger.Level(rawValue: argument.lowercased()) else { return nil }
            self.level = level
        }
        static let info = Level(argument: "info")!
        var defaultValueDescription: String { level.rawValue }
    }

    /// JSON lines for log collectors (with every secret of the environment masked), or swift-log's text.
    static func bootstrap(format: Format, level: Level, environment: [String: String]) {
        let redactor = Redactor(secrets: Redactor.secrets(in: environment))
        LoggingSystem.bootstrap { label in
            switch format {
            case .json: return JSONLogHandler(label: label, level: level.level, redactor: redactor)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level.level
                return handler
            }
        }
    }

}

/// What `ferry serve` and `ferry worker` share: the queue's lease and tenant cap, and how they log.
struct QueueOptions: ParsableArguments {
    @Option(help: "Seconds a claim holds without a heartbeat.") var leaseSeconds = 60.0
    @Option(help: "The most tasks of one tenant running at once (default: no cap).") var tenantConcurrency: Int?
    @Option(help: "Logs on standard error: json (one object per line) or text.") var logFormat: ServerLogging.Format =
        .json
    @Option(help: "The least severe log level written: trace, debug, info, notice, warning, error or critical.")
    var logLevel: ServerLogging.Level = .info

    func policy() throws -> QueuePolicy {
        guard leaseSeconds >= 3, (tenantConcurrency ?? 1) >= 1 else {
            throw FerryError(.usage, "--lease-seconds must be at least 3 and --tenant-concurrency at least 1")
        }
        return QueuePolicy(leaseSeconds: leaseSeconds, tenantConcurrency: tenantConcurrency)
    }
}
