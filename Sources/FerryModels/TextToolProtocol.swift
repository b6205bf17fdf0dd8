import FerryCore
import Foundation

/// The text tool protocol, for models whose native tool calls are unreliable. The exact grammar is in
/// docs/TOOLS.md; in short, a reply holds one action, in the first of these forms that it contains:
///
/// 0. one or more SEARCH/REPLACE edit blocks (Aider's format, which code models know well), each an `edit_file`
///    call — no JSON escaping of code needed;
/// 1. `<tool_call>{"name": "...", "arguments": {...}}</tool_call>` (what Qwen2.5-Coder emits under llama.cpp);
/// 2. a fenced JSON block: ```` ```json {"tool": "...", "args": {...}} ``` ```` (`name`/`arguments` also accepted);
/// 3. a fenced shell block (```` ```bash ````, `sh`, `shell`, `console`): runs as the `shell` tool.
///
/// Parsing is lenient: a missing closing tag or fence, a JSON object with unbalanced braces at the end of the reply,
/// `arguments` given as a JSON string, raw newlines and unescaped quotes inside JSON strings, and a bare JSON object
/// outside any fence are all accepted.
public enum TextToolProtocol {
    public enum Parsed: Hashable, Sendable {
        case call(name: String, arguments: JSONValue)
        case error(String)
    }

    public static let shellLanguages = WholeFileReply.shellLanguages

    /// Most actions one reply may carry. Small models write a whole plan (read, edit, test, finish) at once;
    /// running it in order, stopping at the first failure, is what they meant.
    public static let maxActionsPerReply = 6

