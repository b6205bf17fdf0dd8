import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which process owns a run, precisely enough to tell later whether it is still alive: a pid alone is reused, so the
/// process's start time (in clock ticks since boot) and the boot's id go with it, and the host name says whether this
/// machine can check at all.
public struct ProcessIdentity: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var bootID: String
    public var pid: Int32
    public var startTicks: UInt64

    public init(host: String, bootID: String, pid: Int32, startTicks: UInt64) {
        self.host = host
        self.bootID = bootID
        self.pid = pid
        self.startTicks = startTicks
    }

    /// This process.
    public static let current: ProcessIdentity = {
        let pid = getpid()
        return ProcessIdentity(
            host: ProcessInfo.processInfo.hostName, bootID: bootID(), pid: pid, startTicks: startTicks(of: pid) ?? 0)
    }()

    /// `host pid start boot`, the form the store keeps.
    public var description: String { "\(host) \(pid) \(startTicks) \(bootID)" }

    public init?(_ text: String) {
        let parts = text.split(separator: " ")
        guard parts.count == 4, let pid = Int32(parts[1]), let start = UInt64(parts[2]) else { return nil }
        self.init(host: String(parts[0]), bootID: String(parts[3]), pid: pid, startTicks: start)
    }

    public enum Liveness: Sendable, Hashable {
        case alive
        case gone
        /// Another machine (or another boot's record we cannot judge): left alone.
        case unknown
    }

    /// Whether the process this identity names is still running, as seen from this machine.
    public func liveness() -> Liveness {
        guard host == ProcessInfo.processInfo.hostName else { return .unknown }
        if bootID != Self.bootID() { return .gone }
        guard let ticks = Self.startTicks(of: pid) else { return .gone }
        return ticks == startTicks ? .alive : .gone
    }

    static func bootID() -> String {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    /// Field 22 of `/proc/<pid>/stat`; nil when there is no such process.
    static func startTicks(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // The command name (field 2) may hold spaces and parentheses; fields after the last ')' start at 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}
