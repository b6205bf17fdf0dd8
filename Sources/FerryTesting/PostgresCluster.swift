import FerrySandbox
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

    /// The one start of this process's cluster: the first caller makes it, the others wait for it.
    private static let starting = Mutex<Task<Cluster, any Error>?>(nil)
    /// The server's pid, stopped at exit.
    private static let postmaster = Atomic<Int32>(0)

    public struct PostgresUnavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// A new empty database's URL.
    public static func freshDatabase() async throws -> String {
        let cluster = try await start()
        let name = "ferry_test_\(UUID().uuidString.prefix(8).lowercased())"
        try await run(
            cluster.bin + "/psql",
            ["-h", "127.0.0.1", "-p", "\(cluster.port)", "-U", "postgres", "-q", "-c", "CREATE DATABASE \(name)"])
        return "postgres://postgres@127.0.0.1:\(cluster.port)/\(name)"
    }

    public static func start() async throws -> Cluster {
        let task = starting.withLock { task in
            if let task { return task }
            let made = Task { () async throws -> Cluster in
                do { return try await boot() } catch let error as PostgresUnavailable {
                    throw error
                } catch {
                    throw PostgresUnavailable(description: "\(error)")
                }
            }
            task = made
            return made
        }
        return try await task.value
    }

    private static func boot() async throws -> Cluster {
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
        await reapOrphans(bin: bin, asRoot: asRoot)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-pg-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Whose cluster this is: a later run stops it if this process died without its exit handler (a crash).
        try String(getpid()).write(toFile: directory + "/owner.pid", atomically: true, encoding: .utf8)
        if asRoot { try await run("/bin/chown", ["postgres:postgres", directory]) }
        let port = Int.random(in: 20_000...40_000)
        func asOwner(_ tool: String, _ arguments: [String]) async throws {
            if asRoot {
                try await run("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/" + tool] + arguments)
            } else {
                try await run(bin + "/" + tool, arguments)
            }
        }
        try await asOwner(
            "initdb", ["-D", directory + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try await asOwner(
            "pg_ctl",
            [
                "-D", directory + "/data", "-l", directory + "/log", "-w", "-o",
                "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400", "start",
            ])
        // Stopped at exit as `pg_ctl -m immediate stop` would: SIGQUIT to the server. Nothing is started then.
        let pidText = (try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8)) ?? ""
        if let pid = Int32(pidText.split(separator: "\n").first.map(String.init) ?? "") {
            postmaster.store(pid, ordering: .relaxed)
            atexit {
                let pid = PostgresCluster.postmaster.load(ordering: .relaxed)
                if pid > 0 { kill(pid, SIGQUIT) }
            }
        }
        return Cluster(directory: directory, port: port, bin: bin)
    }

    /// Stops and removes the clusters of earlier test processes that died without stopping theirs.
    private static func reapOrphans(bin: String, asRoot: Bool) async {
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
            try? await run(stop[0], Array(stop.dropFirst()))
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    private static func run(_ executable: String, _ arguments: [String]) async throws {
        // `pg_ctl start` returns while the server it started lives on; the server's output goes to its own log.
        let (status, output) = try await ChildProcess.run(executable, arguments)
        guard status == 0 else {
            throw PostgresUnavailable(
                description:
                    "\(executable) \(arguments.joined(separator: " ")) failed (exit \(status)): \(output.suffix(800))")
        }
    }
}
