import Foundation

/// What happened in a run, typed. `trace.jsonl`, the store's events table, the live view, `--json` and the tests all
/// read and write these; `docs/EVENTS.md` is the schema (version `RunEvent.schemaVersion`).
///
/// On the wire each event is `{"seq", "time", "type", "data"}`: `type` is the dotted name below and `data` the
/// payload's fields in snake_case. A reader meets types from newer versions as `.unknown`, never as an error.
public enum TraceEvent: Sendable, Hashable {
    case runStarted(RunStarted)
    case configWarning(Message)
    case baselineStarted(Command)
    case baseline(Tests)
    /// The test command could not even start (exit 126/127); the run goes on without one.
    case testsUnusable(Unusable)
    /// The test command names `{related_tests}`: which files judge the run, and why.
    case testsRelated(Message)
    /// A change the related tests passed, checked against the wider suite when the time budget allows.
    case testsWider(Message)
    /// The loop's first prompt was cut to what the model reads in its share of the time left.
    case loopContext(Message)
    /// The tool loop was not started (`LoopGate`), and why.
    case loopSkipped(Message)
    case attemptStarted(AttemptStarted)
    case attemptReproduction(Reproduction)
    case attemptApplied(AttemptApplied)
    /// Several sampled fixes judged by the tests, and which one the attempt went on with.
    case attemptCandidates(AttemptCandidates)
    case attemptFinished(AttemptFinished)
    /// The attempt did not ask for a reply after its first (`LoopGate`, stage `retries`), and why.
    case attemptRetriesSkipped(Message)
    case modelReply(ModelReplied)
    case modelRetry(ModelRetry)
    case modelError(ModelError)
    /// A reply refused without running anything (malformed, no tool call, a repeat); each call's answer follows as a
    /// `toolResult` with `rejected`.
    case replyRejected(Rejected)
    case toolResult(ToolResult)
    case verifyStarted(VerifyStarted)
    case verifyResult(VerifyResult)
    case contextCompacted(Compacted)
    case indexReady(IndexReady)
    case mcpReady(MCPReady)
    case indexFailed(Failure)
    case changeGuarded(ChangeGuarded)
    /// The host stopped the run's spending (a shared budget ran out); the run ends with status `limit`.
    case runHalted(Message)
    case runError(Failure)
    case runFinished(RunFinished)
    /// A call to a forge's API made for the run's task (a team server's issue or pull request): after the run's end.
    case forgeCall(ForgeCallMade)
    /// A type this version does not know, kept as it was read.
    case unknown(type: String, data: JSONValue)

    /// The dotted name on the wire.
    public var type: String {
        switch self {
        case .runStarted: "run.started"
        case .configWarning: "config.warning"
        case .baselineStarted: "tests.baseline.started"
        case .baseline: "tests.baseline"
        case .testsUnusable: "tests.unusable"
        case .testsRelated: "tests.related"
        case .testsWider: "tests.wider"
        case .loopContext: "loop.context"
        case .loopSkipped: "loop.skipped"
        case .attemptStarted: "attempt.started"
        case .attemptReproduction: "attempt.reproduction"
        case .attemptApplied: "attempt.applied"
        case .attemptCandidates: "attempt.candidates"
        case .attemptFinished: "attempt.finished"
        case .attemptRetriesSkipped: "attempt.retries_skipped"
        case .modelReply: "model.reply"
        case .modelRetry: "model.retry"
        case .modelError: "model.error"
        case .replyRejected: "reply.rejected"
        case .toolResult: "tool.result"
        case .verifyStarted: "verify.started"
        case .verifyResult: "verify.result"
        case .contextCompacted: "context.compacted"
        case .indexReady: "index.ready"
        case .mcpReady: "mcp.ready"
        case .indexFailed: "index.failed"
        case .changeGuarded: "change.guarded"
        case .runHalted: "run.halted"
        case .runError: "run.error"
        case .runFinished: "run.finished"
        case .forgeCall: "forge.call"
        case .unknown(let type, _): type
        }
    }

    /// The payload as JSON text: snake_case keys, sorted, optional fields left out when nil.
    public var dataJSON: String {
        switch self {
        case .runStarted(let p): Self.text(p)
        case .configWarning(let p), .runHalted(let p), .testsRelated(let p), .testsWider(let p), .loopContext(let p),
            .loopSkipped(let p), .attemptRetriesSkipped(let p):
            Self.text(p)
        case .baselineStarted(let p): Self.text(p)
        case .baseline(let p): Self.text(p)
        case .testsUnusable(let p): Self.text(p)
        case .attemptStarted(let p): Self.text(p)
        case .attemptReproduction(let p): Self.text(p)
        case .attemptApplied(let p): Self.text(p)
        case .attemptCandidates(let p): Self.text(p)
        case .attemptFinished(let p): Self.text(p)
        case .modelReply(let p): Self.text(p)
        case .modelRetry(let p): Self.text(p)
        case .modelError(let p): Self.text(p)
        case .replyRejected(let p): Self.text(p)
        case .toolResult(let p): Self.text(p)
        case .verifyStarted(let p): Self.text(p)
        case .verifyResult(let p): Self.text(p)
        case .contextCompacted(let p): Self.text(p)
        case .indexReady(let p): Self.text(p)
        case .mcpReady(let p): Self.text(p)
        case .indexFailed(let p), .runError(let p): Self.text(p)
        case .changeGuarded(let p): Self.text(p)
        case .runFinished(let p): Self.text(p)
        case .forgeCall(let p): Self.text(p)
        case .unknown(_, let data): data.jsonString
        }
    }

