import FerryCore
import FerryTesting
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing

@testable import FerryForge

/// The GitLab client against a stand-in written from GitLab's REST documentation (v4): the token as `PRIVATE-TOKEN`,
/// the project's path URL-encoded, notes without system notes, a draft as a `Draft:` title, an open merge request
/// found before one is made, and a review's unresolved diff notes.
@Suite struct GitLabAPITests {
    final class Seen: Sendable {
        let lines = Mutex<[String]>([])
        let bodies = Mutex<[String: JSONValue]>([:])
    }

    static func withGitLab<T: Sendable>(_ body: @Sendable (String, Seen) async throws -> T) async throws -> T {
        let seen = Seen()
        let router = Router()
        let project = "/api/v4/projects/group%2Fsub%2Fproject"
        for method in [HTTPRequest.Method.get, .post] {
            router.on("**", method: method) { request, _ -> Response in
                // The raw path: the project's id stays encoded, as GitLab requires.
                let path = String(request.uri.description.split(separator: "?").first ?? "")
                let query = request.uri.query ?? ""
                let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
                seen.lines.withLock { $0.append("\(method.rawValue) \(path)?\(query)") }
                if let json = JSONValue.parse(text) { seen.bodies.withLock { $0["\(method.rawValue) \(path)"] = json } }
                guard request.headers[HTTPField.Name("PRIVATE-TOKEN")!] == "glpat-test" else {
                    return Self.reply(401, ["message": "401 Unauthorized"])
                }
                switch (method, path) {
                case (.get, project + "/issues/12"):
                    return Self.reply(
                        200,
                        [
                            "iid": 12, "title": "Fix the parser", "description": "Empty input fails.",
                            "web_url": "https://gitlab.invalid/group/sub/project/-/issues/12",
                        ])
                case (.get, project + "/issues/12/notes"):
                    return Self.reply(
                        200,
                        [
                            ["body": "changed the description", "system": true, "author": ["username": "ann"]],
                            ["body": "Seen on 17.2 too.", "system": false, "author": ["username": "bob"]],
                        ])
                case (.get, project + "/merge_requests"):
                    return Self.reply(200, [])
                case (.post, project + "/merge_requests"):
                    return Self.reply(
                        201,
                        [
                            "iid": 5, "web_url": "https://gitlab.invalid/group/sub/project/-/merge_requests/5",
                            "source_branch": "ferry/r1", "target_branch": "main", "draft": true,
                        ])
                case (.get, project + "/merge_requests/5/notes"):
                    return Self.reply(
                        200,
                        [
                            [
                                "body": "Rename x.", "type": "DiffNote", "resolved": false,
                                "author": ["username": "rev"],
                                "position": ["new_path": "parse.py", "new_line": 3],
                            ],
                            [
                                "body": "Done before.", "type": "DiffNote", "resolved": true,
                                "author": ["username": "rev"],
                            ],
                            ["body": "LGTM otherwise", "type": .null, "author": ["username": "rev"]],
                        ])
                case (.post, project + "/issues/12/notes"), (.post, project + "/merge_requests/5/notes"):
                    return Self.reply(
                        201, ["id": 1, "body": .string(JSONValue.parse(text)?["body"]?.stringValue ?? "")])
                default:
                    return Self.reply(404, ["message": "404 Not Found"])
                }
            }
        }
        return try await serving(router) { port in try await body("http://127.0.0.1:\(port)", seen) }
    }

    static func reply(_ status: Int, _ value: JSONValue) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.jsonString)))
    }

    @Test func issuesNotesAndMergeRequestsAreReadAndMadeAsGitLabDocumentsThem() async throws {
        try await Self.withGitLab { url, seen in
            let api = GitLabAPI(url: url, project: "group/sub/project", token: "glpat-test")
            let issue = try await api.issue(12)
            #expect(issue.title == "Fix the parser" && issue.body == "Empty input fails.")
            #expect(issue.comments == [ForgeComment(author: "bob", body: "Seen on 17.2 too.")], "system notes left out")
            let request = try await api.openPullRequest(
                head: "ferry/r1", base: "main", title: "Ferry: Fix the parser", body: "evidence", draft: true)
            #expect(request.number == 5 && request.draft && request.head == "ferry/r1")
            let made = try #require(
                seen.bodies.withLock { $0["POST /api/v4/projects/group%2Fsub%2Fproject/merge_requests"] })
            #expect(made["title"] == "Draft: Ferry: Fix the parser" && made["source_branch"] == "ferry/r1")
            #expect(made["target_branch"] == "main" && made["description"] == "evidence")
            #expect(
                seen.lines.withLock { $0 }.contains {
                    $0
                        == "GET /api/v4/projects/group%2Fsub%2Fproject/merge_requests?source_branch=ferry%2Fr1&state=opened"
                })
            let asked = try await api.reviewComments(pullRequest: 5, review: nil)
            #expect(asked == [ForgeComment(author: "rev", body: "Rename x.", path: "parse.py", line: 3)])
            try await api.comment(on: 12, pullRequest: false, body: "told")
            try await api.comment(on: 5, pullRequest: true, body: "told too")
            #expect(
                seen.bodies.withLock { $0["POST /api/v4/projects/group%2Fsub%2Fproject/merge_requests/5/notes"] }?[
                    "body"] == "told too")
            let push = try await api.pushAuthorization()
            #expect(push.value == "Basic " + Data("oauth2:glpat-test".utf8).base64EncodedString())
            // A wrong token is GitLab's 401, said plainly.
            let wrong = GitLabAPI(url: url, project: "group/sub/project", token: "nope")
            await #expect {
                _ = try await wrong.issue(12)
            } throws: { error in
                (error as? FerryError)?.message.contains("HTTP 401: 401 Unauthorized") == true
            }
        }
    }
}
