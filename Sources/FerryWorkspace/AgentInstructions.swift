import Foundation

/// Reads `AGENTS.md`: the root's at the start of a run, and those in directories on the way to files the agent
/// touches, each once.
public struct AgentInstructions: Sendable {
    public struct File: Sendable, Hashable {
        public var path: String
        public var text: String
    }

    public let root: String
    private var seen: Set<String> = [""]
    public static let maxBytes = 16_000

    public init(root: String) { self.root = root }

    /// The repository root's AGENTS.md, if any.
    public func rootInstructions() -> File? { load(directory: "") }

    /// AGENTS.md files in the directories of `file` that were not shown yet, outermost first.
    public mutating func newInstructions(forFile file: String) -> [File] {
        var directories: [String] = []
        var current = (file as NSString).deletingLastPathComponent
        while !current.isEmpty, current != "." {
            directories.insert(current, at: 0)
            current = (current as NSString).deletingLastPathComponent
        }
        var found: [File] = []
        for directory in directories where !seen.contains(directory) {
            seen.insert(directory)
            if let file = load(directory: directory) { found.append(file) }
        }
        return found
    }

    func load(directory: String) -> File? {
        let relative = directory.isEmpty ? "AGENTS.md" : directory + "/AGENTS.md"
        guard let data = FileManager.default.contents(atPath: root + "/" + relative) else { return nil }
        let text = String(decoding: data.prefix(Self.maxBytes), as: UTF8.self)
        return File(path: relative, text: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
