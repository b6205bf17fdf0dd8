import Crypto
import FerryCore
import Foundation

/// Where a team's issues and pull requests live.
public enum ForgeKind: String, Sendable, Hashable, CaseIterable {
    case github, gitlab
}

/// A forge's webhook delivery, verified and read: what happened, on which issue or pull request, and the delivery's
/// id (a redelivery carries the same one, so it starts nothing twice).
public struct ForgeEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Labels were put on an issue (or the issue was opened with them).
        case issueLabeled(labels: [String])
        /// A comment on an issue or a pull request.
        case comment(body: String, onPullRequest: Bool)
        /// A review of a pull request that asks for changes.
        case changesRequested(body: String)
        /// Anything Ferry does not act on, named for the log.
        case other(String)
    }

    public var kind: Kind
    public var delivery: String
    /// `owner/name` on GitHub, `group/project` on GitLab.
    public var repository: String
    /// The issue's or pull request's number (`iid` on GitLab).
    public var number: Int
    public var title: String
    public var body: String
    /// Who caused it (their login), and whether it was a bot (Ferry's own comments come back as events).
    public var sender: String
    public var senderIsBot: Bool
    /// The review a `changesRequested` event is (GitHub), to read its comments on the diff.
    public var reviewID: Int? = nil
    /// The repository's default branch, where a pull request for an issue merges.
    public var defaultBranch: String? = nil
}

/// Why a delivery was refused.
public struct ForgeRefusal: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String
    /// The sender is not who it must be (no signature or token, or a wrong one), not just a malformed delivery.
    public var unauthenticated: Bool
    public init(_ description: String, unauthenticated: Bool = false) {
        self.description = description
        self.unauthenticated = unauthenticated
    }
}

/// GitHub's webhooks: `X-Hub-Signature-256` (HMAC-SHA256 of the raw body under the hook's secret), `X-GitHub-Event`
/// and `X-GitHub-Delivery`.
public enum GitHubWebhook {
    /// Checks the signature in constant time; a missing or malformed one is refused like a wrong one.
    public static func verify(body: Data, signature: String?, secret: String) throws(ForgeRefusal) {
        guard let signature, signature.hasPrefix("sha256="), !secret.isEmpty else {
            throw ForgeRefusal("the delivery is not signed (X-Hub-Signature-256)", unauthenticated: true)
        }
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        let expected = Data(mac)
        guard let given = Data(hexString: String(signature.dropFirst(7))), given.count == expected.count,
            zip(given, expected).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0
        else {
            throw ForgeRefusal("the delivery's signature does not match this project's secret", unauthenticated: true)
        }
    }

    /// The event a verified delivery carries.
    public static func event(name: String?, delivery: String?, body: Data) throws(ForgeRefusal) -> ForgeEvent {
        guard let name, let delivery, !delivery.isEmpty else {
            throw ForgeRefusal("the delivery has no X-GitHub-Event or X-GitHub-Delivery")
        }
        guard let payload = JSONValue.parse(String(decoding: body, as: UTF8.self)), case .object = payload else {
            throw ForgeRefusal("the delivery's body is not JSON")
        }
        let action = payload["action"]?.stringValue ?? ""
        let issue = payload["issue"] ?? payload["pull_request"] ?? .null
        var event = ForgeEvent(
            kind: .other("\(name).\(action)"), delivery: delivery,
            repository: payload["repository"]?["full_name"]?.stringValue ?? "",
            number: issue["number"]?.intValue ?? 0, title: issue["title"]?.stringValue ?? "",
            body: issue["body"]?.stringValue ?? "", sender: payload["sender"]?["login"]?.stringValue ?? "",
            senderIsBot: payload["sender"]?["type"]?.stringValue == "Bot")
        event.defaultBranch = payload["repository"]?["default_branch"]?.stringValue
        switch (name, action) {
        case ("issues", "labeled"):
            if let label = payload["label"]?["name"]?.stringValue { event.kind = .issueLabeled(labels: [label]) }
        case ("issue_comment", "created"):
            event.kind = .comment(
                body: payload["comment"]?["body"]?.stringValue ?? "", onPullRequest: issue["pull_request"] != nil)
        case ("pull_request_review", "submitted"):
            if payload["review"]?["state"]?.stringValue?.lowercased() == "changes_requested" {
                event.kind = .changesRequested(body: payload["review"]?["body"]?.stringValue ?? "")
                event.reviewID = payload["review"]?["id"]?.intValue
            } else {
                event.kind = .other("pull_request_review.\(payload["review"]?["state"]?.stringValue ?? "")")
            }
        default:
            break
        }
        return event
    }
}

