import FerryCore
import Foundation
import NIOHTTP1

/// An issue as a task reads it: its words and its discussion, oldest first.
public struct ForgeIssue: Sendable, Hashable {
    public var number: Int
    public var title: String
    public var body: String
    public var comments: [ForgeComment]
    public var url: String

    public init(number: Int, title: String, body: String, comments: [ForgeComment], url: String) {
        self.number = number
        self.title = title
        self.body = body
        self.comments = comments
        self.url = url
    }
}

public struct ForgeComment: Sendable, Hashable {
    public var author: String
    public var body: String
    /// A review comment's place in the diff.
    public var path: String?
    public var line: Int?

    public init(author: String, body: String, path: String? = nil, line: Int? = nil) {
        self.author = author
        self.body = body
        self.path = path
        self.line = line
    }
}

public struct ForgePullRequest: Sendable, Hashable {
    public var number: Int
    public var url: String
    /// The branch its commits are on, and the one it merges into.
    public var head: String
    public var base: String
    public var draft: Bool

    public init(number: Int, url: String, head: String, base: String, draft: Bool) {
        self.number = number
        self.url = url
        self.head = head
        self.base = base
        self.draft = draft
    }
}

/// What Ferry does on a forge, the same on GitHub and GitLab.
public protocol ForgeAPI: Sendable {
    var kind: ForgeKind { get }
    func issue(_ number: Int) async throws -> ForgeIssue
    func pullRequest(_ number: Int) async throws -> ForgePullRequest
    /// Opens a pull request from `head` into `base`, or returns the open one from `head` (a retried publish opens
    /// nothing twice).
    func openPullRequest(head: String, base: String, title: String, body: String, draft: Bool) async throws
        -> ForgePullRequest
    func comment(on number: Int, pullRequest: Bool, body: String) async throws
    /// The comments of a review (GitHub) or of a merge request's discussion since `since` (GitLab).
    func reviewComments(pullRequest: Int, review: Int?) async throws -> [ForgeComment]
    /// The HTTP remote git pushes to, and the header that authenticates a push (never written to a config file).
    func pushAuthorization() async throws -> (name: String, value: String)
}

/// A GitHub App's installation tokens: made from the app's JWT, kept until five minutes before they expire, made again
/// when GitHub refuses one.
public actor GitHubAppTokens {
    let identity: GitHubAppIdentity
    let apiURL: String
    let record: @Sendable (ForgeCall) async -> Void
    var token: (value: String, expiresAt: Date?)?
    /// Tokens made so far (tests and the trace read it).
    public private(set) var minted = 0

    public init(
        identity: GitHubAppIdentity, apiURL: String, record: @escaping @Sendable (ForgeCall) async -> Void = { _ in }
    ) {
        self.identity = identity
        self.apiURL = apiURL
        self.record = record
    }

    /// The installation's token; a new one when `fresh`, or when the one held is due for refresh. Its call is handed to
    /// `record` (the caller's task), else to the recorder given at creation.
    public func token(
        fresh: Bool = false, now: Date = Date(), record: (@Sendable (ForgeCall) async -> Void)? = nil
    ) async throws -> String {
        if !fresh, let token, !GitHubAppRules.needsRefresh(expiresAt: token.expiresAt, now: now) { return token.value }
        let jwt = try await GitHubAppRules.jwt(identity, now: now)
        let http = ForgeHTTP(baseURL: apiURL, record: record ?? self.record) { _ in
            [("Authorization", "Bearer \(jwt)"), ("X-GitHub-Api-Version", "2022-11-28")]
        }
        let answer = try await http.call(
            .POST, "/app/installations/\(identity.installationID)/access_tokens", body: .object([:]), accept: [201])
        guard let value = answer.json["token"]?.stringValue else {
            throw FerryError(.io, "GitHub's installation token answer has no token")
        }
        let expiry = answer.json["expires_at"]?.stringValue.flatMap { try? Date($0, strategy: .iso8601) }
        token = (value, expiry)
        minted += 1
        return value
    }
}

/// GitHub's REST API for one repository, as an App installation or with a person's token.
public struct GitHubAPI: ForgeAPI {
    public enum Auth: Sendable {
        case app(GitHubAppTokens)
        case token(String)
    }

    public var kind: ForgeKind { .github }
    public let repository: String
    public let auth: Auth
    let http: ForgeHTTP

