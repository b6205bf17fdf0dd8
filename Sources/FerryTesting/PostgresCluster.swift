import Foundation
import Synchronization

/// A throwaway PostgreSQL cluster for the tests and benchmarks: `initdb` in a temporary folder (as the `postgres` user when the
/// tests run as root, which PostgreSQL refuses), started on a free port on 127.0.0.1 with trust authentication, one
/// fresh database per test, stopped when the test process exits. Debian's `postgresql` package provides the
/// binaries (`scripts/setup.sh` installs it); without them the tests that need it fail and say so.
public enum PostgresCluster {
    public struct Cluster: Sendable {
        public var directory: String
        public var port: Int
        public var bin: String
    }

    private static let started = Mutex<Result<Cluster, PostgresUnavailable>?>(nil)
    nonisolated(unsafe) private static var stopCommand: [String] = []

    public struct PostgresUnavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// A new empty database's URL. The cluster's start and `psql` block, so they run on a thread of their own: the
    /// concurrency pool has as many threads as cores, and two tests blocked here (one starting the cluster, one
    /// waiting for it) once stalled every other test in the process for seconds.
    public static func freshDatabase() async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try freshDatabaseNow() }) }.start()
        }
    }

    private static func freshDatabaseNow() throws -> String {
        let cluster = try start()
        let name = "ferry_test_\(UUID().uuidString.prefix(8).lowercased())"
        try run(
            cluster.bin + "/psql",
            ["-h", "127.0.0.1", "-p", "\(cluster.port)", "-U", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
        return "postgres://postgres@127.0.0.1:\(cluster.port)/\(name)"
    }

    public static func start() throws -> Cluster {
        try started.withLock { state in
            if let state { return try state.get() }
            let result: Result<Cluster, PostgresUnavailable>
            do { result = .success(try boot()) } catch let error as PostgresUnavailable {
                result = .failure(error)
            } catch {
                result = .failure(PostgresUnavailable(description: "\(error)"))
            }
            state = result
            return try result.get()
        }
    }

    private static func boot() throws -> Cluster {
        let candidates = ["/usr/lib/postgresql"].flatMap { root in
            ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted().reversed().map {
                "\(root)/\($0)/bin"
            }
        }
        guard let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }) else {
            throw PostgresUnavailable(
                description:
                    "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); run scripts/setup.sh or apt-get install postgresql"
            )
        }
        let asRoot = geteuid() == 0
        reapOrphans(bin: bin, asRoot: asRoot)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-pg-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Whose cluster this is: a later run stops it if this process died without its exit handler (a crash).
        try String(getpid()).write(toFile: directory + "/owner.pid", atomically: true, encoding: .utf8)
        if asRoot { try run("/bin/chown", ["postgres:postgres", directory]) }
        let port = Int.random(in: 20_000...40_000)
        func asOwner(_ tool: String, _ arguments: [String]) throws {
            if asRoot {
                try run("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/" + tool] + arguments)
            } else {
                try run(bin + "/" + tool, arguments)
            }
        }
        try asOwner("initdb", ["-D", directory + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try asOwner(
            "pg_ctl",
            [
                "-D", directory + "/data", "-l", directory + "/log", "-w", "-o",
                "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400", "start",
            ])
        stopCommand =
            (asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [
                bin + "/pg_ctl", "-D", directory + "/data", "-m", "immediate", "stop",
            ]
        atexit {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: PostgresCluster.stopCommand[0])
            process.arguments = Array(PostgresCluster.stopCommand.dropFirst())
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try? process.run()
            process.waitUntilExit()
        }
        return Cluster(directory: directory, port: port, bin: bin)
    }

    /// Stops and removes the clusters of earlier test processes that died without stopping theirs.
    private static func reapOrphans(bin: String, asRoot: Bool) {
        let temp = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temp)) ?? [] where name.hasPrefix("ferry-pg-")
        {
            let directory = temp + "/" + name
            // Left by a version without owners: gone if no server runs in it and it is over an hour old.
            if !FileManager.default.fileExists(atPath: directory + "/owner.pid") {
                let modified =
                    (try? FileManager.default.attributesOfItem(atPath: directory)[.modificationDate] as? Date) ?? Date()
                if !FileManager.default.fileExists(atPath: directory + "/data/postmaster.pid"),
                    modified.timeIntervalSinceNow < -3600
                {
                    try? FileManager.default.removeItem(atPath: directory)
                }
                continue
            }
            guard let text = try? String(contentsOfFile: directory + "/owner.pid", encoding: .utf8),
                let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(owner, 0) != 0,
                errno == ESRCH
            else { continue }
            let stop =
                (asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [
                    bin + "/pg_ctl", "-D", directory + "/data", "-m", "immediate", "stop",
                ]
            try? run(stop[0], Array(stop.dropFirst()))
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    private static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-pg-out-\(UUID().uuidString.prefix(8))"
        ).path
        FileManager.default.createFile(atPath: output, contents: nil)
        let handle = FileHandle(forWritingAtPath: output)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Reaped here: Foundation left `runuser … pg_ctl start` a zombie (its server lives on in the background) and
        // never reported it finished.
        var status: Int32 = 0
        var exitCode: Int32 = -1
        while true {
            let reaped = waitpid(process.processIdentifier, &status, WNOHANG)
            if reaped == process.processIdentifier {
                exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                break
            }
            if reaped == -1 {
                // Foundation reaped it first; its status arrives a moment later.
                for _ in 0..<500 where process.isRunning { usleep(10_000) }
                exitCode = process.isRunning ? -1 : process.terminationStatus
                break
            }
            usleep(20_000)
        }
        try? handle?.close()
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard exitCode == 0 else {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw PostgresUnavailable(
                description: "\(executable) \(arguments.joined(separator: " ")) failed: \(text.suffix(800))")
        }
    }
}
