import FerryCore
import FerryServerStore
import Foundation

/// What a tenant may point the server at. Tenants are untrusted toward each other and toward the server; the
/// operator (who runs `ferry serve` and writes its config) is trusted. So a project's repository is either a git URL
/// the server clones into its own data directory (reached under the `egress` rule), or a local path inside a root the
/// operator named (`[server] project_roots`, `ferry serve --project-root`), resolved with symlinks and `..`, and
/// never inside (or around) Ferry's own data, config or cache folders. The rule is applied when a project is created
/// and again each time a worker or an answer uses it, so a symlink swapped in later, or a root the operator removed,
/// stops it there too.
public struct ServerPolicy: Sendable {
    /// Resolved roots under which local repositories may be projects. Empty: local paths are refused.
    public var projectRoots: [String]
    /// Resolved folders no project may be in or contain: the server's data, Ferry's config and cache.
    public var protected: [String]
    public var egress: EgressPolicy

    public init(projectRoots: [String] = [], protected: [String] = [], egress: EgressPolicy = EgressPolicy()) {
        self.projectRoots = projectRoots.map(Self.resolved)
        self.protected = protected.map(Self.resolved)
        self.egress = egress
    }

    /// The operator's configuration with Ferry's own folders for `environment` protected.
    public static func server(
        projectRoots: [String], allowHosts: [String], dataDirectory: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ServerPolicy {
        ServerPolicy(
            projectRoots: projectRoots,
            protected: [
                dataDirectory, FerryPaths.data(environment: environment), FerryPaths.config(environment: environment),
                FerryPaths.cache(environment: environment),
            ],
            egress: EgressPolicy(allowed: allowHosts))
    }

    /// Where a project's repository is, once checked.
    public enum Location: Sendable, Hashable {
        /// A resolved absolute path inside one of the roots.
        case local(String)
        /// A git URL the server may fetch.
        case remote(String)
    }

    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The git URL schemes a project may use. `file://` is a local path in disguise and `ext::` runs a command; both
    /// are refused, as is anything git would read as an option.
    static let schemes = ["https://", "http://", "ssh://", "git://"]

    /// Checks `repo` as a tenant wrote it; a local path comes back resolved (store that, not what was written).
    public func check(_ repo: String) async throws -> Location {
        let repo = repo.trimmingCharacters(in: .whitespaces)
        guard !repo.isEmpty, repo.count <= 4096,
            !repo.contains(where: { $0.isNewline || $0 == "\0" || $0.asciiValue.map { $0 < 0x20 } == true })
        else { throw Refusal(description: "\"repo\" must be a git URL or a path on one line") }
        if repo.hasPrefix("-") { throw Refusal(description: "\"repo\" may not start with '-'") }
        if let scheme = Self.schemes.first(where: { repo.lowercased().hasPrefix($0) }) {
            guard URLComponents(string: repo)?.host?.isEmpty == false else {
                throw Refusal(description: "\"repo\" \(scheme)… needs a host")
            }
            do {
                _ = try await egress.check(url: repo, defaultPort: scheme == "git://" ? 9418 : nil)
            } catch let refusal as EgressPolicy.Refusal {
                throw Refusal(description: "\"repo\": \(refusal.description)")
            }
            return .remote(repo)
        }
        if let scp = Self.scpHost(repo) {
            do {
                _ = try await egress.check(host: scp, port: 22)
            } catch let refusal as EgressPolicy.Refusal {
                throw Refusal(description: "\"repo\": \(refusal.description)")
            }
            return .remote(repo)
        }
        if repo.contains("://") || repo.contains("::") {
            throw Refusal(
                description: "\"repo\" must be an https, http, ssh or git URL, or a local path the server allows")
        }
        return .local(try checkPath(repo))
    }

    /// `user@host:path` (scp-like ssh): the host, or nil when `repo` is not one.
    static func scpHost(_ repo: String) -> String? {
        guard !repo.hasPrefix("/"), let colon = repo.firstIndex(of: ":"), let at = repo[..<colon].firstIndex(of: "@")
        else { return nil }
        let host = String(repo[repo.index(after: at)..<colon])
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else {
            return nil
        }
        return host
    }

    /// A local path: absolute, existing, resolved, inside a root, clear of Ferry's folders. Errors never say what
    /// exists outside the roots.
    func checkPath(_ path: String) throws -> String {
        guard !projectRoots.isEmpty else {
            throw Refusal(
                description: "this server takes git URLs for projects; local paths are only for folders its operator "
                    + "names ([server] project_roots in the server's config, or ferry serve --project-root)")
        }
        guard path.hasPrefix("/") else { throw Refusal(description: "\"repo\" must be an absolute path or a git URL") }
        let resolved = Self.resolved(path)
        let outside = Refusal(
            description:
                "\"repo\" must be inside one of the server's project roots: \(projectRoots.joined(separator: ", "))")
        guard projectRoots.contains(where: { Self.isInside(resolved, $0) }) else { throw outside }
        guard !protected.contains(where: { Self.isInside(resolved, $0) || Self.isInside($0, resolved) }) else {
            throw Refusal(description: "\"repo\" may not be in or around Ferry's own data, config or cache folders")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Refusal(description: "\"repo\" is not a folder inside the project roots")
        }
        return resolved
    }

    /// Whether two checked locations are the same repository or one holds the other (one path belongs to one tenant).
    public static func overlaps(_ a: String, _ b: String) -> Bool {
        a.hasPrefix("/") && b.hasPrefix("/") && (isInside(a, b) || isInside(b, a))
    }

    static func isInside(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// `path` with `~`, `.`, `..` and every symlink resolved (as far as it exists; the rest joined as written).
    static func resolved(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        if let real = realpath(expanded, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        // Not there (yet): resolve the longest existing parent and keep the rest, normalised.
        let standard = (expanded as NSString).standardizingPath
        let parent = (standard as NSString).deletingLastPathComponent
        guard parent != standard, !parent.isEmpty else { return standard }
        return (resolved(parent) as NSString).appendingPathComponent((standard as NSString).lastPathComponent)
    }
}
