import FerryCore
import FerryServer
import Foundation
import NIOHTTP1
import Testing

/// The OpenAPI document is the contract: every operation it names is served, and answers with a status it lists
/// (errors as problem documents). A small, fixed version of what schemathesis does at random.
@Suite struct OpenAPITests {
    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/docs/openapi.yaml"

    /// (method, path, documented statuses), read line by line from the document's layout.
    static func operations() throws -> [(method: String, path: String, statuses: Set<Int>)] {
        let lines = try String(contentsOfFile: document, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var result: [(String, String, Set<Int>)] = []
        var path: String?
        var inPaths = false
        for line in lines {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, !line.hasPrefix(" "), !line.isEmpty { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") { path = String(line.dropFirst(2).dropLast()); continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("    "), !line.hasPrefix("     "), let method = ["get:", "post:", "put:", "delete:"].first(where: { trimmed == $0 }),
                let path
            {
                result.append((String(method.dropLast()).uppercased(), path, []))
                continue
            }
            if let status = trimmed.split(separator: ":").first.flatMap({ Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) }),
                trimmed.hasPrefix("\""), !result.isEmpty
            {
                result[result.count - 1].2.insert(status)
            }
        }
        return result
    }

    @Test func everyDocumentedOperationIsServedWithADocumentedStatus() async throws {
        let operations = try Self.operations()
        #expect(operations.count == 24)
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-openapi-\(UUID().uuidString.prefix(8))").path
        let server = try TeamServer(dataDirectory: data)
        let admin = try #require(try await server.bootstrap())
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run(port: 0, workers: [], signals: []) { continuation.yield($0) } }
            var iterator = ports.makeAsyncIterator()
            let client = ServerAPITests.Client(port: try #require(await iterator.next()))
            let served = try await client.send(.GET, "/openapi.yaml", key: nil)
            let text = try String(contentsOfFile: Self.document, encoding: .utf8)
            #expect(served.status == 200 && served.body == text)
            for operation in operations {
                let path = operation.path.replacingOccurrences(of: "{id}", with: "nope")
                for key in [admin, nil] {
                    let reply = try await client.send(
                        HTTPMethod(rawValue: operation.method), path, key: key, body: operation.method == "GET" || operation.method == "DELETE" ? nil : [:])
                    #expect(
                        operation.statuses.contains(reply.status),
                        "\(operation.method) \(operation.path) answered \(reply.status), documented \(operation.statuses.sorted())")
                    if reply.status >= 400 {
                        #expect(reply.contentType == "application/problem+json", "\(operation.method) \(operation.path): \(reply.body)")
                    }
                }
            }
            group.cancelAll()
        }
    }
}
