import ArgumentParser
import FerryAgent
import FerryCore
import FerryServer
import Foundation

/// `ferry audit verify`: checks the team server's audit chains as stored, or an export of one.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Check the team server's audit trail.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check audit chains: the server's (every tenant, or --tenant) or an export (--file).",
            discussion: """
                Each entry holds sha256(the previous entry's hash + its canonical JSON). An edited, deleted or \
                reordered entry breaks the chain; the check names where and exits 1. An export (GET \
                /v1/audit/export) can be checked anywhere: --after anchors where it starts, --head where it must \
                end (keep the last line of each export to catch a rewritten tail).
                """)
        @Option(help: "postgres://… (default: the embedded SQLite store).") var database: String?
        @Option(help: "Only this tenant (its name).") var tenant: String?
        @Option(help: "Check a JSON-lines export instead of the server's store.") var file: String?
        @Option(help: "SEQ:HASH the export starts after (default: the genesis, or its first entry's link).")
        var after: String?
        @Option(help: "SEQ:HASH the export must end at.") var head: String?

        func run() async throws {
            let intact: Bool
            if let file {
                intact = try checkFile(file)
            } else {
                let environment = ProcessInfo.processInfo.environment
                let tenant = self.tenant
                intact = try await ServeCommand.withServer(
                    database: database, config: try ConfigLoader.load(repo: nil, environment: environment),
                    environment: environment
                ) { server in
                    var tenants = try await server.store.auditedTenants()
                    if let tenant {
                        guard let found = try await server.store.tenant(named: tenant) else {
                            throw FerryError(.usage, "no tenant named \(tenant)")
                        }
                        tenants = [found.id]
                    }
                    var intact = true
                    for id in tenants {
                        let (report, start) = try await ServerAPI.checkChain(server.store, tenantID: id)
                        Self.print(report, label: "tenant \(id)", start: start)
                        intact = intact && report.intact
                    }
                    if tenants.isEmpty { Swift.print("no audit entries yet") }
                    return intact
                }
            }
            if !intact { throw ExitCode(1) }
        }

        func checkFile(_ path: String) throws -> Bool {
            guard let text = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) })
            else { throw FerryError(.usage, "cannot read \(path)") }
            var entries: [AuditEntry] = []
            for (index, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
                do { entries.append(try AuditLine.entry(line)) } catch {
                    throw FerryError(.usage, "\(path):\(index + 1) is not an audit entry: \(error)")
                }
            }
            let start =
                try after.map { try Self.anchor($0, "after") }
                ?? entries.first.map { $0.seq == 1 ? (0, AuditChain.genesis) : ($0.seq - 1, $0.prevHash) }
                ?? (0, AuditChain.genesis)
            if after == nil, let first = entries.first, first.seq != 1 {
                Swift.print("note: the export starts at entry \(first.seq); pass --after SEQ:HASH to anchor it")
            }
            let report = AuditChain.verify(entries, from: start, head: try head.map { try Self.anchor($0, "head") })
            Self.print(report, label: path, start: start.0)
            return report.intact
        }

        static func anchor(_ text: String, _ name: String) throws -> (seq: Int, hash: String) {
            let parts = text.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let seq = Int(parts[0]), seq >= 0, parts[1].count == 64 else {
                throw ValidationError("--\(name) is SEQ:HASH, e.g. 42:9f86d0…(64 hex digits)")
            }
            return (seq, String(parts[1]))
        }

        static func print(_ report: AuditChain.Report, label: String, start: Int) {
            if report.intact {
                Swift.print(
                    "\(label): intact, \(report.entries) entries after \(start) through \(report.lastSeq) "
                        + "(last hash \(report.lastHash))")
            } else {
                Swift.print("\(label): BROKEN")
                for item in report.breaks { Swift.print("  \(item)") }
            }
        }
    }
}
