import FerryAgent
import FerryCore
import FerryLocal
import FerryModels
import Foundation
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// The embedded model inside a server: one llama.cpp server per process (a stand-in here), started on first need,
/// shared by the workers, stopped with the server.
@Suite struct LocalModelHostTests {
    static let standIn =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
        + "/Fixtures/fake-llama-server.py"

    @Test func theLocalServerStartsOnceIsSharedAndStopsWithTheHost() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-host-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "ok".write(toFile: dir + "/m.gguf", atomically: true, encoding: .utf8)
        var profile = FerryConfig.builtinProfiles["local"]!
        profile.baseURL = "http://127.0.0.1:9/v1"
        profile.modelPath = dir + "/m.gguf"
        profile.serverBinary = Self.standIn
        let host = LocalModelHost(cache: LocalCache(root: dir))
        // Two workers asking at once get the same server.
        async let first = host.resolve(profile)
        async let second = host.resolve(profile)
        let (a, b) = try await (first, second)
        #expect(a.baseURL != profile.baseURL && a.baseURL == b.baseURL)
        #expect(await LocalServer.isHealthy(baseURL: a.baseURL))
        #expect(try await host.resolve(profile).baseURL == a.baseURL)
        let remote = FerryConfig.builtinProfiles["openai"]!
        #expect(try await host.resolve(remote) == remote)
        await host.shutdown()
        #expect(!(await LocalServer.isHealthy(baseURL: a.baseURL)))
    }

    @Test func noModelYetIsAClearErrorForTheTask() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-host-\(UUID().uuidString.prefix(8))"
        ).path
        var profile = FerryConfig.builtinProfiles["local"]!
        profile.baseURL = "http://127.0.0.1:9/v1"
        let host = LocalModelHost(cache: LocalCache(root: dir))
        await #expect { _ = try await host.resolve(profile) } throws: { error in
            (error as? FerryError)?.message.contains("ferry model install") == true
        }
    }
}
