import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A pids cgroup for each sandboxed command: the process cap that holds when Ferry runs as root, where
/// `RLIMIT_NPROC` is not enforced (the kernel exempts uid 0, and a user namespace that maps to uid 0 does not change
/// that). Works on cgroup v1 (`/sys/fs/cgroup/pids`) and on v2 where the pids controller is delegated to Ferry's
/// own cgroup.
public struct PidsCgroup: Sendable, Hashable {
    /// The folder under which each command gets its own group: `<Ferry's cgroup>/ferry`.
    public let parent: String

    /// The writable pids hierarchy for this process, or nil when there is none (no controller, read-only cgroupfs, or
    /// no permission).
    public static let available: PidsCgroup? = detect()

    static func detect() -> PidsCgroup? {
        guard let membership = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
            let mountInfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        else { return nil }
        for candidate in candidates(membership: membership, mountInfo: mountInfo) {
            let parent = candidate + "/ferry"
            try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
            // The parent of a v2 group must hand the controller down.
            if FileManager.default.fileExists(atPath: parent + "/cgroup.subtree_control") {
                try? "+pids".write(toFile: parent + "/cgroup.subtree_control", atomically: false, encoding: .utf8)
            }
            let group = PidsCgroup(parent: parent)
            if let probe = try? group.make(limit: 16) {
                group.remove(probe)
                group.removeStale()
                return group
            }
        }
        return nil
    }

    /// Where a pids hierarchy is mounted and where this process sits in it (v1 first, then v2).
    static func candidates(membership: String, mountInfo: String) -> [String] {
        var v1Path: String?
        var v2Path: String?
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if fields[1].split(separator: ",").contains("pids") { v1Path = String(fields[2]) }
            if fields[0] == "0" && fields[1].isEmpty { v2Path = String(fields[2]) }
        }
        var result: [String] = []
        for line in mountInfo.split(separator: "\n") {
            // id parent major:minor root mountpoint options ... - fstype source superoptions
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let mountPoint = String(left[4])
            let root = String(left[3])
            func join(_ path: String) -> String {
                // The group path is relative to the hierarchy's root; a mount of a sub-tree drops that prefix.
                let relative = root != "/" && path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
                return mountPoint + (relative == "/" ? "" : relative)
            }
            if right[0] == "cgroup", right[2].split(separator: ",").contains("pids"), let v1Path {
                result.insert(join(v1Path), at: 0)
            } else if right[0] == "cgroup2", let v2Path {
                result.append(join(v2Path))
            }
        }
        return result
    }

    /// A new group capped at `limit` processes and threads; returns its folder.
    public func make(limit: Int) throws -> String {
        let name = "\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"
        let folder = parent + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        do {
            try String(limit).write(toFile: folder + "/pids.max", atomically: false, encoding: .utf8)
        } catch {
            remove(folder)
            throw error
        }
        return folder
    }

    /// Sends SIGKILL to every process in the group.
    public func killAll(_ folder: String) {
        let pids = ((try? String(contentsOfFile: folder + "/cgroup.procs", encoding: .utf8)) ?? "")
            .split(separator: "\n").compactMap { pid_t($0) }
        for pid in pids { kill(pid, SIGKILL) }
    }

    /// Kills whatever is left in the group and removes it.
    public func remove(_ folder: String) {
        // Usually the group is already empty; otherwise its last processes are being reaped: kill, retry soon.
        for _ in 0..<500 {
            if rmdir(folder) == 0 || errno == ENOENT { return }
            killAll(folder)
            usleep(2_000)
        }
    }

    /// Groups left behind by Ferry processes that are gone (killed with SIGKILL, say).
    public func removeStale() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        for name in names {
            guard let pid = name.split(separator: "-").first.flatMap({ pid_t($0) }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { remove(parent + "/" + name) }
        }
    }
}
