/// The payload of each `TraceEvent`. Field names are the wire's keys in camelCase (`costUSD` is `cost_usd`);
/// optional fields are left out of the JSON when nil.
extension TraceEvent {
    public struct RunStarted: Codable, Sendable, Hashable {
        public var schema = RunEvent.schemaVersion
        public var runID, repo, base, branch, task, model, provider, toolProtocol: String
        public var sandbox, sandboxSource: String
        public var network: Bool
        public var maxProcesses: Int
        public var worktree: String

        public init(
            runID: String, repo: String, base: String, branch: String, task: String, model: String, provider: String,
            toolProtocol: String, sandbox: String, sandboxSource: String, network: Bool, maxProcesses: Int,
            worktree: String
        ) {
            self.runID = runID
            self.repo = repo
            self.base = base
            self.branch = branch
            self.task = task
            self.model = model
            self.provider = provider
            self.toolProtocol = toolProtocol
            self.sandbox = sandbox
            self.sandboxSource = sandboxSource
            self.network = network
            self.maxProcesses = maxProcesses
            self.worktree = worktree
        }
    }

    public struct Message: Codable, Sendable, Hashable {
        public var message: String
        public init(_ message: String) { self.message = message }
    }

    public struct Command: Codable, Sendable, Hashable {
        public var command: String
        public init(_ command: String) { self.command = command }
    }

    /// One forge call: its method and path, the final status (nil: no answer), the tries, the seconds waited between
    /// them, and the forge's error.
    public struct ForgeCallMade: Codable, Sendable, Hashable {
        public var method: String
        public var path: String
        public var status: Int?
        public var attempts: Int
        public var waitedSeconds: Double
        public var error: String?

        public init(method: String, path: String, status: Int?, attempts: Int, waitedSeconds: Double, error: String?) {
            self.method = method
            self.path = path
            self.status = status
            self.attempts = attempts
            self.waitedSeconds = waitedSeconds
            self.error = error
        }
    }

    public struct Failure: Codable, Sendable, Hashable {
        public var error: String
        public init(_ error: String) { self.error = error }
    }

    /// One run of the test command, without its output (the output is in the run's files and the model's messages).
    public struct Tests: Codable, Sendable, Hashable {
        public var command: String
        public var exitCode: Int32?
        public var timedOut: Bool
        public var durationSeconds: Double
        public var passed: Bool
        public var summary: String?
        /// What the run left in the work tree and was put back (at most 50 paths), when it left anything.
        public var tidied: [String]?

        public init(_ run: TestRun) {
            command = run.command
            exitCode = run.exitCode
            timedOut = run.timedOut
            durationSeconds = run.durationSeconds
            passed = run.passed
            summary = run.summaryLine
            tidied = run.tidied.isEmpty ? nil : Array(run.tidied.prefix(50))
        }
    }

    public struct Unusable: Codable, Sendable, Hashable {
        public var command: String
        public var output: String
        public init(command: String, output: String) {
            self.command = command
            self.output = output
        }
    }

    public struct AttemptStarted: Codable, Sendable, Hashable {
        public var files: [String]
        /// `whole_file`, or `symbols` when the files are too large and only some definitions are shown and replaced.
        public var kind = "whole_file"
        /// The definitions shown whole (`path: Class.name`), in the `symbols` kind.
        public var symbols: [String]?
        /// Fixes sampled from the first request, judged by the tests (1: no sampling).
        public var candidates: Int?
    }

    public struct AttemptCandidates: Codable, Sendable, Hashable {
        public struct Candidate: Codable, Sendable, Hashable {
            public var index: Int
            public var temperature: Double?
            public var usage: Usage
            public var costUSD: Double
            public var changedFiles: [String]
            /// `passed`, `passed_without_proof`, `failed`, `syntax_error`, `no_change`, `duplicate` or `not_run`.
            public var outcome: String
            /// How many candidates made this same change (normalised).
            public var agreement: Int
            public var chosen: Bool
            /// Why it won or lost, in words.
            public var why: String
            public var problems: [String]?
        }

        public var candidates: [Candidate]
    }

    public struct Reproduction: Codable, Sendable, Hashable {
        public var path: String
        public var kept: Bool
        /// Whether the test only adds lines (then it is committed with the change as its proof).
        public var addsOnly: Bool?
        public var tests: Tests?
        public var content: String?
        /// Why it was dropped.
        public var reason: String?
    }

    public struct AttemptApplied: Codable, Sendable, Hashable {
        public var reply: Int
        public var changedFiles: [String]
        public var problems: [String]
    }

    public struct AttemptFinished: Codable, Sendable, Hashable {
        public var outcome: String
        public var replies: Int
    }

    public struct ModelReplied: Codable, Sendable, Hashable {
        public var step: Int
        /// `reproduce` or `attempt` in the whole-file attempt; nil in the tool loop.
        public var phase: String?
        public var content: String
        public var toolCalls: [ToolCall]
        public var formatError: String?
        public var usage: Usage
        public var costUSD: Double
        public var finishReason: String?
        public var serverTimings: JSONValue?

        public init(step: Int, phase: String?, reply: ModelReply, cost: Double) {
            self.step = step
            self.phase = phase
            content = reply.content
            toolCalls = reply.toolCalls
            formatError = reply.formatError
            usage = reply.usage
            costUSD = cost
            finishReason = reply.finishReason
            serverTimings = reply.serverTimings
        }
    }

