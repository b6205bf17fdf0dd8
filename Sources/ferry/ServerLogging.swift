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
