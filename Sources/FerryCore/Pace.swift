/// How fast this run's model has read prompts and written replies, from the server's own timings (llama.cpp's
/// `timings`: `prompt_n`/`prompt_ms` for the prompt tokens it had to read, `predicted_n`/`predicted_ms` for the
/// reply). On a CPU the prompt is most of the wait: the embedded model reads ~70 tokens a second on two cores.
///
/// Why: a call that cannot finish before the run's time limit is cut off with nothing to show, yet the server reads
/// the whole prompt anyway (it cannot stop in the middle of a batch), so the next run on that server waits for it.
/// Providers that report no timings have no pace, and nothing is refused for it.
public struct Pace: Sendable, Hashable {
    public private(set) var promptTokens = 0
    public private(set) var promptSeconds = 0.0
    public private(set) var replyTokens = 0
    public private(set) var replySeconds = 0.0

    /// The prompt tokens the server counted, and Ferry's estimate of the same prompts (`estimatedTokens`, about
    /// four bytes a token): code runs nearer three, so the estimate alone would admit calls that cannot finish.
    public private(set) var countedTokens = 0
    public private(set) var estimatedTokens = 0

    /// The fewest reply tokens a call is worth making for: one tool call, or one short definition.
    public static let shortestReply = 48

    public init() {}

    /// Adds one reply's timings (nothing when the server reports none).
    public mutating func observe(_ timings: JSONValue?) {
        guard let timings else { return }
        if let n = timings["prompt_n"]?.doubleValue, let ms = timings["prompt_ms"]?.doubleValue, n > 0, ms >= 0 {
            promptTokens += Int(n)
            promptSeconds += ms / 1000
        }
        if let n = timings["predicted_n"]?.doubleValue, let ms = timings["predicted_ms"]?.doubleValue, n > 0, ms >= 0 {
            replyTokens += Int(n)
            replySeconds += ms / 1000
        }
    }

    /// Adds one prompt as the server counted it (`counted`, cached tokens included) and as Ferry estimated it.
    public mutating func calibrate(counted: Int, estimated: Int) {
        guard counted > 0, estimated > 0 else { return }
        countedTokens += counted
        estimatedTokens += estimated
    }

    /// The server's tokens for one of Ferry's estimated ones, once a few hundred have been seen (1 before), kept
    /// within 0.5–3.
    public var tokensPerEstimate: Double {
        guard estimatedTokens >= 200 else { return 1 }
        return min(3, max(0.5, Double(countedTokens) / Double(estimatedTokens)))
    }

    /// Seconds a prompt token has taken to read, once enough have been read to say (one cached turn says little).
    public var secondsPerPromptToken: Double? {
        promptTokens >= 200 ? promptSeconds / Double(promptTokens) : nil
    }

    public var secondsPerReplyToken: Double? {
        replyTokens >= 20 ? replySeconds / Double(replyTokens) : nil
    }

    /// The least time a call with `freshTokens` prompt tokens to read (as Ferry estimates them) and the shortest
    /// useful reply would take; nil when the pace is not known yet.
    public func leastSeconds(freshTokens: Int) -> Double? {
        guard let prompt = secondsPerPromptToken else { return nil }
        return Double(counted(freshTokens)) * prompt + Double(Self.shortestReply) * (secondsPerReplyToken ?? 0)
    }

    /// Ferry's estimate of a prompt's tokens, as the server would count them.
    public func counted(_ estimated: Int) -> Int { Int((Double(estimated) * tokensPerEstimate).rounded()) }

    /// The most prompt tokens (as Ferry estimates them) the server reads in `seconds`; nil when the pace is not
    /// known yet.
    public func estimatedTokens(readIn seconds: Double) -> Int? {
        guard let prompt = secondsPerPromptToken, prompt > 0 else { return nil }
        return Int(max(0, seconds) / prompt / tokensPerEstimate)
    }

    /// The prompt tokens a server that keeps its last prompt (llama.cpp's slot cache, a provider's prefix cache)
    /// still has to read for `messages`, after `previous`: the messages from the first one that differs.
    public static func freshTokens(_ messages: [ChatMessage], after previous: [ChatMessage]) -> Int {
        var shared = 0
        while shared < min(messages.count, previous.count), messages[shared] == previous[shared] { shared += 1 }
        return messages[shared...].reduce(0) { $0 + $1.estimatedTokens }
    }
}
