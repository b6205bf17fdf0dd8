import FerryCore
import Foundation

/// The text tool protocol, for models whose native tool calls are unreliable. The exact grammar is in
/// docs/TOOLS.md; in short, a reply holds one action, in the first of these forms that it contains:
///
/// 1. `<tool_call>{"name": "...", "arguments": {...}}</tool_call>` (what Qwen2.5-Coder emits under llama.cpp);
/// 2. a fenced JSON block: ```` ```json {"tool": "...", "args": {...}} ``` ```` (`name`/`arguments` also accepted);
/// 3. a fenced shell block (```` ```bash ````, `sh`, `shell`, `console`): runs as the `shell` tool.
///
/// Parsing is lenient: a missing closing tag or fence, a JSON object with unbalanced braces at the end of the reply,
/// `arguments` given as a JSON string, and a bare JSON object outside any fence are all accepted.
public enum TextToolProtocol {
    public enum Parsed: Hashable, Sendable {
        case call(name: String, arguments: JSONValue)
        case error(String)
    }

    public static let shellLanguages: Set<String> = ["bash", "sh", "shell", "console", "zsh"]

    public static func parse(_ reply: String) -> Parsed {
        if let range = reply.range(of: "<tool_call>") {
            var inner = String(reply[range.upperBound...])
            if let end = inner.range(of: "</tool_call>") { inner = String(inner[..<end.lowerBound]) }
            inner = stripFence(inner)
            return call(fromJSONText: inner, origin: "<tool_call>")
        }
        let fences = fencedBlocks(in: reply)
        if let json = fences.first(where: { $0.language == "json" || ($0.language.isEmpty && $0.body.hasPrefix("{")) }) {
            return call(fromJSONText: json.body, origin: "the ```json block")
        }
        if let shell = fences.first(where: { shellLanguages.contains($0.language) }) {
            let command = shell.body.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !command.isEmpty else { return .error("The ```bash block is empty.") }
            return .call(name: "shell", arguments: ["command": .string(command)])
        }
        if let start = reply.firstIndex(of: "{"), case .call(let name, let arguments) = call(
            fromJSONText: String(reply[start...]), origin: "")
        {
            return .call(name: name, arguments: arguments)
        }
        return .error(
            "No action found. End your reply with exactly one action: a ```json block such as "
                + "{\"tool\": \"read_file\", \"args\": {\"path\": \"src/app.py\"}}, or a ```bash block with one command.")
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
            return .error("\(origin.isEmpty ? "The action" : origin) is not a valid JSON object: \(trimmed.prefix(200))")
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
                if escaped { escaped = false } else if char == "\\" { escaped = true } else if char == "\"" { inString = false }
                continue
            }
            if char == "\"" { inString = true } else if char == "{" { depth += 1 } else if char == "}" {
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
        return nil
    }

    /// The instructions that teach a model the protocol and its tools; appended to the system prompt.
    public static func instructions(for tools: [ToolSpec]) -> String {
        var text = """
            # How to act
            Each reply: think briefly, then end with exactly ONE action. Write the action as a ```json block:
            ```json
            {"tool": "<tool name>", "args": {<arguments>}}
            ```
            To run a shell command you may instead write a ```bash block with the command. After each action you \
            get its output in the next message. When the task is done, use the tool `finish`.

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

/// Wraps any chat model to speak the text protocol: tools go into the system prompt, tool results come back as
/// user messages, and the reply's action is parsed from its text.
public struct TextProtocolModel: ChatModel {
    public let base: any ChatModel
    public var profile: ModelProfile { base.profile }

    public init(base: any ChatModel) { self.base = base }

    public func complete(_ request: ChatRequest, onDelta: @escaping @Sendable (StreamDelta) -> Void) async throws
        -> ModelReply
    {
        let messages = Self.render(request.messages, tools: request.tools)
        var reply = try await base.complete(ChatRequest(messages: messages, tools: []), onDelta: onDelta)
        guard !request.tools.isEmpty else { return reply }
        switch TextToolProtocol.parse(reply.content) {
        case .call(let name, let arguments):
            reply.toolCalls = [ToolCall(id: "call_\(UUID().uuidString.prefix(8))", name: name, arguments: arguments.jsonString)]
        case .error(let message):
            reply.toolCalls = []
            reply.formatError = message
        }
        return reply
    }

    static func render(_ messages: [ChatMessage], tools: [ToolSpec]) -> [ChatMessage] {
        var rendered: [ChatMessage] = []
        var sawSystem = false
        for message in messages {
            switch message.role {
            case .system:
                var copy = message
                if !sawSystem, !tools.isEmpty { copy.content += "\n\n" + TextToolProtocol.instructions(for: tools) }
                sawSystem = true
                rendered.append(copy)
            case .tool:
                let text = "Output of `\(message.toolName ?? "tool")`:\n\(message.content)"
                if let last = rendered.last, last.role == .user {
                    rendered[rendered.count - 1].content += "\n\n" + text
                } else {
                    rendered.append(.user(text))
                }
            case .assistant:
                rendered.append(ChatMessage(role: .assistant, content: message.content))
            case .user:
                if let last = rendered.last, last.role == .user {
                    rendered[rendered.count - 1].content += "\n\n" + message.content
                } else {
                    rendered.append(message)
                }
            }
        }
        if !sawSystem, !tools.isEmpty {
            rendered.insert(.system(TextToolProtocol.instructions(for: tools)), at: 0)
        }
        return rendered
    }
}
