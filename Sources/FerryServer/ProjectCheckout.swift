import FerryCore
import FerryServerStore
import FerryWorkspace
import Foundation

/// Where a worker finds a project's repository: a local path inside the operator's roots as it is, or a git URL
/// cloned once into the server's data directory and fetched before each task, so the task starts from the remote's
/// current base. Both are checked against the server's `ServerPolicy` at each use, not only when the project was made.
enum ProjectCheckout {
    static func isURL(_ repo: String) -> Bool {
        ServerPolicy.schemes.contains { repo.lowercased().hasPrefix($0) } || ServerPolicy.scpHost(repo) != nil
    }

    /// The project's repository checked again under `policy` (a symlink swapped in since, a root the operator
    /// removed, a name that now resolves to a private address all stop here).
    static func location(_ project: Project, policy: ServerPolicy) async throws -> ServerPolicy.Location {
        do {
            return try await policy.check(project.repo)
        } catch let refusal as ServerPolicy.Refusal {
            throw FerryError(.config, "project \(project.name): \(refusal.description)")
        }
    }

    /// The repository path and the base ref a run of `project` starts from.
    /// `environment` reaches git for the clone and the fetch (a forge's credential for a private repository).
    static func prepare(
        _ project: Project, dataDirectory: String, policy: ServerPolicy, environment: [String: String] = [:]
    ) async throws -> (repo: String, base: String) {
        let url: String
        switch try await location(project, policy: policy) {
        case .local(let path): return (path, project.base)
        case .remote(let remote): url = remote
        }
        let path = dataDirectory + "/repos/" + project.id
        let options = try await gitOptions(url, policy: policy, project: project)
        if !FileManager.default.fileExists(atPath: path + "/.git") {
            try FileManager.default.createDirectory(atPath: dataDirectory + "/repos", withIntermediateDirectories: true)
            let partial = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
            try? FileManager.default.removeItem(atPath: partial)
            do {
                try await Git(dataDirectory + "/repos").run(
                    options + ["clone", "--quiet", "--no-checkout", "--", url, partial], environment: environment)
            } catch {
                try? FileManager.default.removeItem(atPath: partial)
                throw FerryError(
                    .git,
                    "cannot clone \(ServerAPI.redactedURL(url)) for project \(project.name): \(Self.gitReason(error))")
            }
            try? FileManager.default.removeItem(atPath: path)
            try FileManager.default.moveItem(atPath: partial, toPath: path)
        } else {
            do {
                try await Git(path).run(options + ["fetch", "--quiet", "--prune", "origin"], environment: environment)
            } catch {
                throw FerryError(
                    .git,
                    "cannot fetch \(ServerAPI.redactedURL(url)) for project \(project.name): \(Self.gitReason(error))")
            }
        }
        // The remote's branch, not a local one that may be stale; a tag or a commit as it is.
        let remoteBranch = "origin/" + project.base
        let hasBranch =
            (try? await Git(path).run(
                "rev-parse", "--verify", "--quiet", "--end-of-options", remoteBranch + "^{commit}")) != nil
        return (path, hasBranch ? remoteBranch : project.base)
    }

    /// git's settings for reaching a tenant's URL: only the four network protocols (never `file`, `ext` or a
    /// helper), no redirects (a public host answering 302 to 127.0.0.1), and for http(s) the connection pinned to
    /// the address the egress rule just checked (`http.curloptResolve`), so DNS cannot change it in between.
    static func gitOptions(_ url: String, policy: ServerPolicy, project: Project) async throws -> [String] {
        var options = [
            "-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always",
            "-c", "protocol.ssh.allow=always", "-c", "protocol.git.allow=always", "-c", "http.followRedirects=false",
            "-c", "core.sshCommand=ssh -o BatchMode=yes", "-c", "credential.helper=",
        ]
        let lower = url.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            do {
                let target = try await policy.egress.check(url: url)
                let address = target.address.contains(":") ? "[\(target.address)]" : target.address
                options += ["-c", "http.curloptResolve=\(target.host):\(target.port):\(address)"]
            } catch let refusal as EgressPolicy.Refusal {
                throw FerryError(.config, "project \(project.name): \(refusal.description)")
            }
        }
        return options
    }

    /// git's own reason, one line of it, without the command line Ferry ran.
    static func gitReason(_ error: any Error) -> String {
        let text = "\(error)"
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let reason = lines.first { $0.hasPrefix("fatal:") } ?? lines.last ?? text
        return String(reason.prefix(300))
    }
}