    public struct ModelRetry: Codable, Sendable, Hashable {
        public var step: Int
        public var phase: String?
        public var attempt: Int
        public var waitSeconds: Double
        public var reason: String
        /// When the retry was announced (it is recorded in order once the call ends).
        public var at: Double

        public init(step: Int, phase: String?, attempt: Int, waitSeconds: Double, reason: String, at: Double) {
            self.step = step
            self.phase = phase
            self.attempt = attempt
            self.waitSeconds = waitSeconds
            self.reason = reason
            self.at = at
        }
    }

    public struct ModelError: Codable, Sendable, Hashable {
        public var step: Int
        public var phase: String?
        public var error: String
        public init(step: Int, phase: String?, error: String) {
            self.step = step
            self.phase = phase
            self.error = error
        }
    }

    public struct Rejected: Codable, Sendable, Hashable {
        public var step: Int
        public var error: String
    }

    public struct ToolResult: Codable, Sendable, Hashable {
        public var step: Int
        public var tool: String
        public var callID: String
        public var arguments: String
        /// A short form of the arguments for the live view: `cart.py:10-20`, `pytest -q`.
        public var brief: String
        public var isError: Bool
        public var output: String
        public var durationSeconds: Double
        /// The run's totals so far.
        public var totalTokens: Int
        public var costUSD: Double
        /// Refused without running (the reply was malformed or a repeat).
        public var rejected: Bool?
        /// Not run because an earlier call in the same reply failed.
        public var skipped: Bool?
        /// Cut off by the run's time limit; its process tree was killed.
        public var timedOut: Bool?

        public init(
            step: Int, call: ToolCall, isError: Bool, output: String, durationSeconds: Double, budget: Budget,
            rejected: Bool? = nil, skipped: Bool? = nil, timedOut: Bool? = nil
        ) {
            self.step = step
            tool = call.name
            callID = call.id
            arguments = call.arguments
            brief = ToolName.brief(call)
            self.isError = isError
            self.output = output
            self.durationSeconds = durationSeconds
            totalTokens = budget.usage.totalTokens
            costUSD = budget.costUSD
            self.rejected = rejected
            self.skipped = skipped
            self.timedOut = timedOut
        }
    }

    public struct VerifyStarted: Codable, Sendable, Hashable {
        public var summary: String
        public init(summary: String) { self.summary = summary }
    }

    /// What judging a change said. `outcome` is a `Verification`'s name, or one of the attempt's own checks
    /// (`passed_with_reproduction`, `passed_without_reproduction`).
    public struct VerifyResult: Codable, Sendable, Hashable {
        public var outcome: String
        public var phase: String?
        public var changedFiles: [String]
        public var tests: Tests?

        public init(outcome: String, phase: String?, changedFiles: [String], tests: Tests? = nil) {
            self.outcome = outcome
            self.phase = phase
            self.changedFiles = changedFiles
            self.tests = tests
        }
    }

    public struct Compacted: Codable, Sendable, Hashable {
        public var tokensBefore: Int
        public var tokensAfter: Int
        public init(tokensBefore: Int, tokensAfter: Int) {
            self.tokensBefore = tokensBefore
            self.tokensAfter = tokensAfter
        }
    }

    /// The MCP servers the config names, started in the sandbox for the loop: each with its tools, or why not.
    public struct MCPReady: Codable, Sendable, Hashable {
        public struct Server: Codable, Sendable, Hashable {
            public var name: String
            public var tools: [String]
            public var error: String?

            public init(name: String, tools: [String], error: String?) {
                self.name = name
                self.tools = tools
                self.error = error
            }
        }

        public var servers: [Server]

        public init(servers: [Server]) {
            self.servers = servers
        }
    }

    public struct IndexReady: Codable, Sendable, Hashable {
        public var files: Int
        public var changed: Int
        public var seconds: Double
        public var mapTokens: Int
        public var warning: String?

        public init(files: Int, changed: Int, seconds: Double, mapTokens: Int, warning: String?) {
            self.files = files
            self.changed = changed
            self.seconds = seconds
            self.mapTokens = mapTokens
            self.warning = warning
        }
    }

    public struct ChangeGuarded: Codable, Sendable, Hashable {
        public var leftOut: [String]
        public var redacted: [String]
        public init(leftOut: [String], redacted: [String]) {
            self.leftOut = leftOut
            self.redacted = redacted
        }
    }

    public struct RunFinished: Codable, Sendable, Hashable {
        public var status: RunStatus
        public var reason: String
        public var limit: LimitKind?
        public var commit: String?
        public var steps: Int
        public var usage: Usage?
        public var costUSD: Double
        public var wallSeconds: Double?
        public var runDir: String?
        /// Closed by a later start, after the process running it died.
        public var reconciled: Bool?

        public init(
            status: RunStatus, reason: String, limit: LimitKind?, commit: String?, steps: Int, usage: Usage?,
            costUSD: Double, wallSeconds: Double?, runDir: String?, reconciled: Bool? = nil
        ) {
            self.status = status
            self.reason = reason
            self.limit = limit
            self.commit = commit
            self.steps = steps
            self.usage = usage
            self.costUSD = costUSD
            self.wallSeconds = wallSeconds
            self.runDir = runDir
            self.reconciled = reconciled
        }
    }
}
