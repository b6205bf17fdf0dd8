import FerryAgent
import FerryCore
import FerryModels
import FerryTesting
import FerryWorkspace
import Foundation
import Testing

@testable import FerryEval

/// `ferry eval` on three tiny instances whose outcomes are known: one resolved, one failed, one that claims
/// `verified` while the hidden tests fail.
@Suite struct EvalTests {
    static let base = [
        "calc.py": "def add(a, b):\n    return a - b\n",
        "test_calc.py":
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n",
    ]
    static let hiddenTest = """
        diff --git a/test_hidden.py b/test_hidden.py
        new file mode 100644
        --- /dev/null
        +++ b/test_hidden.py
        @@ -0,0 +1,9 @@
        +import unittest
        +from calc import add
        +
        +class H(unittest.TestCase):
        +    def test_negative(self):
        +        self.assertEqual(add(-1, -2), -3)
        +
        +    def test_large(self):
        +        self.assertEqual(add(10, 5), 15)

        """
    static let gold =
        "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"

    func instance(_ id: String, repo: String) -> EvalInstance {
        EvalInstance(
            instanceID: id, repo: repo, problemStatement: "add() returns the wrong result; fix it",
            testPatch: Self.hiddenTest,
            failToPass: ["test_hidden.H.test_negative", "test_hidden.H.test_large"],
            passToPass: ["test_calc.T.test_zero"],
            patch: Self.gold, testCmd: "python3 -m unittest {test}", agentTestCmd: "python3 -m unittest")
    }

