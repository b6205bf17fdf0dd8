/// What the attempt is given and what its model calls carry.
extension AttemptMachine {
    public struct Plan: Sendable, Hashable {
        public var task: String
        /// The files the attempt may rewrite.
        public var files: [SourceFile]
        public var agents: SourceFile?
        public var testCommand: String?
        /// The task's test file, for a reproduction test; nil goes without one.
        public var testFile: SourceFile?
        /// When not empty, the files are too large to come back whole: these definitions are shown whole and
        /// replaced by span (`files` still holds the files whole, to splice into).
        public var symbols: [SymbolUnit]
        /// An outline of each file the symbols are in, by path.
        public var outlines: [String: String]
        /// How many fixes the first request samples, judged by the tests (1: one reply, no sampling).
        public var candidates: Int
        /// The tests before any change. When some already failed, the attempt's own checks (the reproduction test,
        /// the tests without it) compare with it test by test instead of asking for a clean pass.
        public var baseline: TestRun?
        /// Whether replies after the first may be asked for (`LoopGate`, stage `retries`).
        public var retries: LoopGate.Decision

        public init(
            task: String, files: [SourceFile], agents: SourceFile?, testCommand: String?, testFile: SourceFile?,
            symbols: [SymbolUnit] = [], outlines: [String: String] = [:], candidates: Int = 1, baseline: TestRun? = nil,
            retries: LoopGate.Decision = .start
        ) {
            self.task = task
            self.files = files
            self.agents = agents
            self.testCommand = testCommand
            self.testFile = testFile
            self.symbols = symbols
            self.outlines = outlines
            self.candidates = max(1, candidates)
            self.baseline = baseline
            self.retries = retries
        }
    }

    /// One sampled fix and what the tests said of it.
    struct Sample: Sendable, Hashable {
        var reply: String
        var temperature: Double?
        var usage: Usage
        var cost: Double
        var writes: [String: String] = [:]
        var problems: [String] = []
        var changed: [String] = []
        var outcome = "not_run"
        /// What the tests said, when they judged it: the pick goes on with this, not with a second run.
        var verification: AgentMachine.Verification?
        var tests: TestRun?
        /// The index of the first sample with the same normalised change, when this one repeats it.
        var duplicateOf: Int?
    }

    public struct ModelCall: Sendable, Hashable {
        public var messages: [ChatMessage]
        public var maxTokens: Int
        public var temperature: Double?
        /// `reproduce` or `attempt`, for the trace.
        public var phase: String
    }

    /// A reproduction test that failed before any fix.
    struct Reproduction: Sendable, Hashable {
        var path: String
        var original: String
        var content: String
        /// Whether the test only adds lines (then it is committed with the change, as its proof); when it also edits
        /// existing lines it only judges the attempt and is left out of the change.
        var addsOnly: Bool
    }

    /// What the machine waits for.
    enum Waiting: Sendable, Hashable {
        case start
        case reproduction
        case reproductionWritten(content: String, addsOnly: Bool)
        case reproductionTests(content: String, addsOnly: Bool)
        case reproductionDropped(reason: String)
        case fix(reply: Int)
        case fixWritten(reply: Int, writes: [String: String], problems: [String], summary: String)
        case fixChecked(reply: Int, writes: [String: String], changed: [String], summary: String)
        case sampling(number: Int)
        case sampleWritten(index: Int)
        case sampleChecked(index: Int)
        case sampleVerified(index: Int)
        case sampleChosen(index: Int)
        case fixVerified(reply: Int, changed: [String], summary: String)
        case reproductionRemoved(reply: Int, changed: [String], summary: String)
        case ownTests(reply: Int, changed: [String], summary: String)
        case reproductionRestored(reply: Int, changed: [String], tests: TestRun)
        case fallbackReady
        case candidateWritten(index: Int)
        case candidateTests(index: Int)
        case undone(limit: Budget.Exhausted?)
        case done
    }
}
