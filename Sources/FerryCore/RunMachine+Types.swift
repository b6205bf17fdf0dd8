/// What a run is set up with and what its actions carry.
extension RunMachine {
    public struct Settings: Sendable, Hashable {
        public var task: String
        public var limits: AgentLimits
        public var contextWindow: Int
        public var maxOutputTokens: Int
        /// The configured or detected test command.
        public var testCommand: String?
        /// Detected commands to try, in order, when `testCommand` cannot start (none for a configured command: the
        /// user chose it).
        public var fallbackTestCommands: [String]
        /// Whether the whole-file attempt may run.
        public var firstAttempt: Bool
        /// The repo map's size in tokens when configured; else a share of the context window.
        public var repoMapTokens: Int?
        /// Fixes the attempt samples from its first request, chosen by the tests.
        public var candidates: Int
        /// The whole suite, when `testCommand` runs only the tests related to the task (the proof's wider check).
        public var widerCommand: String?
        /// How long one run of the tests may take.
        public var testTimeoutSeconds: Double
        /// Whether the tool loop may start (`LoopGate`, decided from the model's record before the run).
        public var loopGate: LoopGate.Decision = .start
        /// Whether the attempt may ask for replies after its first (`LoopGate`, stage `retries`).
        public var retryGate: LoopGate.Decision = .start

        public init(
            task: String, limits: AgentLimits, contextWindow: Int, maxOutputTokens: Int, testCommand: String?,
            fallbackTestCommands: [String] = [], firstAttempt: Bool, repoMapTokens: Int? = nil, candidates: Int = 1,
            widerCommand: String? = nil, testTimeoutSeconds: Double = 900
        ) {
            self.fallbackTestCommands = fallbackTestCommands
            self.widerCommand = widerCommand
            self.testTimeoutSeconds = testTimeoutSeconds
            self.candidates = max(1, candidates)
            self.task = task
            self.limits = limits
            self.contextWindow = contextWindow
            self.maxOutputTokens = maxOutputTokens
            self.testCommand = testCommand
            self.firstAttempt = firstAttempt
            self.repoMapTokens = repoMapTokens
        }
    }

    /// What the driver gathered about the worktree for the first phase.
    public struct Context: Sendable, Hashable {
        /// The files the attempt may rewrite (empty, with no symbols: no attempt). With symbols, the files they are in.
        public var attemptFiles: [SourceFile]
        /// Definitions of files too large to come back whole, shown and replaced by span.
        public var attemptSymbols: [SymbolUnit] = []
        /// An outline of each file the symbols are in.
        public var outlines: [String: String] = [:]
        public var agents: SourceFile?
        /// The test file a reproduction test would go into.
        public var testFile: SourceFile?

        public init(attemptFiles: [SourceFile] = [], agents: SourceFile? = nil, testFile: SourceFile? = nil) {
            self.attemptFiles = attemptFiles
            self.agents = agents
            self.testFile = testFile
        }
    }

    public struct ModelRequest: Sendable, Hashable {
        public var messages: [ChatMessage]
        /// Whether the tools are offered (the loop); the attempt's requests are plain.
        public var tools: Bool
        public var maxTokens: Int?
        public var temperature: Double?
        /// The attempt's phase (`reproduce`, `attempt`) for the trace; nil in the loop.
        public var phase: String?
    }
}