    public init(
        apiURL: String = "https://api.github.com", repository: String, auth: Auth,
        policy: ForgeRetryPolicy = ForgeRetryPolicy(), record: @escaping @Sendable (ForgeCall) async -> Void = { _ in }
    ) {
        self.repository = repository
        self.auth = auth
        http = ForgeHTTP(baseURL: apiURL, policy: policy, record: record) { fresh in
            let token: String
            switch auth {
            case .app(let tokens): token = try await tokens.token(fresh: fresh, record: record)
            case .token(let value): token = value
            }
            return [("Authorization", "Bearer \(token)"), ("X-GitHub-Api-Version", "2022-11-28")]
        }
    }

    var repo: String { "/repos/\(repository)" }

    public func issue(_ number: Int) async throws -> ForgeIssue {
        let issue = try await http.call(.GET, "\(repo)/issues/\(number)").json
        let comments = try await http.call(.GET, "\(repo)/issues/\(number)/comments?per_page=100").json
        return ForgeIssue(
            number: number, title: issue["title"]?.stringValue ?? "", body: issue["body"]?.stringValue ?? "",
            comments: Self.comments(comments), url: issue["html_url"]?.stringValue ?? "")
    }

    static func comments(_ list: JSONValue) -> [ForgeComment] {
        guard case .array(let items) = list else { return [] }
        return items.map {
            ForgeComment(
                author: $0["user"]?["login"]?.stringValue ?? "", body: $0["body"]?.stringValue ?? "",
                path: $0["path"]?.stringValue, line: $0["line"]?.intValue ?? $0["original_line"]?.intValue)
        }
    }

    static func pullRequest(_ json: JSONValue) -> ForgePullRequest {
        ForgePullRequest(
            number: json["number"]?.intValue ?? 0, url: json["html_url"]?.stringValue ?? "",
            head: json["head"]?["ref"]?.stringValue ?? "", base: json["base"]?["ref"]?.stringValue ?? "",
            draft: json["draft"]?.boolValue ?? false)
    }

    public func pullRequest(_ number: Int) async throws -> ForgePullRequest {
        Self.pullRequest(try await http.call(.GET, "\(repo)/pulls/\(number)").json)
    }

    public func openPullRequest(head: String, base: String, title: String, body: String, draft: Bool) async throws
        -> ForgePullRequest
    {
        let owner = repository.split(separator: "/").first.map(String.init) ?? ""
        let query = "head=\(Self.encode("\(owner):\(head)"))&state=open"
        if case .array(let open) = try await http.call(.GET, "\(repo)/pulls?\(query)").json, let first = open.first {
            return Self.pullRequest(first)
        }
        let created = try await http.call(
            .POST, "\(repo)/pulls",
            body: [
                "title": .string(title), "head": .string(head), "base": .string(base), "body": .string(body),
                "draft": .bool(draft), "maintainer_can_modify": .bool(true),
            ], accept: [201])
        return Self.pullRequest(created.json)
    }

    public func comment(on number: Int, pullRequest: Bool, body: String) async throws {
        // A pull request's conversation is its issue's comments on GitHub.
        _ = try await http.call(
            .POST, "\(repo)/issues/\(number)/comments", body: ["body": .string(body)], accept: [201])
    }

    public func reviewComments(pullRequest: Int, review: Int?) async throws -> [ForgeComment] {
        guard let review else { return [] }
        return Self.comments(try await http.call(.GET, "\(repo)/pulls/\(pullRequest)/reviews/\(review)/comments").json)
    }

    public func pushAuthorization() async throws -> (name: String, value: String) {
        let token: String
        switch auth {
        case .app(let tokens): token = try await tokens.token()
        case .token(let value): token = value
        }
        // git over HTTPS takes the token as the password of the user x-access-token.
        return ("Authorization", "Basic " + Data("x-access-token:\(token)".utf8).base64EncodedString())
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? text
    }
}

/// GitLab's REST API (v4) for one project, with a project or group access token (or a person's).
public struct GitLabAPI: ForgeAPI {
    public var kind: ForgeKind { .gitlab }
    public let project: String
    let token: String
    let http: ForgeHTTP

    /// `url` is the instance (`https://gitlab.com`); `project` its path with namespace.
    public init(
        url: String = "https://gitlab.com", project: String, token: String,
        policy: ForgeRetryPolicy = ForgeRetryPolicy(), record: @escaping @Sendable (ForgeCall) async -> Void = { _ in }
    ) {
        self.project = project
        self.token = token
        let base = (url.hasSuffix("/") ? String(url.dropLast()) : url) + "/api/v4"
        http = ForgeHTTP(baseURL: base, policy: policy, record: record) { _ in [("PRIVATE-TOKEN", token)] }
    }

    var path: String { "/projects/\(GitHubAPI.encode(project))" }