    func suite(_ instances: [EvalInstance]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-suite-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        let lines = try instances.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: dir + "/suite.jsonl", atomically: true, encoding: .utf8)
        return dir + "/suite.jsonl"
    }

    static let usage = Usage(inputTokens: 1_000, outputTokens: 100)
    static let resolvedScript: [FakeStep] = [
        .call("edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b"], usage: usage),
        .call("finish", ["summary": "fixed"], usage: usage),
    ]
    static let failedScript: [FakeStep] = [.call("finish", ["summary": "nothing to do"], usage: usage)]
    static let falseVerifiedScript: [FakeStep] = [
        .call(
            "edit_file", ["path": "calc.py", "old": "return a - b", "new": "return a + b if a >= 0 else 0"],
            usage: usage),
        .call("finish", ["summary": "fixed"], usage: usage),
    ]

    func runEval(suite: String, out: String, script: [FakeStep], configure: (inout EvalOptions) -> Void = { _ in })
        async throws -> EvalMetrics
    {
        var options = EvalOptions(suitePath: suite, outDirectory: out)
        configure(&options)
        let frozen = options
        return try await FakeModelServer.with(.openai, script: script) { server in
            let profile = ModelProfile(
                name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: "")
            let client = ModelFactory.httpClient(for: profile)
            var config = FerryConfig(dataDirectory: out + "/unused")
            config.limits.repairRounds = 0
            config.firstAttempt = .off
            let agent = EvalAgent(
                model: ModelFactory.make(profile: profile, apiKey: nil, client: client), config: config)
            do {
                let metrics = try await EvalRunner(options: frozen, agent: agent).run()
                try await client.shutdown()
                return metrics
            } catch {
                try await client.shutdown()
                throw error
            }
        }
    }

    /// `ferry eval --cascade`: per instance, the second profile runs only when the first's change is not proved; the
    /// report counts the instances the first settled.
    @Test func aCascadeRunsTheSecondProfileOnlyWhereTheFirstFails() async throws {
        let repo = try await FixtureRepo.make(Self.base)
        let suite = try suite([instance("easy", repo: repo), instance("hard", repo: repo)])
        let out = outDirectory()
        // The first profile fixes the first instance and gives up on the second; the second profile fixes that one.
        let first = Self.resolvedScript + Self.failedScript + Array(repeating: Self.failedScript[0], count: 3)
        let metrics = try await FakeModelServer.with(.openai, script: first) { cheap in
            try await FakeModelServer.with(.openai, script: Self.resolvedScript) { strong in
                let clients = [cheap, strong].map {
                    ModelFactory.httpClient(
                        for: ModelProfile(name: "t", provider: .openai, baseURL: $0.baseURL, model: "m", apiKeyEnv: ""))
                }
                let models = zip([cheap, strong], clients).map { server, client in
                    ModelFactory.make(
                        profile: ModelProfile(
                            name: "t", provider: .openai, baseURL: server.baseURL, model: "gpt-4.1-mini", apiKeyEnv: ""),
                        apiKey: nil, client: client)
                }
                var config = FerryConfig(dataDirectory: out + "/unused")
                config.limits.repairRounds = 0
                config.firstAttempt = .off
                var agent = EvalAgent(model: models[0], config: config)
                agent.cascade = [.init(profile: "cheap", model: models[0]), .init(profile: "strong", model: models[1])]
                var options = EvalOptions(suitePath: suite, outDirectory: out)
                options.jobs = 1
                let metrics = try await EvalRunner(options: options, agent: agent).run()
                for client in clients { try await client.shutdown() }
                return metrics
            }
        }
        #expect(metrics.resolved == 2, "\(metrics)")
        let results = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONDecoder().decode(InstanceResult.self, from: Data($0.utf8)) }
        let byID = Dictionary(uniqueKeysWithValues: results.map { ($0.instanceID, $0) })
        #expect(byID["easy"]?.stages == 1 && byID["easy"]?.profile == "cheap")
        #expect(byID["hard"]?.stages == 2 && byID["hard"]?.profile == "strong")
        // The instance's tokens are both stages': at gpt-4.1-mini's price they cost what the stages cost together,
        // which is also what the same tokens cost at the last profile's price (both profiles are that model here).
        let hard = try #require(byID["hard"])
        let priced = (Double(hard.inputTokens) * 0.4 + Double(hard.outputTokens) * 1.6) / 1_000_000
        #expect(hard.costUSD > 0 && abs(priced - hard.costUSD) < 1e-9, "\(hard)")
        #expect(abs((hard.cascadeAtLastPriceUSD ?? -1) - hard.costUSD) < 1e-9)
        let report = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(
            report.contains("cascade: 1 of 2 instances never reached the second profile (50.0%); $")
                && report.contains("for the same tokens at the last profile's price"),
            "\(report.prefix(800))")
    }

    func outDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("ferry-eval-\(UUID().uuidString.prefix(8))").path
    }

    @Test func exactMetricsForResolvedFailedAndFalseVerified() async throws {
        var instances: [EvalInstance] = []
        for id in ["a-resolved", "b-failed", "c-false-verified"] {
            instances.append(instance(id, repo: try await FixtureRepo.make(Self.base)))
        }
        let out = outDirectory()
        let metrics = try await runEval(
            suite: try suite(instances), out: out,
            script: Self.resolvedScript + Self.failedScript + Self.falseVerifiedScript)
        #expect(metrics.total == 3)
        #expect(metrics.resolved == 1)
        #expect(abs(metrics.resolveRate - 1.0 / 3) < 1e-12)
        #expect(abs(metrics.ci95Low - 0.0615) < 0.0005)
        #expect(abs(metrics.ci95High - 0.7923) < 0.0005)
        #expect(metrics.verifiedClaims == 2)
        #expect(metrics.falseVerified == 1)
        #expect(metrics.falseVerifiedRate == 0.5)
        #expect(metrics.errors == 0)
        // 5 model calls of 1,100 tokens at gpt-4.1-mini prices, over 3 instances; 2 calls for the one resolved.
        #expect(abs(metrics.tokensPerInstance - 5 * 1_100 / 3.0) < 1e-9)
        let perCall = (1_000 * 0.40 + 100 * 1.60) / 1e6
        #expect(abs(metrics.usdPerInstance - 5 * perCall / 3) < 1e-12)
        #expect(abs((metrics.usdPerResolved ?? 0) - 5 * perCall) < 1e-12)

        let results = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(InstanceResult.self, from: Data($0.utf8)) }
        let byID = Dictionary(uniqueKeysWithValues: results.map { ($0.instanceID, $0) })
        #expect(byID["a-resolved"]?.resolved == true)
        #expect(byID["a-resolved"]?.status == "verified")
        #expect(byID["b-failed"]?.status == "failed")
        #expect(byID["b-failed"]?.resolved == false)
        #expect(byID["c-false-verified"]?.status == "verified")
        #expect(byID["c-false-verified"]?.falseVerified == true)
        #expect(byID["c-false-verified"]?.failToPass["test_hidden.H.test_negative"] == false)
        #expect(byID["c-false-verified"]?.failToPass["test_hidden.H.test_large"] == true)
        for name in ["report.json", "report.md", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name))
        }
        #expect(try String(contentsOfFile: out + "/report.html", encoding: .utf8).contains("<svg"))
    }

    @Test func resumeContinuesWhereItStopped() async throws {
        let instances = [
            instance("a", repo: try await FixtureRepo.make(Self.base)),
            instance("b", repo: try await FixtureRepo.make(Self.base)),
        ]
        let suitePath = try suite(instances)
        let out = outDirectory()
        // The first run is "interrupted" after instance a.
        let first = try await runEval(suite: suitePath, out: out, script: Self.resolvedScript) {
            $0.instanceIDs = ["a"]
        }
        #expect(first.total == 1)
        // Without --resume the results are protected.
        await #expect(throws: FerryError.self) { _ = try await self.runEval(suite: suitePath, out: out, script: []) }
        // With it, only b runs (the script has b's steps only) and the report covers both.
        let resumed = try await runEval(suite: suitePath, out: out, script: Self.failedScript) { $0.resume = true }
        #expect(resumed.total == 2)
        #expect(resumed.resolved == 1)
        let lines = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
    }

    @Test func anInstanceWhoseRepoFailsToCloneIsAnErrorNotAnAbort() async throws {
        let good = instance("good", repo: try await FixtureRepo.make(Self.base))
        let bad = instance("bad-clone", repo: "file:///nonexistent/ferry/repo.git")
        let out = outDirectory()
        let metrics = try await runEval(suite: try suite([bad, good]), out: out, script: Self.resolvedScript) {
            $0.jobs = 2
        }
        #expect(metrics.total == 2)
        #expect(metrics.errors == 1)
        #expect(metrics.resolved == 1)
        let results = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8)
        #expect(results.contains("could not clone file:///nonexistent/ferry/repo.git"))
    }

    @Test func goldModeAppliesTheReferencePatch() async throws {
        let repo = try await FixtureRepo.make(Self.base)
        var options = EvalOptions(suitePath: try suite([instance("g", repo: repo)]), outDirectory: outDirectory())
        options.gold = true
        let metrics = try await EvalRunner(options: options, agent: nil).run()
        #expect(metrics.resolved == 1)
    }

    @Test func validateChecksGoldAndBase() async throws {
        let repo = try await FixtureRepo.make(Self.base)
        var broken = instance("broken", repo: repo)
        broken.patch =
            "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return b - a\n"
        let options = EvalOptions(
            suitePath: try suite([instance("fine", repo: repo), broken]), outDirectory: outDirectory())
        let checks = try await EvalRunner(options: options, agent: nil).validate()
        #expect(checks.map(\.instanceID) == ["broken", "fine"])
        #expect(checks[1].valid)
        #expect(!checks[0].valid)
        #expect(checks[0].problem?.contains("gold patch leaves failing") == true)
    }

    /// A PASS_TO_PASS test that cannot pass on this machine (here: it needs the network) fails with the gold patch and
    /// at the base: validation finds it, names it with the reason, and scoring leaves it out and reports it apart.
    @Test func validationFindsTestsThatCannotPassHereAndScoringLeavesThemOut() async throws {
        var files = Self.base
        files["test_net.py"] =
            "import unittest\n\nclass N(unittest.TestCase):\n    def test_fetch(self):\n        raise ConnectionError('Network is unreachable')\n"
        let repo = try await FixtureRepo.make(files)
        var online = instance("online", repo: repo)
        online.passToPass.append("test_net.N.test_fetch")
        let suitePath = try suite([online, instance("fine", repo: repo)])
        let checks = try await EvalRunner(
            options: EvalOptions(suitePath: suitePath, outDirectory: outDirectory()), agent: nil
        )
        .validate()
        let check = try #require(checks.first { $0.instanceID == "online" })
        #expect(check.valid, "\(check.problem ?? "")")
        #expect(check.excludedTests == ["test_net.N.test_fetch"])
        #expect(check.exclusionReason?.contains("needs the network") == true)
        #expect(checks.first { $0.instanceID == "fine" }?.excludedTests.isEmpty == true)
        // The file validation writes is read back as exclusions, and gold scoring then resolves the instance.
        let catalog = try EnvironmentCatalog.parse(ValidationExclusions.toml(checks))
        #expect(catalog.exclusions["online"]?.tests == ["test_net.N.test_fetch"])
        var options = EvalOptions(suitePath: suitePath, outDirectory: outDirectory())
        options.gold = true
        let without = try await EvalRunner(options: options, agent: nil).run()
        #expect(without.resolved == 1, "the test that cannot pass here fails the gold patch without the exclusion")
        options.environments.exclusions = catalog.exclusions
        options.outDirectory = outDirectory()
        let with = try await EvalRunner(options: options, agent: nil).run()
        #expect(with.resolved == 2)
        let report = try String(contentsOfFile: options.outDirectory + "/report.md", encoding: .utf8)
        #expect(report.contains("test_net.N.test_fetch"), "reported apart")
    }

    /// SWE-bench lists tests that reach the internet among a task's own (requests' redirects to httpbin.org): with the
    /// gold patch they fail here for want of the network, whatever they did at the base. Validation reads each test's
    /// own failure in the gold run's log and excludes those, keeping at least one FAIL_TO_PASS test; a failure that
    /// is not the network's stays a failure.
    @Test func aTestThatFailsWithGoldForWantOfTheNetworkIsExcludedEvenFromTheTask() {
        let log = """
            =================================== FAILURES ===================================
            _____________________ RequestsTestCase.test_redirect_off_host _____________________
            self = <test_requests.RequestsTestCase testMethod=test_redirect_off_host>
            E       ProtocolError: ('Connection aborted.', gaierror(-3, 'Temporary failure in name resolution'))
            ________________________________ test_online[https] ________________________________
            E       requests.exceptions.ConnectionError: Max retries exceeded with url: /get
            _________________________________ test_parse __________________________________
            E       AssertionError: assert 1 == 2
            =========================== short test summary info ============================
            FAILED test_requests.py::RequestsTestCase::test_redirect_off_host
            FAILED test_requests.py::test_online[https] - requests.exceptions.ConnectionError
            FAILED test_requests.py::test_parse - AssertionError
            """
        let redirect = "test_requests.py::RequestsTestCase::test_redirect_off_host"
        let task = "test_requests.py::test_task"
        let online = "test_requests.py::test_online[https]"
        let parse = "test_requests.py::test_parse"
        let gold = [redirect: false, task: true, online: false, parse: false]
        // At the base the online test and the parse test passed: only the network explains the first.
        let base = [online: true, parse: true]
        #expect(
            ValidationExclusions.tests(
                gold: gold, base: base, failToPass: [redirect, task], passToPass: [online, parse], goldLog: log)
                == [redirect, online].sorted())
        // Every task test needs the network: none of them is excluded, so the instance stays invalid.
        #expect(
            ValidationExclusions.tests(
                gold: gold, base: base, failToPass: [redirect], passToPass: [online, parse], goldLog: log) == [online])
        #expect(
            ValidationExclusions.failureSections(log: log).keys.sorted() == [
                "RequestsTestCase.test_redirect_off_host", "test_online[https]", "test_parse",
            ])
    }

    @Test func plainDirectoriesAndStringEncodedTestLists() throws {
        let line =
            #"{"instance_id":"x","repo":"tasks/x/repo","problem_statement":"p","test_patch":"","FAIL_TO_PASS":"[\"a\", \"b\"]","PASS_TO_PASS":"[]","version":1.0}"#
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-suite-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try line.write(toFile: dir + "/s.jsonl", atomically: true, encoding: .utf8)
        let loaded = try EvalInstance.load(suite: dir + "/s.jsonl")
        #expect(loaded.first?.failToPass == ["a", "b"])
        #expect(loaded.first?.passToPass == [])
        #expect(loaded.first?.version == "1.0")
        try "{\"instance_id\": 1}".write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        #expect { try EvalInstance.load(suite: dir + "/bad.jsonl") } throws: { error in
            (error as? FerryError)?.message.contains("bad.jsonl:1") == true
        }
    }

    @Test func wilsonInterval() {
        let (low, high) = EvalMetrics.wilson(successes: 8, trials: 10)
        #expect(abs(low - 0.4902) < 0.0005)
        #expect(abs(high - 0.9433) < 0.0005)
        #expect(EvalMetrics.wilson(successes: 0, trials: 0) == (0, 0))
    }

    @Test func pytestAndSympyParsers() {
        let pytest =
            "PASSED tests/test_a.py::test_one\nFAILED tests/test_a.py::test_two - AssertionError: x\nERROR tests/test_b.py::test_three\nXFAIL tests/test_a.py::test_four\n"
        #expect(
            HiddenTests.parsePytest(pytest) == [
                "tests/test_a.py::test_one": true, "tests/test_a.py::test_two": false,
                "tests/test_b.py::test_three": false,
                "tests/test_a.py::test_four": true,
            ])
        let sympy = "test_ccode_Relational ok\ntest_ccode_sinc F\ntest_other E\ntest_expected f\n"
        #expect(
            HiddenTests.parseSympy(sympy) == [
                "test_ccode_Relational": true, "test_ccode_sinc": false, "test_other": false, "test_expected": true,
            ])
    }
}

