import Foundation

/// The name of a tool the model can call. The wire carries plain strings (a model may call anything); this type names
/// the ones Ferry offers and says which only look.
public struct ToolName: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    public static let readFile: ToolName = "read_file"
    public static let listFiles: ToolName = "list_files"
    public static let search: ToolName = "search"
    public static let editFile: ToolName = "edit_file"
    public static let writeFile: ToolName = "write_file"
    public static let shell: ToolName = "shell"
    /// Ends the turn: the change is judged by the tests.
    public static let finish: ToolName = "finish"
    /// The index's tools, offered in larger repositories.
    public static let searchCode: ToolName = "search_code"
    public static let findSymbol: ToolName = "find_symbol"

    /// Tools that only look. Repeating one before anything has changed cannot tell the model anything new.
    public var isReadOnly: Bool {
        [Self.readFile, .search, .listFiles, .searchCode, .findSymbol].contains(self)
    }

    /// A short form of a call's arguments for the live output: `cart.py:10-20`, `pytest -q`.
    public static func brief(_ call: ToolCall) -> String {
        let args = JSONValue.parse(call.arguments) ?? [:]
        let text: String =
            switch call.tool {
            case .readFile:
                (args["path"]?.stringValue ?? "")
                    + (args["start_line"]?.intValue.map {
                        ":\($0)" + (args["end_line"]?.intValue.map { "-\($0)" } ?? "")
                    } ?? "")
            case .shell: args["command"]?.stringValue ?? ""
            case .search: "/" + (args["pattern"]?.stringValue ?? "") + "/"
            case .listFiles: args["glob"]?.stringValue ?? "**"
            default: args["path"]?.stringValue ?? ""
            }
        let oneLine = text.replacingOccurrences(of: "\n", with: " ")
        return oneLine.count > 60 ? String(oneLine.prefix(57)) + "…" : oneLine
    }
}

extension ToolCall {
    /// The tool this call names.
    public var tool: ToolName { ToolName(name) }
}
