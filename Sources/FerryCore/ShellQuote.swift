/// A word for `sh`: single-quoted, with its own single quotes escaped.
public func shellQuote(_ word: String) -> String {
    "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
