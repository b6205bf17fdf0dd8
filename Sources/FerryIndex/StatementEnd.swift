/// Where a Python statement that starts on a line ends: at the first line end outside brackets, strings and a
/// trailing backslash. Universal Ctags gives no end line for a module's variables, yet a module's tables (a lexer's
/// regular expressions, a keyword dictionary, a settings list) are where many fixes go; with an end they are
/// definitions like any other, which the attempt can show and take back whole.
public enum StatementEnd {
    /// The 1-based last line of the statement starting on `line`, or nil if it does not end within `limit` lines.
    public static func python(startingAt line: Int, lines: [Substring], limit: Int = 5_000) -> Int? {
        guard line >= 1, line <= lines.count else { return nil }
        var depth = 0
        /// The quote that opened the string we are in, and whether it was tripled.
        var string: (quote: Character, triple: Bool)?
        for number in line...min(lines.count, line + limit - 1) {
            let characters = Array(lines[number - 1])
            var index = 0
            var continued = false
            while index < characters.count {
                let character = characters[index]
                if let open = string {
                    if character == "\\" {
                        index += 2
                        continue
                    }
                    if character == open.quote {
                        if !open.triple {
                            string = nil
                        } else if index + 2 < characters.count, characters[index + 1] == open.quote,
                            characters[index + 2] == open.quote
                        {
                            string = nil
                            index += 3
                            continue
                        }
                    }
                    index += 1
                    continue
                }
                switch character {
                case "#":
                    index = characters.count
                    continue
                case "\"", "'":
                    let triple =
                        index + 2 < characters.count && characters[index + 1] == character
                        && characters[index + 2] == character
                    string = (character, triple)
                    index += triple ? 3 : 1
                    continue
                case "(", "[", "{": depth += 1
                case ")", "]", "}": depth = max(0, depth - 1)
                case "\\" where index == characters.count - 1: continued = true
                default: break
                }
                index += 1
            }
            // A one-quoted string cannot run past its line (a backslash at its end continues it, as in Python).
            if let open = string, !open.triple, characters.last != "\\" { string = nil }
            if depth == 0, string == nil, !continued { return number }
        }
        return nil
    }
}
