import Foundation

/// Shell-style globs over repository-relative paths: `*` within a segment, `**` across segments, `?`, and `[…]`.
/// A pattern without a slash also matches the file name alone (`*.py` finds Python files at any depth).
public struct Glob: Sendable {
    public let pattern: String
    private let regex: NSRegularExpression?
    private let matchesBasename: Bool

    public init(_ pattern: String) {
        var trimmed = pattern.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("./") { trimmed.removeFirst(2) }
        if trimmed.isEmpty || trimmed == "." { trimmed = "**" }
        // A directory name lists what is under it.
        if !trimmed.contains(where: { "*?[".contains($0) }), !trimmed.contains(".") || trimmed.hasSuffix("/") {
            trimmed = trimmed.trimmingSuffix("/") + "/**"
        }
        self.pattern = trimmed
        self.matchesBasename = !trimmed.contains("/")
        self.regex = try? NSRegularExpression(pattern: "^" + Self.translate(trimmed) + "$")
    }

    public func matches(_ path: String) -> Bool {
        guard let regex else { return path == pattern }
        if test(regex, path) { return true }
        return matchesBasename && test(regex, (path as NSString).lastPathComponent)
    }

    private func test(_ regex: NSRegularExpression, _ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    static func translate(_ glob: String) -> String {
        var out = ""
        let chars = Array(glob)
        var index = 0
        while index < chars.count {
            let char = chars[index]
            switch char {
            case "*":
                if index + 1 < chars.count, chars[index + 1] == "*" {
                    index += 1
                    if index + 1 < chars.count, chars[index + 1] == "/" {
                        index += 1
                        out += "(?:.*/)?"
                    } else {
                        out += ".*"
                    }
                } else {
                    out += "[^/]*"
                }
            case "?": out += "[^/]"
            case "[":
                if let close = chars[index...].firstIndex(of: "]") {
                    var body = String(chars[(index + 1)..<close])
                    if body.hasPrefix("!") { body = "^" + body.dropFirst() }
                    out += "[" + body + "]"
                    index = close
                } else {
                    out += "\\["
                }
            default:
                out += NSRegularExpression.escapedPattern(for: String(char))
            }
            index += 1
        }
        return out
    }
}
