/// How a run ended. The raw values are what `result.json`, the store and `--json` carry.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    /// The project's tests pass after the change and no test that passed at the baseline fails.
    case verified
    /// There was a change, but no test command could judge it.
    case unverified
    /// The change is missing, or the tests fail.
    case failed
    /// A limit (steps, cost, time, or the host's budget) stopped the run; the partial diff is kept.
    case limit
    /// Stopped from outside: Ctrl-C, SIGTERM, a host cancelling it, or a process that died (found on the next start
    /// by the reconciler). The partial diff is kept on the run's branch.
    case interrupted
    /// Still going (only seen in the store while a run is live).
    case running

    /// The process exit code the CLI uses for each status.
    public var exitCode: Int32 {
        switch self {
        case .verified: 0
        case .failed, .running: 1
        case .unverified: 3
        case .limit: 4
        case .interrupted: 130
        }
    }
}

/// Which limit stopped a run.
public enum LimitKind: String, Codable, Sendable {
    case steps, cost, time
    /// The host stopped the run (a team's shared budget ran out); the reason says why.
    case host
}
