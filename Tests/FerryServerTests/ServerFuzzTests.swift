import FerryAgent
import FerryCore
import FerryModels
import FerryServer
import FerryTesting
import Foundation
import Testing

/// The server fuzzed from outside, on both stores (Tests/assist/fuzz_server.py): every operation of its OpenAPI
/// document through schemathesis (coverage, fuzzing and stateful phases; no 5xx, statuses and content types as
/// documented), then every MCP tool's schema with a seeded generator of hostile values through the `mcp` SDK, the
/// server answering /healthz after each call. `FERRY_FUZZ_EXAMPLES`, `FERRY_FUZZ_CALLS` and `FERRY_FUZZ_SEED` make
/// it longer (docs/SECURITY.md has the last long run).
@Suite struct ServerFuzzTests {
    static let schemathesis =
        (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? NSHomeDirectory() + "/.cache")
        + "/ferry/fuzz-venv/bin/schemathesis"

    @Test(arguments: QueueTests.Kind.allCases)
    func theServerTakesSchemaDrivenAndHostileInputWithoutA5xxOrACrash(kind: QueueTests.Kind) async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: AssistServerTests.python),
            "run scripts/setup.sh --test-clients (make test does)")
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.schemathesis),
            "run scripts/setup.sh --test-clients (make test does)")
        let environment = ProcessInfo.processInfo.environment
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-fuzz-\(UUID().uuidString.prefix(8))"
        ).path
        let data = base + "/data"
        try FileManager.default.createDirectory(atPath: base + "/repos", withIntermediateDirectories: true)
        try FileManager.default.moveItem(
            atPath: try await FixtureRepo.make(CalcFixture.files), toPath: base + "/repos/calc")
        let policy = ServerPolicy.server(projectRoots: [base + "/repos"], allowHosts: [], dataDirectory: data)
        try await ServerAPITests.withServer(kind, data: data, policy: policy) { server in
            let admin = try #require(try await server.bootstrap())
            let tenant = try #require(try await server.store.tenant(named: "default"))
            _ = try await server.store.createProject(
                Project(
                    id: "prj_calc", tenantID: tenant.id, name: "calc", repo: base + "/repos/calc", base: "main",
                    model: nil,
                    testCommand: "python3 -m unittest", createdAt: Date()))
            try await FakeModelServer.with(.openai, responder: CalcFixture.responder) { fake in
                let models = ModelPool.answering(with: fake, runs: data + "/runs")
                try await server.serving(models: models) { port in
                    let (status, output) = try await ChildProcess.run(
                        AssistServerTests.python,
                        [
                            CrashTests.packageRoot + "/Tests/assist/fuzz_server.py", "--url",
                            "http://127.0.0.1:\(port)",
                            "--key", admin,
                            "--project", "calc", "--schemathesis", Self.schemathesis,
                            "--examples", environment["FERRY_FUZZ_EXAMPLES"] ?? "8", "--calls",
                            environment["FERRY_FUZZ_CALLS"] ?? "12",
                            "--seed", environment["FERRY_FUZZ_SEED"] ?? "1",
                        ])
                    #expect(status == 0, "\(output.suffix(8000))")
                    #expect(output.contains("fuzz: ok"), "\(output.suffix(8000))")
                    if environment["FERRY_SHOW_CLIENTS"] != nil { print(output) }
                }
                await models.shutdown()
            }
        }
    }
}
