import Foundation

/// The work tree's changes at one moment, so that what a command leaves behind can be taken away again: the files it
/// made that `.gitignore` does not hide (a log, a `test_file.txt` a test writes beside the code, a build folder the
/// repository does not ignore), its edits (a formatter that `make test` runs) and its deletions. Ferry takes one
/// before each test run and puts the tree back after it, so the change it commits is what was written on purpose, and
/// no run of the tests sees what an earlier one left.
///
/// Only what git would commit is looked at: ignored files stay as they are (caches the tests keep between runs). The
/// tree is put back from outside the sandbox, so nothing is written or removed through a symbolic link the command
/// may have put in a path's place.
public struct WorkTreeState: Sendable {
    /// What a path held.
    enum Content: Sendable, Equatable {
        /// Its bytes and permission bits.
        case file(Data, mode: Int)
        case link(String)
        case absent
        /// What this does not put back: a directory (a submodule, a nested repository), a socket.
        case unhandled
    }

    /// Paths git lists as changed or new (not ignored), with what each held.
    let changed: [String: Content]

    /// The work tree as it is now, in the repository `git` works in.
    public static func take(_ git: Git) async throws -> WorkTreeState {
        let paths = try await status(git)
        var changed: [String: Content] = [:]
        for path in paths.keys { changed[path] = content(git.directory + "/" + path) }
        return WorkTreeState(changed: changed)
    }

    /// Removes the files made since this state was taken, and puts back the files changed or deleted since; returns
    /// their paths, sorted. What was changed before it was taken is left as it was then.
    @discardableResult
    public func restore(_ git: Git) async throws -> [String] {
        let workspace = try Workspace(root: git.directory)
        let now = try await Self.status(git)
        var restored: [String] = []
        var checkOut: [String] = []
        // What was listed then or is now: a new file changed before and deleted since is listed only then.
        for path in Set(changed.keys).union(now.keys).sorted() {
            if let before = changed[path] {
                if put(before, at: path, in: workspace) { restored.append(path) }
            } else if now[path] == "??" {
                // New since: not the change's.
                if put(.absent, at: path, in: workspace) { restored.append(path) }
            } else {
                // A tracked file that matched the index before: the index has it as it was.
                checkOut.append(path)
            }
        }
        if !checkOut.isEmpty {
            try await git.run(["checkout", "-q", "--"] + checkOut.map { ":(literal)" + $0 })
            restored += checkOut
        }
        return restored.sorted()
    }

    /// Puts `content` at `path` unless it is there already; false when nothing changed, or it cannot be put back
    /// safely or at all (a folder the command made unwritable): the rest is still put back.
    private func put(_ content: Content, at path: String, in workspace: Workspace) -> Bool {
        do { return try replace(path, with: content, in: workspace) } catch { return false }
    }

    private func replace(_ path: String, with content: Content, in workspace: Workspace) throws -> Bool {
        guard content != .unhandled, let full = Self.target(path, in: workspace) else { return false }
        let current = Self.content(full)
        guard current != content, current != .unhandled || Self.isEmptyDirectory(full) else { return false }
        let fm = FileManager.default
        if current != .absent { try fm.removeItem(atPath: full) }
        switch content {
        case .file(let data, let mode):
            try fm.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Workspace.write(data, to: full)
            try fm.setAttributes([.posixPermissions: mode], ofItemAtPath: full)
        case .link(let destination):
            try fm.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: full, withDestinationPath: destination)
        case .absent, .unhandled:
            break
        }
        return true
    }

    /// The absolute path of `path` with its folder's symbolic links resolved, or nil when that folder is outside the
    /// work tree (a command put a link to elsewhere in a folder's place).
    static func target(_ path: String, in workspace: Workspace) -> String? {
        let name = (path as NSString).lastPathComponent
        let folder = (path as NSString).deletingLastPathComponent
        guard !name.isEmpty, name != "..", name != "." else { return nil }
        if folder.isEmpty { return workspace.root + "/" + name }
        guard let resolved = try? workspace.resolve(folder) else { return nil }
        return resolved + "/" + name
    }

    /// Changed and new paths (each new file on its own, ignored ones left out) with their two-letter status.
    static func status(_ git: Git) async throws -> [String: String] {
        let fields = try await git.run(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--ignore-submodules=all"
        ).split(separator: "\0", omittingEmptySubsequences: true)
        // Each entry is "XY path", the path relative to the top of the work tree.
        var result: [String: String] = [:]
        for field in fields where field.count > 3 { result[String(field.dropFirst(3))] = String(field.prefix(2)) }
        return result
    }

    static func content(_ path: String) -> Content {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .absent }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return FileManager.default.contents(atPath: path).map { .file($0, mode: Int(info.st_mode & 0o7777)) }
                ?? .unhandled
        case S_IFLNK:
            return (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map(Content.link) ?? .unhandled
        default: return .unhandled
        }
    }

    static func isEmptyDirectory(_ path: String) -> Bool {
        (try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty == true
    }
}
