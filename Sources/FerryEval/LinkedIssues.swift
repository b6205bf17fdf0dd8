import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore

/// The issue text a mined commit links to, read from GitHub's REST API: a commit message says what changed, the
/// issue says what was wrong, which is what a task gives an agent (SWE-bench's problem statements are issue text).
///
/// A message's references are `#123`, `gh-123` and this repository's issue or pull URLs. A pull request stands for
/// the issues its text closes (`fixes #12`), or for itself when it closes none. A reference that does not exist
/// (404) is skipped; any other failure (no network, a rate limit, a server error) throws, so the caller can say so
/// once and keep the commit message.
public struct LinkedIssues: Sendable {
    public struct Issue: Sendable, Hashable {
        public var number: Int
        public var title: String
        public var body: String
        public var isPullRequest: Bool
    }

    public let repository: String
    public let apiBase: String
    let token: String?
    let client: HTTPClient
    /// Issues per statement, and characters of each body.
    public var maxIssues = 3
    public var maxBody = 6_000
    /// Per request. The HTTP client keeps retrying a refused connection until then, so this is also how long an
    /// unreachable API costs (once: the miner stops asking after one failure).
    public var timeoutSeconds: Int64 = 20

    public init(
        repository: String, apiBase: String = "https://api.github.com", token: String?, client: HTTPClient = .shared
    ) {
        self.repository = repository
        self.apiBase = apiBase.hasSuffix("/") ? String(apiBase.dropLast()) : apiBase
        self.token = token
        self.client = client
    }

    /// `owner/name` of a GitHub remote URL (`https://github.com/o/n.git`, `git@github.com:o/n.git`), else nil.
    public static func repository(fromRemote url: String) -> String? {
        let text = url.trimmingCharacters(in: .whitespacesAndNewlines)
        guard
            let range = text.range(
                of: #"github\.com[:/]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(\.git)?/?$"#, options: .regularExpression)
        else { return nil }
        let tail = text[range].dropFirst("github.com".count + 1)
        var name = String(tail)
        if name.hasSuffix("/") { name.removeLast() }
        if name.hasSuffix(".git") { name.removeLast(4) }
        return name.split(separator: "/").count == 2 ? name : nil
    }

    /// The issue and pull request numbers a commit message refers to, in order, without repeats.
    public static func references(in message: String, repository: String) -> [Int] {
        let escaped = NSRegularExpression.escapedPattern(for: repository)
        let patterns = [
            #"(?<![\w/&])(?:GH-|gh-|#)(\d{1,7})\b"#,
            #"github\.com/"# + escaped + #"/(?:issues|pull)/(\d{1,7})\b"#,
        ]
        var found: [(position: Int, number: Int)] = []
        for pattern in patterns {
            guard let regex = try? NSRegularExpression(pattern: pattern) else { continue }
            let whole = NSRange(message.startIndex..., in: message)
            for match in regex.matches(in: message, range: whole) {
                guard let range = Range(match.range(at: 1), in: message), let number = Int(message[range]) else {
                    continue
                }
                found.append((match.range.location, number))
            }
        }
        var seen: Set<Int> = []
        return found.sorted { $0.position < $1.position }.map(\.number).filter { seen.insert($0).inserted }
    }

    /// The issues a pull request's text closes: "fixes #12", "Closes: #3", "resolves owner/name#4".
    public static func closing(in text: String, repository: String) -> [Int] {
        let pattern =
            #"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+(?:"#
            + NSRegularExpression.escapedPattern(for: repository)
            + #")?#(\d{1,7})\b"#
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        var seen: Set<Int> = []
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            Range(match.range(at: 1), in: text).flatMap { Int(text[$0]) }
        }.filter { seen.insert($0).inserted }
    }

    /// The issue or pull request, or nil when there is none with that number.
    public func fetch(_ number: Int) async throws -> Issue? {
        var request = HTTPClientRequest(url: "\(apiBase)/repos/\(repository)/issues/\(number)")
        request.headers.add(name: "Accept", value: "application/vnd.github+json")
        request.headers.add(name: "User-Agent", value: "ferry-eval-mine")
        if let token, !token.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(timeoutSeconds))
        } catch {
            throw FerryError(.io, "GitHub's API at \(apiBase) could not be reached (\(error))")
        }
        let body = try await response.body.collect(upTo: 4 << 20)
        switch response.status.code {
        case 200: break
        case 404, 410: return nil
        case 401: throw FerryError(.io, "GitHub's API refused the token (401); check GITHUB_TOKEN")
        case 403, 429:
            throw FerryError(
                .io, "GitHub's API limited the requests (\(response.status.code)); set GITHUB_TOKEN for a higher limit")
        default: throw FerryError(.io, "GitHub's API answered \(response.status.code) for issue #\(number)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        else {
            throw FerryError(.io, "GitHub's API gave issue #\(number) as something other than a JSON object")
        }
        return Issue(
            number: number, title: object["title"] as? String ?? "", body: object["body"] as? String ?? "",
            isPullRequest: object["pull_request"] != nil)
    }

    /// The problem statement for a commit: the issues it links (a pull request's closed issues standing in for it),
    /// then the commit message; and the numbers used. With no link, the message alone.
    public func statement(for message: String) async throws -> (text: String, linked: [Int]) {
        var issues: [Issue] = []
        for number in Self.references(in: message, repository: repository) where issues.count < maxIssues {
            guard let issue = try await fetch(number) else { continue }
            let closed =
                issue.isPullRequest ? Self.closing(in: issue.title + "\n" + issue.body, repository: repository) : []
            var found: [Issue] = []
            for closedNumber in closed where issues.count + found.count < maxIssues {
                if let closedIssue = try await fetch(closedNumber), !closedIssue.isPullRequest {
                    found.append(closedIssue)
                }
            }
            for candidate in found.isEmpty ? [issue] : found
            where !issues.contains(where: { $0.number == candidate.number }) {
                issues.append(candidate)
            }
        }
        guard !issues.isEmpty else { return (message, []) }
        var text = ""
        for issue in issues {
            var body = issue.body.trimmingCharacters(in: .whitespacesAndNewlines)
            if body.count > maxBody { body = String(body.prefix(maxBody)) + "\n[…]" }
            text += "\(issue.title)\n\n\(body)\n\n"
        }
        text += "The change that closed it says:\n\(message)"
        return (text, issues.map(\.number))
    }
}