    static func notes(_ list: JSONValue) -> [ForgeComment] {
        guard case .array(let items) = list else { return [] }
        return items.filter { $0["system"]?.boolValue != true }.map {
            ForgeComment(
                author: $0["author"]?["username"]?.stringValue ?? "", body: $0["body"]?.stringValue ?? "",
                path: $0["position"]?["new_path"]?.stringValue, line: $0["position"]?["new_line"]?.intValue)
        }
    }

    public func issue(_ number: Int) async throws -> ForgeIssue {
        let issue = try await http.call(.GET, "\(path)/issues/\(number)").json
        let notes = try await http.call(.GET, "\(path)/issues/\(number)/notes?sort=asc&per_page=100").json
        return ForgeIssue(
            number: number, title: issue["title"]?.stringValue ?? "", body: issue["description"]?.stringValue ?? "",
            comments: Self.notes(notes), url: issue["web_url"]?.stringValue ?? "")
    }

    static func mergeRequest(_ json: JSONValue) -> ForgePullRequest {
        ForgePullRequest(
            number: json["iid"]?.intValue ?? 0, url: json["web_url"]?.stringValue ?? "",
            head: json["source_branch"]?.stringValue ?? "", base: json["target_branch"]?.stringValue ?? "",
            draft: json["draft"]?.boolValue ?? json["work_in_progress"]?.boolValue ?? false)
    }

    public func pullRequest(_ number: Int) async throws -> ForgePullRequest {
        Self.mergeRequest(try await http.call(.GET, "\(path)/merge_requests/\(number)").json)
    }

    public func openPullRequest(head: String, base: String, title: String, body: String, draft: Bool) async throws
        -> ForgePullRequest
    {
        let query = "source_branch=\(GitHubAPI.encode(head))&state=opened"
        if case .array(let open) = try await http.call(.GET, "\(path)/merge_requests?\(query)").json,
            let first = open.first
        {
            return Self.mergeRequest(first)
        }
        // A draft on GitLab is a title that starts "Draft:".
        let created = try await http.call(
            .POST, "\(path)/merge_requests",
            body: [
                "source_branch": .string(head), "target_branch": .string(base),
                "title": .string(draft ? "Draft: \(title)" : title), "description": .string(body),
                "remove_source_branch": .bool(true),
            ], accept: [201])
        return Self.mergeRequest(created.json)
    }

    public func comment(on number: Int, pullRequest: Bool, body: String) async throws {
        let kind = pullRequest ? "merge_requests" : "issues"
        _ = try await http.call(.POST, "\(path)/\(kind)/\(number)/notes", body: ["body": .string(body)], accept: [201])
    }

    public func reviewComments(pullRequest: Int, review: Int?) async throws -> [ForgeComment] {
        // GitLab has no review object: the merge request's unresolved diff notes are what the reviewer asked.
        let notes = try await http.call(.GET, "\(path)/merge_requests/\(pullRequest)/notes?sort=asc&per_page=100").json
        guard case .array(let items) = notes else { return [] }
        return Self.notes(
            .array(items.filter { $0["type"]?.stringValue == "DiffNote" && $0["resolved"]?.boolValue != true }))
    }

    public func pushAuthorization() async throws -> (name: String, value: String) {
        ("Authorization", "Basic " + Data("oauth2:\(token)".utf8).base64EncodedString())
    }
}

/// A git remote read as a forge's repository, pure: `https://github.com/o/r.git`, `git@github.com:o/r.git`,
/// `ssh://git@gitlab.example.com:2222/group/sub/project.git`.
public struct ForgeRemote: Sendable, Hashable {
    public var host: String
    public var repository: String
    /// Over HTTPS (a token goes as a header); otherwise SSH, with the developer's own keys.
    public var https: Bool

    public init?(_ url: String) {
        var text = url.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasSuffix(".git") { text = String(text.dropLast(4)) }
        if text.hasSuffix("/") { text = String(text.dropLast()) }
        if let parsed = URL(string: text), let scheme = parsed.scheme?.lowercased(), let host = parsed.host,
            ["https", "http", "ssh"].contains(scheme)
        {
            self.host = host.lowercased()
            repository = String(parsed.path.drop { $0 == "/" })
            https = scheme != "ssh"
        } else if let at = text.firstIndex(of: "@"), let colon = text[at...].firstIndex(of: ":"),
            !text.contains("://")
        {
            host = String(text[text.index(after: at)..<colon]).lowercased()
            repository = String(text[text.index(after: colon)...])
            https = false
        } else {
            return nil
        }
        guard repository.split(separator: "/").count >= 2 else { return nil }
    }

    /// The forge a host is, when its name says (github.com, gitlab.com, gitlab.example.com).
    public var kind: ForgeKind? {
        if host == "github.com" || host.hasPrefix("github.") { return .github }
        if host.contains("gitlab") { return .gitlab }
        return nil
    }
}
