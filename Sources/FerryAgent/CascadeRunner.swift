import FerryCore
import FerryStore
import Foundation

/// One stage of a cascade as it ended: which profile, its run, and what it cost.
public struct CascadeStage: Codable, Sendable, Hashable {
    public var profile: String
    public var model: String
    public var runID: String
    public var status: RunStatus
    public var reason: String
    public var costUSD: Double
    public var steps: Int
    public var wallSeconds: Double
    /// This stage's change is the one handed back.
    public var chosen: Bool
    /// The tokens this stage's model calls used.
    public var usage = Usage()

    enum CodingKeys: String, CodingKey {
        case profile, model, status, reason, steps, chosen, usage
        case runID = "run_id"
        case costUSD = "cost_usd"
        case wallSeconds = "wall_seconds"
    }
}

/// Runs a task through a cascade of model profiles under one budget (`CascadePolicy`): each stage is a run of its own
/// (its own trace and branch), and a stage after the first is told what the earlier ones found (the files they
/// changed, the change that was not proved, what the tests said). The host says how a stage runs (which model, its
/// scope), so the CLI and the team server start a model only when its stage comes.
public struct CascadeRunner: Sendable {
    public typealias Stage =
        @Sendable (_ index: Int, _ profile: String, _ request: RunRequest, _ limits: AgentLimits)
        async throws -> RunResult

    public let profiles: [String]
    public let limits: AgentLimits
    /// The last profile's price, to say what the cascade's tokens would have cost at it (`RunResult.
    /// cascadeAtLastPriceUSD`): what running the strongest profile alone costs, had it used as many tokens.
    public let lastPrice: Price?

    public init(profiles: [String], limits: AgentLimits, lastPrice: Price? = nil) {
        self.profiles = profiles
        self.limits = limits
        self.lastPrice = lastPrice
    }

    /// The chosen stage's result, with every stage in `cascade`.
    public func run(_ request: RunRequest, stage: Stage) async throws -> RunResult {
        var results: [RunResult] = []
        var spent = CascadePolicy.Spent(steps: 0, costUSD: 0, seconds: 0)
        var task = request.task
        for (index, profile) in profiles.enumerated() {
            guard let stageLimits = CascadePolicy.limits(stage: index, of: profiles.count, total: limits, spent: spent)
            else { break }
            var stageRequest = request
            stageRequest.task = task
            stageRequest.runID = nil
            let result = try await stage(index, profile, stageRequest, stageLimits)
            results.append(result)
            spent.steps += result.record.steps
            spent.costUSD += result.record.costUSD
            spent.seconds += result.record.wallSeconds
            guard CascadePolicy.goesOn(after: result.status, limit: result.limit?.rawValue),
                index + 1 < profiles.count
            else { break }
            task = request.task + "\n\n" + Self.findings(results, profiles: profiles)
        }
        guard !results.isEmpty else {
            throw FerryError(.usage, "the cascade's budget leaves no stage anything to run with")
        }
        let chosen = CascadePolicy.chosen(results.map { ($0.status, $0.record.commitSHA != nil) })
        var result = results[chosen]
        result.cascade = results.enumerated().map { index, stage in
            CascadeStage(
                profile: profiles[index], model: stage.record.model, runID: stage.record.id, status: stage.status,
                reason: stage.record.reason, costUSD: stage.record.costUSD, steps: stage.record.steps,
                wallSeconds: stage.record.wallSeconds, chosen: index == chosen,
                usage: Usage(
                    inputTokens: stage.record.inputTokens, outputTokens: stage.record.outputTokens,
                    cachedInputTokens: stage.record.cachedTokens, cacheWriteTokens: stage.record.cacheWriteTokens))
        }
        result.cascadeLastProfile = profiles.last
        result.cascadeAtLastPriceUSD = lastPrice.map { price in
            result.cascade.reduce(0) { $0 + price.cost(of: $1.usage) }
        }
        // Each stage's files say which cascade they were part of; the chosen one's summary tells the whole.
        for stage in results {
            Self.addCascade(result, toFilesOf: stage.record.runDirectory, summary: stage.record.id == result.record.id)
        }
        return result
    }

    /// Adds the cascade to a run's `result.json` (and, for the chosen run, to `summary.md`) after the stages ended.
    static func addCascade(_ result: RunResult, toFilesOf directory: String, summary: Bool) {
        let json = directory + "/result.json"
        if let data = FileManager.default.contents(atPath: json),
            case .object(var object)? = JSONValue.parse(String(decoding: data, as: UTF8.self))
        {
            object["cascade"] = RunReport.cascadeJSON(result)
            try? Data(JSONValue.object(object).jsonString.utf8).write(to: URL(fileURLWithPath: json))
        }
        if summary {
            try? Data(RunReport.summaryMarkdown(result).utf8).write(to: URL(fileURLWithPath: directory + "/summary.md"))
        }
    }

    /// What the earlier stages learned, for the next: how each ended, the files it changed, its change (not proved,
    /// so not to be trusted as is), and what the tests said last. Cut to a few thousand characters.
    static func findings(_ results: [RunResult], profiles: [String]) -> String {
        var text =
            "## What earlier attempts found\n\nAn earlier model worked on this task without a change the tests prove."
        text += " Use what it found; do not trust its change as it is.\n"
        for (index, result) in results.enumerated() {
            text +=
                "\n### Attempt \(index + 1) (\(profiles[index])): \(result.status.rawValue)\n\n\(result.record.reason)\n"
            let files = RunReport.changedFiles(in: result.diff)
            if !files.isEmpty { text += "\nFiles it changed: " + files.joined(separator: ", ") + "\n" }
            if !result.diff.isEmpty {
                text += "\nIts change (not proved):\n```diff\n" + Self.clip(result.diff, 3000) + "\n```\n"
            }
            if let tests = result.final ?? result.baseline, !tests.passed {
                text += "\nThe tests (`\(tests.command)`) said, at the end:\n```\n" + Self.tail(tests.output, 1500)
                text += "\n```\n"
            }
        }
        return text
    }

    static func clip(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "\n… (cut)"
    }

    static func tail(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : "… (cut)\n" + String(text.suffix(limit))
    }
}
