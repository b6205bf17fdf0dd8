import FerryCore
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

/// `ferry run --cascade` with the real binary: two profiles from the user's config, each a fake model server over
/// real HTTP, the run's one budget, and the report saying which profile's change it is.
@Suite struct CascadeCLITests {
    static func config(cheap: FakeModelServer, strong: FakeModelServer) -> String {
        func profile(_ name: String, _ server: FakeModelServer, model: String, price: (Double, Double)) -> String {
            """
            [models.\(name)]
            provider = "openai"
            base_url = "\(server.baseURL)"
            model = "\(model)"
            api_key_env = "FERRY_HOSTILE_KEY"
            price = { input = \(price.0), output = \(price.1) }

            """
        }
        return "[agent]\nfirst_attempt = \"off\"\n\n"
            + profile("cheap", cheap, model: "small-model", price: (0.1, 0.2))
            + profile("strong", strong, model: "large-model", price: (3.0, 15.0))
    }

    @Test func theSecondProfileContinuesOnlyWhenTheFirstsChangeIsNotProved() async throws {
        let repo = try await FixtureRepo.make(CalcFixture.files)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-cascade-cli-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: folder + "/ferry", withIntermediateDirectories: true)
        // The cheap model finishes twice without changing anything; the strong one reads, fixes and finishes.
        let cheapScript: [FakeStep] = [
            .call("finish", ["summary": "nothing to change"]), .call("finish", ["summary": "still nothing"]),
        ]
        let strongScript: [FakeStep] = [
            .call("read_file", ["path": "calc.py"]),
            .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"]),
            .call("finish", ["summary": "add() subtracted; it now adds."]),
        ]
        let (status, stdout, stderr, cheapAsked, strongFirst) = try await FakeModelServer.with(
            .openai, script: cheapScript
        ) { cheap in
            try await FakeModelServer.with(.openai, script: strongScript) { strong in
                try Self.config(cheap: cheap, strong: strong).write(
                    toFile: folder + "/ferry/config.toml", atomically: true, encoding: .utf8)
                let ferry = try await HostileCLITests.Ferry(
                    ["run", "--cascade", "cheap,strong", "add() subtracts; 2 + 3 should be 5"], in: repo,
                    environment: ["XDG_CONFIG_HOME": folder, "FERRY_HOSTILE_KEY": "k"])
                let (status, stdout, stderr) = await ferry.finish()
                return (
                    status, stdout, stderr, cheap.requests.count, strong.requests.first?.jsonString ?? ""
                )
            }
        }
        #expect(status == 0, "\(stderr)")
        #expect(cheapAsked == 2, "the first profile ran first, until it finished twice with no change")
        #expect(stdout.contains("cascade: stage 2 of 2, profile strong"), "\(stdout)")
        // The second stage is told what the first found rather than starting from scratch.
        #expect(strongFirst.contains("What earlier attempts found"), "\(strongFirst)")
        // The report: each stage, how it ended, and whose change is handed back; then the cost against the last
        // profile's price for the same tokens.
        #expect(stdout.contains("1. cheap (small-model): failed"), "\(stdout)")
        #expect(stdout.contains("2. strong (large-model): verified"), "\(stdout)")
        #expect(stdout.contains("(its change is the one handed back)"), "\(stdout)")
        #expect(stdout.contains("for the same tokens at strong's price"), "\(stdout)")
        // The first stage changed nothing, so only the second's branch holds a change: the fix.
        let branches = try await Git(repo).run("branch", "--list", "ferry/*", "--format=%(refname:short)")
            .split(separator: "\n").map(String.init)
        #expect(branches.count == 1, "\(branches)")
        let fixed = try await Git(repo).run("show", "\(branches.first ?? "HEAD"):calc.py")
        #expect(fixed.contains("return a + b"))
    }

    @Test func aCascadeAndAModelFlagTogetherAreRefusedBeforeAnythingIsSpent() async throws {
        let repo = try await FixtureRepo.make(CalcFixture.files)
        let ferry = try await HostileCLITests.Ferry(
            ["run", "--cascade", "cheap,strong", "--provider", "openai", "fix it"], in: repo)
        let (status, _, stderr) = await ferry.finish()
        #expect(status == 2, "\(stderr)")
        #expect(stderr.contains("--cascade names the profiles to use"), "\(stderr)")
        let unknown = try await HostileCLITests.Ferry(["run", "--cascade", "cheap,nowhere", "fix it"], in: repo)
        let (code, _, said) = await unknown.finish()
        #expect(code != 0 && said.contains("cheap"), "\(said)")
        #expect(try await Git(repo).run("branch", "--list", "ferry/*").isEmpty, "no run started")
    }
}