extension EvalTests {
    @Test func predictionsFromElsewhereAreScored() async throws {
        let instances = [
            instance("p1", repo: try await FixtureRepo.make(Self.base)),
            instance("p2", repo: try await FixtureRepo.make(Self.base)),
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-pred-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let line = JSONValue.object(["instance_id": "p1", "model_patch": .string(Self.gold)]).jsonString
        try line.write(toFile: dir + "/preds.jsonl", atomically: true, encoding: .utf8)
        var options = EvalOptions(suitePath: try suite(instances), outDirectory: outDirectory())
        options.predictions = try EvalRunner.loadPredictions(dir + "/preds.jsonl")
        let metrics = try await EvalRunner(options: options, agent: nil).run()
        #expect(metrics.total == 2)
        #expect(metrics.resolved == 1)
    }
}

extension EvalTests {
    /// As in SWE-bench's harness: a test the agent added to a file the test patch also touches is set aside, so the
    /// official tests still apply and decide.
    @Test func testsTheAgentAddedToTheTestPatchsFilesDoNotConflict() async throws {
        let instances = [instance("c1", repo: try await FixtureRepo.make(Self.base))]
        let ownTest =
            "diff --git a/test_hidden.py b/test_hidden.py\nnew file mode 100644\n--- /dev/null\n+++ b/test_hidden.py\n@@ -0,0 +1,2 @@\n+import unittest\n+# the agent's own test\n"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-pred-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let line = JSONValue.object(["instance_id": "c1", "model_patch": .string(Self.gold + ownTest)]).jsonString
        try line.write(toFile: dir + "/preds.jsonl", atomically: true, encoding: .utf8)
        var options = EvalOptions(suitePath: try suite(instances), outDirectory: outDirectory())
        options.predictions = try EvalRunner.loadPredictions(dir + "/preds.jsonl")
        let metrics = try await EvalRunner(options: options, agent: nil).run()
        #expect(metrics.resolved == 1)
        #expect(EvalRunner.files(touchedBy: Self.hiddenTest) == ["test_hidden.py"])
    }
}

@Suite struct EnvironmentSpecTests {
    static let specs = """
        [[environment]]
        repo = "acme/widgets"
        versions = ["1.0", "1.1"]
        python = "3.11"
        requirements = ["pytest==7.4.4"]
        pythonpath = ["src"]
        env = { WIDGETS_MODE = "test" }
        services = [{ command = "python -m http.server 8765", port = 8765 }]
        setup = "echo {version} > VERSION"

        [[exclude]]
        instance = "acme__widgets-2"
        reason = "needs the network"

        [[exclude]]
        instance = "acme__widgets-3"
        reason = "test_download fetches from the internet"
        tests = ["tests/test_w.py::test_download"]
        """