/// GitLab's webhooks: the secret token comes back as `X-Gitlab-Token`, compared in constant time; the event is named
/// by `X-Gitlab-Event` and the delivery by `X-Gitlab-Event-UUID`.
public enum GitLabWebhook {
    /// The event a verified delivery carries: an issue whose labels gained one (Issue Hook, `changes.labels`), a
    /// comment on an issue or a merge request (Note Hook).
    public static func event(name: String?, delivery: String?, body: Data) throws(ForgeRefusal) -> ForgeEvent {
        guard let name, let delivery, !delivery.isEmpty else {
            throw ForgeRefusal("the delivery has no X-Gitlab-Event or X-Gitlab-Event-UUID")
        }
        guard let payload = JSONValue.parse(String(decoding: body, as: UTF8.self)), case .object = payload else {
            throw ForgeRefusal("the delivery's body is not JSON")
        }
        let user = payload["user"]?["username"]?.stringValue ?? ""
        // Project and group access tokens act as bot users named project_<id>_bot… or group_<id>_bot….
        let bot = user.range(of: #"^(project|group)_\d+_bot"#, options: .regularExpression) != nil
        let attributes = payload["object_attributes"] ?? .null
        let target = payload["issue"] ?? payload["merge_request"] ?? attributes
        var event = ForgeEvent(
            kind: .other(name), delivery: delivery,
            repository: payload["project"]?["path_with_namespace"]?.stringValue ?? "",
            number: target["iid"]?.intValue ?? 0, title: target["title"]?.stringValue ?? "",
            body: target["description"]?.stringValue ?? "", sender: user, senderIsBot: bot)
        event.defaultBranch = payload["project"]?["default_branch"]?.stringValue
        switch name {
        case "Issue Hook":
            func titles(_ value: JSONValue?) -> [String] {
                guard case .array(let items)? = value else { return [] }
                return items.compactMap { $0["title"]?.stringValue }
            }
            let before = titles(payload["changes"]?["labels"]?["previous"])
            let after = titles(payload["changes"]?["labels"]?["current"])
            // Opened with labels: they all count as added.
            let added =
                attributes["action"]?.stringValue == "open" && payload["changes"]?["labels"] == nil
                ? titles(payload["labels"]) : after.filter { !before.contains($0) }
            if !added.isEmpty { event.kind = .issueLabeled(labels: added) }
        case "Note Hook":
            let on = attributes["noteable_type"]?.stringValue
            guard on == "Issue" || on == "MergeRequest" else { break }
            event.kind = .comment(body: attributes["note"]?.stringValue ?? "", onPullRequest: on == "MergeRequest")
        default:
            break
        }
        return event
    }

    public static func verify(token: String?, secret: String) throws(ForgeRefusal) {
        guard let token, !secret.isEmpty else {
            throw ForgeRefusal("the delivery has no X-Gitlab-Token", unauthenticated: true)
        }
        let a = Array(token.utf8)
        let b = Array(secret.utf8)
        guard a.count == b.count, zip(a, b).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw ForgeRefusal("the delivery's token does not match this project's secret", unauthenticated: true)
        }
    }
}

/// What a project does with a forge's event, pure: start a task from an issue, follow up on Ferry's pull request, or
/// nothing (said why).
public enum ForgeTriggers {
    public enum Action: Sendable, Hashable {
        /// A task from the issue: its title and text, and the comment's instruction when a comment asked.
        case startTask(issue: Int, instruction: String?)
        /// A follow-up run on the pull request's branch, with the review's or comment's text as the task.
        case followUp(pullRequest: Int, instruction: String)
        case ignore(String)
    }

    /// The command a comment gives: `/ferry` at the start of a line, and what follows it.
    public static func command(in comment: String) -> String? {
        for line in comment.split(separator: "\n", omittingEmptySubsequences: false) {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text == "/ferry" { return "" }
            if text.hasPrefix("/ferry ") { return String(text.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// `label` is the project's trigger label (`ferry` by default); `ownPullRequests` the pull requests Ferry opened.
    public static func decide(_ event: ForgeEvent, label: String, ownPullRequests: Set<Int>) -> Action {
        if event.senderIsBot { return .ignore("sent by a bot (\(event.sender))") }
        switch event.kind {
        case .issueLabeled(let added):
            // Several labels added at once arrive together (GitLab): any of them may be the trigger.
            guard added.contains(where: { $0.lowercased() == label.lowercased() }) else {
                return .ignore("the label \(added.joined(separator: ", ")) is not \(label)")
            }
            return .startTask(issue: event.number, instruction: nil)
        case .comment(let body, let onPullRequest):
            guard let instruction = command(in: body) else { return .ignore("a comment without /ferry") }
            if onPullRequest {
                guard ownPullRequests.contains(event.number) else {
                    return .ignore("/ferry on a pull request Ferry did not open")
                }
                guard !instruction.isEmpty else { return .ignore("/ferry on a pull request needs an instruction") }
                return .followUp(pullRequest: event.number, instruction: instruction)
            }
            return .startTask(issue: event.number, instruction: instruction.isEmpty ? nil : instruction)
        case .changesRequested(let body):
            guard ownPullRequests.contains(event.number) else { return .ignore("a review of another pull request") }
            return .followUp(pullRequest: event.number, instruction: body)
        case .other(let name):
            return .ignore("\(name) starts nothing")
        }
    }
}

extension Data {
    /// Bytes from hex digits; nil for anything else.
    init?(hexString: String) {
        guard hexString.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = hexString.startIndex
        while index < hexString.endIndex {
            let next = hexString.index(index, offsetBy: 2)
            guard let byte = UInt8(hexString[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
