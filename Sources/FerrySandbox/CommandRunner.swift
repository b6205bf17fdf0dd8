import FerryCore

/// What one command produced.
public struct CommandResult: Sendable, Hashable {
    /// The exit code, or nil when the process was killed by a signal.
    public var exitCode: Int32?
    public var signal: Int32?
    /// Standard output and standard error interleaved, head and tail kept when it was long.
    public var output: String
    public var timedOut: Bool
    public var durationSeconds: Double
    /// Bytes the command wrote in all, before truncation.
    public var totalBytes: Int

    public init(
        exitCode: Int32?, signal: Int32? = nil, output: String, timedOut: Bool = false, durationSeconds: Double = 0,
        totalBytes: Int = 0
    ) {
        self.exitCode = exitCode
        self.signal = signal
        self.output = output
        self.timedOut = timedOut
        self.durationSeconds = durationSeconds
        self.totalBytes = totalBytes
    }

    public var succeeded: Bool { exitCode == 0 && !timedOut }
}

/// One command to run: a bash script, where, for how long, and how much output to keep.
public struct CommandRequest: Sendable, Hashable {
    public var script: String
    public var workingDirectory: String
    public var timeoutSeconds: Double
    /// Bytes of output kept (head and tail); the rest is cut with a marker.
    public var outputLimit: Int

    public init(script: String, workingDirectory: String, timeoutSeconds: Double = 120, outputLimit: Int = 16_384) {
        self.script = script
        self.workingDirectory = workingDirectory
        self.timeoutSeconds = timeoutSeconds
        self.outputLimit = outputLimit
    }
}

/// Runs commands for the agent and for verification. Implementations: `BubblewrapRunner` (the default) and
/// `DirectRunner` (an explicit opt-out).
public protocol CommandRunner: Sendable {
    /// A short name for reports: "bubblewrap" or "none".
    var name: String { get }
    func run(_ request: CommandRequest) async throws -> CommandResult
}
