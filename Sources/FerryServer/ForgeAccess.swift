import FerryAgent
import FerryCore
import FerryForge
import FerryServerStore
import FerryStore
import Foundation
import Synchronization

/// How this process reaches a project's forge: the operator's forge settings (the GitHub App's key file stays on the
/// operator's disk) and the sealed token of a project, opened only here. Installation tokens are cached per
/// installation for the process's life, so every task of an installation shares one until it is due for refresh.
public final class ForgeAccess: Sendable {
    public let settings: ForgeSettings
    let box: SecretBox?
    let tokens = Mutex<[Int: GitHubAppTokens]>([:])

    public init(settings: ForgeSettings, box: SecretBox?) {
        self.settings = settings
        self.box = box
    }

    /// The project's forge API, each call handed to `record`.
    public func api(_ forge: ProjectForge, record: @escaping @Sendable (ForgeCall) async -> Void) throws
        -> any ForgeAPI
    {
        switch ForgeKind(rawValue: forge.kind) {
        case .github:
            if let sealed = forge.token {
                return GitHubAPI(
                    apiURL: settings.githubAPIURL, repository: forge.repository, auth: .token(try open(sealed)),
                    record: record)
            }
            guard let installation = forge.installationID, let appID = settings.githubAppID else {
                throw FerryError(
                    .config,
                    "the project's GitHub repository needs this server's GitHub App ([server.github_app]) and its "
                        + "installation id, or a token")
            }
            let key = try settings.githubPrivateKey()
            let cached = tokens.withLock { cache -> GitHubAppTokens in
                if let tokens = cache[installation] { return tokens }
                let made = GitHubAppTokens(
                    identity: GitHubAppIdentity(appID: appID, privateKeyPEM: key, installationID: installation),
                    apiURL: settings.githubAPIURL, record: record)
                cache[installation] = made
                return made
            }
            return GitHubAPI(
                apiURL: settings.githubAPIURL, repository: forge.repository, auth: .app(cached), record: record)
        case .gitlab:
            guard let sealed = forge.token else {
                throw FerryError(.config, "the project's GitLab repository has no access token")
            }
            return GitLabAPI(
                url: settings.gitlabURL, project: forge.repository, token: try open(sealed), record: record)
        case nil:
            throw FerryError(.config, "unknown forge \(forge.kind)")
        }
    }

    func open(_ sealed: String) throws -> String {
        guard let box else { throw FerryError(.config, "this process has no key to open the project's forge token") }
        return try box.open(sealed)
    }

    /// The forge's calls, collected (the worker's and the publisher's), as JSON lines for the task's record.
    final class Calls: Sendable {
        let list = Mutex<[ForgeCall]>([])
        func add(_ call: ForgeCall) { list.withLock { $0.append(call) } }
        var lines: String {
            list.withLock { calls in
                calls.map { call in
                    (try? JSONEncoder().encode(call)).map { String(decoding: $0, as: UTF8.self) + "\n" } ?? ""
                }.joined()
            }
        }
        var all: [ForgeCall] { list.withLock { $0 } }
    }
}

extension ForgeCall {
    /// The calls as `forge.call` events at the end of the task's run trace (after its `run.finished`), so the task's
    /// trace shows every call made for it; a trace that cannot be written loses nothing else.
    static func append(_ calls: [ForgeCall], to runID: String?, in runStore: any RunStore) async {
        guard let runID, !calls.isEmpty else { return }
        guard var seq = try? await runStore.events(of: runID).last?.seq else { return }
        for call in calls {
            seq += 1
            let event = TraceEvent.forgeCall(
                .init(
                    method: call.method, path: call.path, status: call.status, attempts: call.attempts,
                    waitedSeconds: call.waitedSeconds, error: call.error))
            try? await runStore.append(RunEvent(seq: seq, time: Date().timeIntervalSince1970, event: event), to: runID)
        }
    }

    /// The calls kept for a task (one JSON object per line).
    static func parse(lines: String) -> [ForgeCall] {
        lines.split(separator: "\n").compactMap { try? JSONDecoder().decode(ForgeCall.self, from: Data($0.utf8)) }
    }
}
