/// Keeping the head and the tail of long text, with a marker where it was cut. Used for tool output before it enters
/// the history, so one noisy command cannot flood the context.
public enum Truncation {
    /// Returns `text` unchanged if it has at most `limit` UTF-8 bytes; otherwise its head and tail with a marker.
    public static func headTail(_ text: String, limit: Int) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > limit, limit > 0 else { return text }
        let headCount = limit * 2 / 5
        let tailCount = limit - headCount
        let head = String(decoding: bytes[..<headCount], as: UTF8.self)
        let tail = String(decoding: bytes[(bytes.count - tailCount)...], as: UTF8.self)
        let cut = bytes.count - headCount - tailCount
        let cutLines = bytes[headCount..<(bytes.count - tailCount)].reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
        return head + "\n[… \(cut) bytes, \(cutLines) lines cut …]\n" + tail
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension String {
    /// The string without any number of trailing copies of `suffix`.
    public func trimmingSuffix(_ suffix: String) -> String {
        var result = self
        while !suffix.isEmpty, result.hasSuffix(suffix) { result.removeLast(suffix.count) }
        return result
    }
}
