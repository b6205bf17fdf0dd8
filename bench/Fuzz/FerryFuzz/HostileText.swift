/// A seeded generator of hostile text: valid inputs from a corpus, mutated the ways a broken or adversarial model
/// reply is broken (cut off, spliced, fences and tags unbalanced, control characters, right-to-left marks, deep
/// nesting, megabytes of repetition). The same seed gives the same inputs, so any finding can be replayed.
public struct HostileText: Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// Tokens that mean something to one of the parsers, and characters that mean trouble to any.
    public static let tokens = [
        "```", "```json\n", "```python\n", "```bash\n", "```diff\n", "\n```\n", "<tool_call>", "</tool_call>", "{", "}",
        "[", "]",
        "\"", "\\", "\\\"", ":", ",", "\n", "\r\n", "\t", "\0", "\u{7}", "\u{202E}", "\u{FEFF}", "\u{200B}", "é", "💥",
        "𝔘",
        "\"name\"", "\"arguments\"", "\"tool\"", "\"args\"", "\"path\"", "\"content\"", "\"command\"", "null", "true",
        "1e999",
        "-0", "NaN", "<<<<<<< SEARCH\n", "=======\n", ">>>>>>> REPLACE\n", "... rest of the code ...", "# ...",
        "// ...",
        "calc.py\n", "../../etc/passwd\n", "/etc/passwd\n", ".git/config\n", "def ", "class ", "    ", "“", "”", "‘",
        "—",
    ]

    /// One mutation of `input`, or several in a row.
    public mutating func mutate(_ input: String, corpus: [String]) -> String {
        var scalars = Array(input.unicodeScalars)
        for _ in 0..<(1 + below(4)) {
            let position = below(scalars.count + 1)
            switch below(11) {
            case 0:  // insert a token
                scalars.insert(contentsOf: pick(Self.tokens).unicodeScalars, at: position)
            case 1:  // delete a range
                if !scalars.isEmpty {
                    let end = min(scalars.count, position + 1 + below(40))
                    if position < end { scalars.removeSubrange(position..<end) }
                }
            case 2:  // cut off (a reply at the length limit)
                scalars.removeSubrange(position..<scalars.count)
            case 3:  // duplicate a range
                if !scalars.isEmpty {
                    let start = below(scalars.count)
                    let end = min(scalars.count, start + 1 + below(200))
                    scalars.insert(contentsOf: scalars[start..<end], at: position)
                }
            case 4:  // splice in another corpus entry
                scalars.insert(contentsOf: pick(corpus).unicodeScalars, at: position)
            case 5:  // a random scalar, control characters included
                let value = UInt32(below(0x3000))
                if let scalar = Unicode.Scalar(value) { scalars.insert(scalar, at: position) }
            case 6:  // repeat a token many times (deep nesting, long lines, huge replies)
                let token = pick(["{", "[", "```\n", "\"", "a", "\n", "<tool_call>", "    ", "=======\n"])
                let times = chance(10) ? 50_000 : 1 + below(500)
                scalars.insert(contentsOf: String(repeating: token, count: times).unicodeScalars, at: position)
            case 7:  // swap two halves
                if scalars.count > 2 {
                    let cut = below(scalars.count)
                    scalars = Array(scalars[cut...] + scalars[..<cut])
                }
            case 8:  // replace a line ending style
                scalars = Array(
                    String(String.UnicodeScalarView(scalars)).replacingAll(
                        "\n", with: pick(["\r\n", "\r", "\n\n", " "])
                    ).unicodeScalars)
            case 9:  // change a character's case or a digit
                if !scalars.isEmpty {
                    let index = below(scalars.count)
                    let text = String(scalars[index])
                    let changed = text.uppercased() == text ? text.lowercased() : text.uppercased()
                    scalars.replaceSubrange(index...index, with: changed.unicodeScalars)
                }
            default:  // an entirely random line
                let line = (0..<below(80)).map { _ in pick(Self.tokens) }.joined()
                scalars.insert(contentsOf: line.unicodeScalars, at: position)
            }
        }
        return String(String.UnicodeScalarView(scalars))
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
