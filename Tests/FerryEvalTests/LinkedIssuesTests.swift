import FerryCore
import FerryEval
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// The issue text a mined commit links to, read over real HTTP from a stand-in for GitHub's API.
@Suite struct LinkedIssuesTests {
    @Test func referencesAreIssueNumbersAndThisRepositorysLinksNotEntitiesOrOtherRepositories() {
        let message = """
            Fix dotted blueprint names (#4041)

            fixes #4040, see gh-12 and https://github.com/pallets/flask/issues/99 and again #4040.
            Not &#39; nor abc#5 nor https://github.com/other/repo/issues/7.
            """
        #expect(LinkedIssues.references(in: message, repository: "pallets/flask") == [4041, 4040, 12, 99])
        #expect(
            LinkedIssues.closing(
                in: "This PR Fixes #3 and closes: #4; resolves pallets/flask#5. Refs #6", repository: "pallets/flask")
                == [3, 4, 5])
        #expect(LinkedIssues.repository(fromRemote: "https://github.com/pallets/flask.git") == "pallets/flask")
        #expect(LinkedIssues.repository(fromRemote: "git@github.com:psf/requests.git\n") == "psf/requests")
        #expect(LinkedIssues.repository(fromRemote: "https://gitlab.com/a/b.git") == nil)
    }

    static let answers: [String: FakeHTTPServer.Answer] = [
        "/repos/acme/calc/issues/12": .init(
            200, #"{"number": 12, "title": "Fix add", "body": "Fixes #11.", "pull_request": {"url": "x"}}"#),
        "/repos/acme/calc/issues/11": .init(
            200, #"{"number": 11, "title": "add() subtracts", "body": "add(2, 3) gives -1.\r\n"}"#),
    ]

    @Test func aPullRequestStandsForTheIssueItClosesAndTheMessageComesAfter() async throws {
        try await FakeHTTPServer.with(Self.answers) { server in
            let issues = LinkedIssues(repository: "acme/calc", apiBase: server.baseURL, token: "secret-token")
            let (text, linked) = try await issues.statement(for: "Make add add (#12), not #404")
            #expect(linked == [11])
            #expect(
                text
                    == "add() subtracts\n\nadd(2, 3) gives -1.\n\nThe change that closed it says:\nMake add add (#12), not #404"
            )
            #expect(
                server.requests == [
                    "/repos/acme/calc/issues/12", "/repos/acme/calc/issues/11", "/repos/acme/calc/issues/404",
                ])
            #expect(server.authorizations.allSatisfy { $0 == "Bearer secret-token" })
            // No reference: the message alone, and no request.
            let plain = try await issues.statement(for: "Swap the operands")
            #expect(plain.text == "Swap the operands" && plain.linked.isEmpty)
            #expect(server.requests.count == 3)
        }
    }

    @Test func aRateLimitOrNoNetworkIsAnErrorThatSaysSo() async throws {
        try await FakeHTTPServer.with([
            "/repos/acme/calc/issues/1": .init(403, #"{"message": "API rate limit exceeded"}"#)
        ]) { server in
            let issues = LinkedIssues(repository: "acme/calc", apiBase: server.baseURL, token: nil)
            await #expect { try await issues.statement(for: "Fix #1") } throws: { error in
                "\(error)".contains("limited the requests (403)") && "\(error)".contains("GITHUB_TOKEN")
            }
            #expect(server.authorizations == [nil])
        }
        var closed = LinkedIssues(repository: "acme/calc", apiBase: "http://127.0.0.1:9", token: nil)
        closed.timeoutSeconds = 2
        await #expect { try await closed.fetch(1) } throws: { "\($0)".contains("could not be reached") }
    }
}
