/// Whether a run pays for one of its two loops, from what that loop has achieved with the same model before (pure):
/// the tool loop, and the attempt's later replies (`Stage`).
///
/// Why: the loop is the costly phase of a run. Every call sends the whole conversation again, and one loop sends
/// 5,000–30,000 tokens where the attempt sends 1,500–5,000. With the embedded 1.5B model, none of 35 loops over
/// sessions 17–21 (mined click and sqlparse tasks, ferry-easy) kept a change: each ended stuck, out of time or with
/// failing tests, and together they were about half of every token Ferry sent on those suites. A model that has
/// shown it cannot use the loop should not be paid to try again on every task; a model that kept one change may.
///
/// The rule, over the model's most recent runs that reached the loop:
/// - it runs when the model has had fewer than `evidence` loops among its last `window`, or kept a change in any
///   of them;
/// - else it is skipped, except that after `interval` skips in a row it runs once more, so that a better model
///   behind the same name (or a better Ferry) is noticed. As with a circuit breaker's probes, the interval doubles
///   with each probe that fails (4, 8, 16, then 32 runs), so the probes' cost shrinks fast as the evidence grows: a
///   model name rarely gets better, and a probe of the loop costs 2,000–7,000 tokens. (Session 22's rule, one probe
///   after as many skips as failed loops, spent a probe of each stage on one instance of ten in session 23's
///   sitting, 918 of the 3,211 tokens Ferry sent an instance.)
/// - `[agent] tool_loop = "always"` or `"never"` decides instead.
///
/// The attempt's later replies (a second and third answer after a reply that changed nothing, failed the tests or
/// was cut off) are the same kind of spending, gated by the same rule on their own record: of 68 changes the 1.5B
/// model got resolved over sessions 20–22 (ferry-easy and mined sqlparse), every one came from the first reply;
/// the 151 later replies, about a third of what the attempt sent, kept none. A later reply counts as having kept a
/// change when the attempt settled on its change and the tests proved it; one they could not prove counts neither
/// way (`LoopGate.Past.init(_:stage:)` in FerryStore).
public enum LoopGate {
    /// The loop a decision is about.
    public enum Stage: String, Sendable, Hashable, CaseIterable {
        /// The tool loop (`[agent] tool_loop`).
        case toolLoop = "tool_loop"
        /// The attempt's replies after its first (`[agent] attempt_retries`).
        case retries = "attempt_retries"
    }

    /// What happened to the loop in one earlier run.
    public enum Use: String, Codable, Sendable, Hashable, CaseIterable {
        /// The loop ran.
        case ran
        /// The gate kept it from starting.
        case skipped
    }

    /// One earlier run that reached the stage: whether it ran, and whether it kept a change (verified, or handed back
    /// unverified with a commit; a limit's partial diff is not one).
    public struct Past: Sendable, Hashable {
        public var use: Use
        public var keptChange: Bool

        public init(use: Use, keptChange: Bool) {
            self.use = use
            self.keptChange = keptChange
        }
    }

    /// `[agent] tool_loop` or `[agent] attempt_retries`.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// By the model's record (the default).
        case auto
        case always
        case never

        /// How much a mode may spend, to order them (a repository's config may only lower it).
        public var spends: Int {
            switch self {
            case .never: 0
            case .auto: 1
            case .always: 2
            }
        }
    }

    public enum Decision: Sendable, Hashable {
        case start
        /// Not started, and why (for the run's reason and trace).
        case skip(String)

        /// Why it was skipped (nil: it starts).
        public var reason: String? {
            if case .skip(let why) = self { return why }
            return nil
        }
    }

    /// Loops that ran looked at, newest first.
    public static let window = 20
    /// Loops that kept nothing before the gate closes.
    public static let evidence = 4
    /// The most skips between two probes.
    public static let maxInterval = 32
    /// Runs to read from the store to find `window` loops that ran among the skipped ones (at most `maxInterval`
    /// skips lie between two loops that ran).
    public static let fetched = window * (maxInterval + 1)

    /// Skips in a row before a probe, with `failed` uses that kept nothing in the record (at least `evidence`): the
    /// first `evidence`, then twice as many after each failed probe, up to `maxInterval`.
    public static func interval(failed: Int) -> Int {
        min(maxInterval, evidence << min(max(0, failed - evidence), 8))
    }

    /// The decision for a model (named in the reason) with `history`, its runs that reached `stage`, newest first.
    public static func decide(_ mode: Mode, history: [Past], model: String, stage: Stage = .toolLoop) -> Decision {
        switch mode {
        case .always: return .start
        case .never: return .skip("[agent] \(stage.rawValue) = \"never\"")
        case .auto: break
        }
        let ran = history.filter { $0.use == .ran }.prefix(window)
        guard ran.count >= evidence, !ran.contains(where: \.keptChange) else { return .start }
        let skippedInARow = history.prefix { $0.use == .skipped }.count
        let interval = interval(failed: ran.count)
        guard skippedInARow < interval else { return .start }
        switch stage {
        case .toolLoop:
            return .skip(
                "none of the last \(ran.count) tool loops with \(model) kept a change, so this run does not pay for "
                    + "another (it runs again after \(interval) runs without it; [agent] tool_loop = \"always\" runs "
                    + "it every time)")
        case .retries:
            return .skip(
                "in none of the last \(ran.count) attempts with \(model) that asked for a second reply did a later "
                    + "reply give the change kept, so this run pays for the first reply only (more are asked for again "
                    + "after \(interval) runs without; [agent] attempt_retries = \"always\" asks every time)")
        }
    }
}
