import FerryCore
import Foundation

/// A directory the agent may work in. Every path the model gives goes through `resolve`, which refuses `..`,
/// absolute paths outside the root and symlinks that lead out.
public struct Workspace: Sendable {
    /// The canonical absolute path of the root (symlinks resolved).
    public let root: String

    public init(root: String) throws {
        guard let real = Self.realPath(root) else {
            throw FerryError(.io, "workspace \(root) does not exist")
        }
        self.root = real
    }

    /// The absolute path for a path the model gave, or a tool error when it leads outside the workspace.
    public func resolve(_ path: String) throws -> String {
        let trimmed = path.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw FerryError(.tool, "the path is empty") }
        guard !trimmed.contains("\0") else { throw FerryError(.pathEscape, "the path contains a NUL byte") }
        let joined = trimmed.hasPrefix("/") ? trimmed : root + "/" + trimmed
        let normalized = Self.normalize(joined)
        guard Self.isInside(normalized, root: root) else {
            throw FerryError(
                .pathEscape, "'\(path)' is outside the workspace; use paths relative to the repository root")
        }
        // Resolve symlinks on the longest prefix that exists; it must stay inside too.
        var existing = normalized
        var rest: [String] = []
        while !FileManager.default.fileExists(atPath: existing), existing != root, existing != "/" {
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
        }
        guard let real = Self.realPath(existing) else {
            throw FerryError(.io, "cannot resolve '\(path)'")
        }
        guard Self.isInside(real, root: root) else {
            throw FerryError(.pathEscape, "'\(path)' leads outside the workspace through a symbolic link")
        }
        return rest.isEmpty ? real : real + "/" + rest.joined(separator: "/")
    }

    /// The path relative to the root, for messages.
    public func relative(_ absolute: String) -> String {
        if absolute == root { return "." }
        if absolute.hasPrefix(root + "/") { return String(absolute.dropFirst(root.count + 1)) }
        return absolute
    }

    static func isInside(_ path: String, root: String) -> Bool {
        path == root || path.hasPrefix(root == "/" ? "/" : root + "/")
    }

    /// Removes `.` and `..` lexically; `..` never climbs above `/`.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension Workspace {
    /// Replaces a file's content atomically and keeps its permissions (an executable script stays executable; an
    /// atomic write alone would leave the new file with the default mode). A new file gets the default mode.
    public static func write(_ data: Data, to path: String) throws {
        let fm = FileManager.default
        let permissions = (try? fm.attributesOfItem(atPath: path))?[.posixPermissions]
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        if let permissions {
            try fm.setAttributes([.posixPermissions: permissions], ofItemAtPath: path)
        }
    }
}