    @Test func parsesSpecsAndPicksByRepoAndVersion() throws {
        let catalog = try EnvironmentCatalog.parse(Self.specs)
        let spec = try #require(
            try catalog.spec(
                for: EvalInstance(
                    instanceID: "a", repo: "acme/widgets", problemStatement: "", failToPass: [], version: "1.1")))
        #expect(spec.python == "3.11" && spec.pythonpath == ["src"] && spec.services.first?.port == 8765)
        let prepared = PreparedEnvironment(spec: spec, venv: "/cache/v")
        let variables = prepared.variables(scoringCopy: "/work/copy", hostPath: "/usr/bin")
        #expect(variables["PATH"] == "/cache/v/bin:/usr/bin" && variables["PYTHONPATH"] == "/work/copy/src")
        #expect(variables["WIDGETS_MODE"] == "test")
        #expect(prepared.servicesPrologue.contains("8765"))
        // A repository without specs uses the suite's python; a known repository at an unknown version is an error.
        #expect(
            try catalog.spec(for: EvalInstance(instanceID: "b", repo: "other/x", problemStatement: "", failToPass: []))
                == nil)
        #expect(throws: FerryError.self) {
            try catalog.spec(
                for: EvalInstance(
                    instanceID: "c", repo: "acme/widgets", problemStatement: "", failToPass: [], version: "9.9"))
        }
        #expect(catalog.exclusions["acme__widgets-2"]?.tests == [])
        #expect(catalog.exclusions["acme__widgets-3"]?.tests == ["tests/test_w.py::test_download"])
    }

    @Test func badSpecsAreClearErrors() {
        for (text, expected) in [
            ("[[environment]]\nrepo = \"a/b\"\nversions = [\"1\"]\n", "needs repo and python"),
            (
                "[[environment]]\nrepo = \"a/b\"\npython = \"3.9\"\nversions = [\"1\"]\npip = [\"x\"]\n",
                "unknown key 'pip'"
            ),
            ("[[exclude]]\ninstance = \"x\"\n", "needs instance and a reason"),
            ("[envs]\n", "unknown key 'envs'"),
            ("[[environment]\n", "not valid TOML"),
        ] {
            do {
                _ = try EnvironmentCatalog.parse(text)
                Issue.record("accepted: \(text)")
            } catch let error as FerryError {
                #expect(error.message.contains(expected), "\(error.message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func excludedInstancesAreListedNotCounted() throws {
        var resolved = InstanceResult(instanceID: "r", status: "gold")
        resolved.resolved = true
        let failed = InstanceResult(instanceID: "f", status: "gold")
        var excluded = InstanceResult(instanceID: "x", status: "excluded")
        excluded.excluded = "needs the network"
        let metrics = EvalMetrics(label: "gold", results: [resolved, failed, excluded])
        #expect(metrics.total == 2 && metrics.excluded == 1 && metrics.resolveRate == 0.5)
        #expect(EvalReport.summaryLines(metrics).last == "excluded (cannot run here, not counted): 1")
        #expect(EvalReport.markdown(metrics, [resolved, failed, excluded]).contains("- x: needs the network"))
    }

    @Test func resultsAreReadPerReleaseWhenTheyCarryVersions() throws {
        func result(_ id: String, _ version: String?, resolved: Bool) -> InstanceResult {
            var r = InstanceResult(instanceID: id, status: "verified")
            r.resolved = resolved
            r.version = version
            return r
        }
        let results = [
            result("flask-aaa", "2.10", resolved: true), result("flask-bbb", "2.9", resolved: false),
            result("flask-ccc", "2.9", resolved: true), result("flask-ddd", nil, resolved: false),
        ]
        let text = EvalReport.markdown(EvalMetrics(label: "mined", results: results), results)
        // Oldest release first, by number (2.9 before 2.10); instances without a version are left out of the table.
        #expect(
            text.contains(
                "## By version\n\n| repository | version | resolved | counted | rate |\n|---|---|---:|---:|---:|\n"
                    + "| — | 2.9 | 1 | 2 | 50.0% |\n| — | 2.10 | 1 | 1 | 100.0% |\n\n"))
        // The version is in results.jsonl, and one version alone makes no table.
        let decoded = try JSONDecoder().decode(InstanceResult.self, from: JSONEncoder().encode(results[0]))
        #expect(decoded.version == "2.10")
        #expect(EvalReport.byVersion(Array(results.prefix(1))).isEmpty)
    }

    @Test func pytestNamesAreReadAsSWEbenchReadsThem() {
        let log = "PASSED tests/a.py::test_x[a b]\nFAILED tests/a.py::test_y - assert 1\nPASSED [100%]\n"
        let statuses = HiddenTests.parsePytest(log)
        #expect(statuses["tests/a.py::test_x[a"] == true)  // a space in a parameter id cuts the name, as in the dataset
        #expect(statuses["tests/a.py::test_y"] == false)
        #expect(statuses["[100%]"] == true)
    }
}