    /// The payload as a JSON value, with snake_case keys.
    public var data: JSONValue {
        if case .unknown(_, let data) = self { return data }
        return JSONValue.parse(dataJSON) ?? .object([:])
    }

    /// Reads an event from its wire form. A known type whose data does not decode is an error; an unknown type is
    /// kept as `.unknown`.
    public init(type: String, data: JSONValue) throws {
        func p<T: Decodable>(_: T.Type = T.self) throws -> T { try Self.decode(T.self, from: data) }
        switch type {
        case "run.started": self = .runStarted(try p())
        case "config.warning": self = .configWarning(try p())
        case "tests.baseline.started": self = .baselineStarted(try p())
        case "tests.baseline": self = .baseline(try p())
        case "tests.unusable": self = .testsUnusable(try p())
        case "tests.related": self = .testsRelated(try p())
        case "loop.context": self = .loopContext(try p())
        case "loop.skipped": self = .loopSkipped(try p())
        case "tests.wider": self = .testsWider(try p())
        case "attempt.started": self = .attemptStarted(try p())
        case "attempt.reproduction": self = .attemptReproduction(try p())
        case "attempt.applied": self = .attemptApplied(try p())
        case "attempt.candidates": self = .attemptCandidates(try p())
        case "attempt.finished": self = .attemptFinished(try p())
        case "attempt.retries_skipped": self = .attemptRetriesSkipped(try p())
        case "model.reply": self = .modelReply(try p())
        case "model.retry": self = .modelRetry(try p())
        case "model.error": self = .modelError(try p())
        case "reply.rejected": self = .replyRejected(try p())
        case "tool.result": self = .toolResult(try p())
        case "verify.started": self = .verifyStarted(try p())
        case "verify.result": self = .verifyResult(try p())
        case "context.compacted": self = .contextCompacted(try p())
        case "index.ready": self = .indexReady(try p())
        case "mcp.ready": self = .mcpReady(try p())
        case "index.failed": self = .indexFailed(try p())
        case "change.guarded": self = .changeGuarded(try p())
        case "run.halted": self = .runHalted(try p())
        case "run.error": self = .runError(try p())
        case "run.finished": self = .runFinished(try p())
        case "forge.call": self = .forgeCall(try p())
        default: self = .unknown(type: type, data: data)
        }
    }

    /// The same event with every string passed through `transform` (redaction).
    public func mapStrings(_ transform: (String) -> String) -> TraceEvent {
        let mapped = Self.mapStrings(data, transform)
        return (try? TraceEvent(type: type, data: mapped)) ?? .unknown(type: type, data: mapped)
    }

    static func mapStrings(_ value: JSONValue, _ transform: (String) -> String) -> JSONValue {
        switch value {
        case .string(let text): .string(transform(text))
        case .array(let items): .array(items.map { mapStrings($0, transform) })
        case .object(let fields): .object(fields.mapValues { mapStrings($0, transform) })
        default: value
        }
    }

    // MARK: - Coding

    static func encoded<T: Encodable>(_ payload: T) -> Data? {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try? encoder.encode(payload)
    }

    static func text<T: Encodable>(_ payload: T) -> String {
        encoded(payload).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in
            // Free-form JSON (a server's timings) keeps its keys as they are.
            let verbatim = path.dropLast().contains { ["server_timings", "serverTimings"].contains($0.stringValue) }
            return verbatim
                ? SnakeCaseKey(stringValue: path.last!.stringValue) : SnakeCaseKey(snake: path.last!.stringValue)
        }
        return try decoder.decode(T.self, from: JSONEncoder().encode(value))
    }

    /// snake_case to the Swift property name, with the acronyms Ferry's names use (`call_id` → `callID`).
    struct SnakeCaseKey: CodingKey {
        static let acronyms: Set<String> = ["id", "usd", "url", "sha"]
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        init(snake: String) {
            let parts = snake.split(separator: "_")
            guard let first = parts.first else {
                stringValue = snake
                return
            }
            stringValue =
                String(first)
                + parts.dropFirst().map { part in
                    Self.acronyms.contains(String(part))
                        ? part.uppercased() : part.prefix(1).uppercased() + part.dropFirst()
                }.joined()
        }
    }
}
