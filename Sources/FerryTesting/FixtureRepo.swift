import FerryWorkspace
import Foundation
import Synchronization

/// Real git repositories in temporary directories, for tests and the demo.
public enum FixtureRepo {
    /// Creates a repository with these files (path → content), committed on `main`. Returns its path.
    public static func make(_ files: [String: String], name: String = "repo") async throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("ferry-fixture-\(UUID().uuidString.prefix(8))").appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (path, content) in files {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(content.utf8).write(to: URL(fileURLWithPath: full))
        }
        try await initialize(directory)
        return directory
    }

    /// Turns a directory into a repository with one commit of everything in it.
    public static func initialize(_ directory: String) async throws {
        try await Git.initialize(directory)
    }
}

/// A port on 127.0.0.1 where nothing listens, for "nothing is listening" tests. It is taken below the kernel's
/// ephemeral range (32768–60999 on Linux), so a server another test starts on port 0 cannot be given it meanwhile.
public func unusedLocalPort() -> Int {
    while true {
        let port = Int.random(in: 10_000...19_999)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        close(fd)
        if connected != 0 { return port }
    }
}

/// A value shared between tasks in a test.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}