extension EnvironmentSpecTests {
    /// The interpreter this machine's `python3` is, as a spec would name it ("3.11").
    static func hostPythonVersion() async throws -> String {
        let output = try await HostCommand.run(
            "python3", ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], in: "/")
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func aVenvIsBuiltOnceAndReused() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-envs-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = EnvironmentSpec(
            repo: "acme/widgets", versions: ["1.0"], python: try await Self.hostPythonVersion(), requirements: [],
            pythonpath: ["."], env: [:], services: [], setup: nil)
        let cache = EnvironmentCache(root: root)
        // Two instances asking at once share one build.
        async let first = cache.prepare(spec)
        async let second = cache.prepare(spec)
        let (a, b) = try await (first, second)
        #expect(a == b && a.venv == root + "/" + spec.key)
        #expect(FileManager.default.isExecutableFile(atPath: a.venv + "/bin/python"))
        let marker = a.venv + "/ferry-env.json"
        let stamp = try FileManager.default.attributesOfItem(atPath: marker)[.modificationDate] as? Date
        // A new cache (a later eval) finds the marker and does not rebuild.
        let again = try await EnvironmentCache(root: root).prepare(spec)
        #expect(again == a)
        #expect(try FileManager.default.attributesOfItem(atPath: marker)[.modificationDate] as? Date == stamp)
        // A venv without its marker (a build that died half-way) is built again.
        try FileManager.default.removeItem(atPath: marker)
        _ = try await EnvironmentCache(root: root).prepare(spec)
        #expect(FileManager.default.fileExists(atPath: marker))
    }

    @Test func aMissingPythonIsAClearError() {
        #expect {
            try PythonLocator.find("2.1", environment: ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent"])
        } throws: { error in
            (error as? FerryError)?.message.contains("Python 2.1 is not installed") == true
        }
    }
}