    /// All the calls a reply makes, in the order they appear: edit blocks, `<tool_call>` tags and ```json blocks.
    /// Shell blocks count only when there is nothing else (they are often just illustrations). A reply with none
    /// of these falls back to `parse`.
    public static func parseCalls(_ reply: String) -> [Parsed] {
        var found: [(position: Int, parsed: Parsed)] = []
        let lines = reply.split(separator: "\n", omittingEmptySubsequences: false)
        var offsets: [Int] = []
        var offset = 0
        for line in lines {
            offsets.append(offset)
            offset += line.utf8.count + 1
        }
        // Edit blocks, positioned at their SEARCH marker.
        let edits = editBlocks(in: reply)
        var editIndex = 0
        for (number, line) in lines.enumerated() where isMarker(line, "<", word: "SEARCH") && editIndex < edits.count {
            found.append((offsets[number], edits[editIndex]))
            editIndex += 1
        }
        // <tool_call> tags.
        var searchStart = reply.startIndex
        while let open = reply.range(of: "<tool_call>", range: searchStart..<reply.endIndex) {
            let close = reply.range(of: "</tool_call>", range: open.upperBound..<reply.endIndex)
            let inner = String(reply[open.upperBound..<(close?.lowerBound ?? reply.endIndex)])
            found.append(
                (
                    reply.utf8.distance(from: reply.startIndex, to: open.lowerBound),
                    call(fromJSONText: stripFence(inner), origin: "<tool_call>")
                ))
            searchStart = close?.upperBound ?? reply.endIndex
        }
        // ```json blocks (outside SEARCH/REPLACE blocks, which are not JSON).
        var inFence = false
        var fenceStart = 0
        var fenceLanguage = ""
        var body: [Substring] = []
        for (number, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("```") else {
                if inFence { body.append(line) }
                continue
            }
            if inFence {
                let text = body.joined(separator: "\n")
                if fenceLanguage == "json"
                    || (fenceLanguage.isEmpty && text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{"))
                {
                    found.append((offsets[fenceStart], call(fromJSONText: text, origin: "the ```json block")))
                }
                inFence = false
            } else {
                inFence = true
                fenceStart = number
                fenceLanguage = String(
                    trimmed.dropFirst(3).trimmingCharacters(in: .whitespaces).lowercased().split(separator: " ").first
                        ?? "")
                body = []
            }
        }
        if inFence, fenceLanguage == "json" {
            found.append(
                (offsets[fenceStart], call(fromJSONText: body.joined(separator: "\n"), origin: "the ```json block")))
        }
        guard !found.isEmpty else { return [parse(reply)] }
        return Array(found.sorted { $0.position < $1.position }.map(\.parsed).prefix(maxActionsPerReply))
    }

    public static func parse(_ reply: String) -> Parsed {
        if let first = editBlocks(in: reply).first { return first }
        if let range = reply.range(of: "<tool_call>") {
            var inner = String(reply[range.upperBound...])
            if let end = inner.range(of: "</tool_call>") { inner = String(inner[..<end.lowerBound]) }
            inner = stripFence(inner)
            return call(fromJSONText: inner, origin: "<tool_call>")
        }
        let fences = fencedBlocks(in: reply)
        if let json = fences.first(where: { $0.language == "json" || ($0.language.isEmpty && $0.body.hasPrefix("{")) })
        {
            return call(fromJSONText: json.body, origin: "the ```json block")
        }
        if let shell = fences.first(where: { shellLanguages.contains($0.language) }) {
            let command = shell.body.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !command.isEmpty else { return .error("The ```bash block is empty.") }
            return .call(name: "shell", arguments: ["command": .string(command)])
        }
        if let start = reply.firstIndex(of: "{"),
            case .call(let name, let arguments) = call(
                fromJSONText: String(reply[start...]), origin: "")
        {
            return .call(name: name, arguments: arguments)
        }
        return .error(
            "No action found. End your reply with exactly one action: a ```json block such as "
                + "{\"tool\": \"read_file\", \"args\": {\"path\": \"src/app.py\"}}, or a ```bash block with one command."
        )
    }

    struct Fence {
        var language: String
        var body: String
    }

    /// Fenced blocks in order; an unclosed last fence runs to the end of the text.
    static func fencedBlocks(in text: String) -> [Fence] {
        var fences: [Fence] = []
        var current: (language: String, lines: [Substring])?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("```") {
                if let open = current {
                    fences.append(Fence(language: open.language, body: open.lines.joined(separator: "\n")))
                    current = nil
                } else {
                    let language = trimmed.dropFirst(3).trimmingCharacters(in: .whitespaces).lowercased()
                    current = (String(language.split(separator: " ").first ?? ""), [])
                }
            } else if current != nil {
                current!.lines.append(line)
            }
        }
        if let open = current, !open.lines.isEmpty {
            fences.append(Fence(language: open.language, body: open.lines.joined(separator: "\n")))
        }
        return fences
    }

    static func stripFence(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("```") else { return trimmed }
        return fencedBlocks(in: trimmed).first?.body ?? trimmed
    }

    static func call(fromJSONText text: String, origin: String) -> Parsed {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let object = lenientObject(trimmed) else {
            return .error(
                "\(origin.isEmpty ? "The action" : origin) is not a valid JSON object: \(trimmed.prefix(200))")
        }
        guard let name = (object["name"] ?? object["tool"] ?? object["function"])?.stringValue, !name.isEmpty else {
            return .error("The JSON action has no \"tool\" (or \"name\") field.")
        }
        var arguments = object["arguments"] ?? object["args"] ?? object["parameters"] ?? object["input"] ?? [:]
        if case .string(let encoded) = arguments { arguments = lenientObject(encoded) ?? [:] }
        guard case .object = arguments else {
            return .error("The arguments of \"\(name)\" must be a JSON object.")
        }
        return .call(name: name, arguments: arguments)
    }

    /// Parses a JSON object, tolerating trailing text and missing closing braces or quotes at the end.
    static func lenientObject(_ text: String) -> JSONValue? {
        guard let start = text.firstIndex(of: "{") else { return nil }
        let candidate = String(text[start...])
        if let value = JSONValue.parse(candidate), value.isObject { return value }
        // Scan for the end of the first balanced object, respecting strings.
        var depth = 0
        var inString = false
        var escaped = false
        var end: String.Index?
        for index in candidate.indices {
            let char = candidate[index]
            if inString {
                if escaped {
                    escaped = false
                } else if char == "\\" {
                    escaped = true
                } else if char == "\"" {
                    inString = false
                }
                continue
            }
            if char == "\"" {
                inString = true
            } else if char == "{" {
                depth += 1
            } else if char == "}" {
                depth -= 1
                if depth == 0 {
                    end = index
                    break
                }
            }
        }
        if let end, let value = JSONValue.parse(String(candidate[...end])), value.isObject { return value }
        if end == nil, depth > 0 {
            let closed = candidate + (inString ? "\"" : "") + String(repeating: "}", count: depth)
            if let value = JSONValue.parse(closed), value.isObject { return value }
        }
        let repaired = repairStrings(candidate)
        if repaired != candidate { return lenientObject(repaired) }
        return nil
    }

    /// Small models write code into JSON strings without escaping it: raw newlines and tabs, and quotes such as a
    /// docstring's `\"\"\"`. Inside a string, a control character is escaped, and a quote counts as the end of the
    /// string only if the next non-blank character could follow a JSON string (`,` `}` `]` `:`); otherwise it is
    /// escaped. Only used after strict parsing failed.
    static func repairStrings(_ text: String) -> String {
        let chars = Array(text)
        var out = ""
        out.reserveCapacity(chars.count + 16)
        var inString = false
        var index = 0
        while index < chars.count {
            let char = chars[index]
            if !inString {
                if char == "\"" { inString = true }
                out.append(char)
            } else if char == "\\", index + 1 < chars.count {
                out.append(char)
                out.append(chars[index + 1])
                index += 1
            } else if char == "\"" {
                var next = index + 1
                while next < chars.count,
                    chars[next] == " " || chars[next] == "\t" || chars[next] == "\r" || chars[next] == "\n"
                { next += 1 }
                if next >= chars.count || ",}]:".contains(chars[next]) {
                    inString = false
                    out.append(char)
                } else {
                    out.append("\\\"")
                }
            } else if char == "\n" {
                out.append("\\n")
            } else if char == "\t" {
                out.append("\\t")
            } else if char == "\r" {
                out.append("\\r")
            } else {
                out.append(char)
            }
            index += 1
        }
        return out
    }

    /// The instructions that teach a model the protocol and its tools; appended to the system prompt.
    public static func instructions(for tools: [ToolSpec]) -> String {
        var text = """
            # How to act
            Each reply: think briefly, then end with exactly ONE action, written as a ```json block:
            ```json
            {"tool": "<tool name>", "args": {<arguments>}}
            ```
            To run a shell command you may instead write a ```bash block with the command.
            To change a file, do not use JSON: write the file's path, then a SEARCH/REPLACE block. SEARCH must \
            copy the current lines exactly; REPLACE holds the new lines:
            cart.py
            ```python
            <<<<<<< SEARCH
                if count > 10:
            =======
                if count >= 10:
            >>>>>>> REPLACE
            ```
            After each action you get its output in the next message. When the task is done, use the tool `finish`.

            # Tools
            """
        for tool in tools {
            text += "\n- `\(tool.name)`: \(tool.description)"
            if case .object(let properties) = tool.parameters["properties"] ?? .null, !properties.isEmpty {
                let required = Set(
                    (tool.parameters["required"].flatMap { value -> [String]? in
                        if case .array(let items) = value { return items.compactMap(\.stringValue) }
                        return nil
                    }) ?? [])
                let args = properties.keys.sorted().map { key in
                    let type = properties[key]?["type"]?.stringValue ?? "string"
                    return required.contains(key) ? "\(key): \(type)" : "\(key)?: \(type)"
                }
                text += " Args: {\(args.joined(separator: ", "))}"
            }
        }
        return text
    }
}
