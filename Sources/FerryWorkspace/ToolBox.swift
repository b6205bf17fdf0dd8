import FerryCore
import FerrySandbox
import Foundation

/// The tools the model gets (documented in docs/TOOLS.md), confined to one workspace. Tools never call the model.
public actor ToolBox {
    public struct Configuration: Sendable {
        public var shellTimeoutSeconds: Double = 120
        public var outputLimit: Int = 12_000
        public var maxReadLines: Int = 400
        /// Files larger than this are not read whole by read_file or edited by edit_file (shell can show parts).
        public var maxReadFileBytes: Int = 16 * 1024 * 1024
        public var maxListedFiles: Int = 400
        public var maxSearchLines: Int = 120
        /// Existing test files `write_file` may not overwrite (edits that add tests stay allowed).
        public var protectedTests: TestProtection = .none
        public init() {}
    }

    public enum TestProtection: Sendable {
        case none
        /// Every test file except those the task names (by path or file name).
        case allExcept(mentionedIn: String)

        public func protects(_ relativePath: String) -> Bool {
            guard case .allExcept(let task) = self, TestPaths.isTest(relativePath) else { return false }
            let lower = task.lowercased()
            return !lower.contains(relativePath.lowercased())
                && !lower.contains((relativePath as NSString).lastPathComponent.lowercased())
        }
    }

    public let workspace: Workspace
    public let runner: any CommandRunner
    public let configuration: Configuration
    let git: Git
    var instructions: AgentInstructions
    let knowledge: (any CodeKnowledge)?
    let external: (any ExternalTools)?
    public nonisolated let specs: [ToolSpec]
    /// Run before each `shell` command: in a src layout, `src` goes on `PYTHONPATH`, as the detected test command
    /// does (`TestCommand`), so the model's own `pytest` imports the code it changes and not an installed copy (on
    /// click a model ran `python3 -m pytest` and read forty failures that were not there).
    let shellPrelude: String

    public init(
        workspace: Workspace, runner: any CommandRunner, configuration: Configuration = Configuration(),
        knowledge: (any CodeKnowledge)? = nil, external: (any ExternalTools)? = nil
    ) {
        self.workspace = workspace
        self.runner = runner
        self.configuration = configuration
        self.knowledge = knowledge
        self.external = external
        // External tools go before `finish`, which stays last.
        let builtIn = ToolBox.specs(withKnowledge: knowledge != nil)
        self.specs = builtIn.dropLast() + (external?.specs ?? []) + builtIn.suffix(1)
        self.git = Git(workspace.root)
        self.instructions = AgentInstructions(root: workspace.root)
        self.shellPrelude =
            TestCommand.hasSourceLayout(workspace.root)
            ? "export PYTHONPATH=\"$PWD/src${PYTHONPATH:+:$PYTHONPATH}\"; " : ""
    }

    /// Runs one call. Failures are returned as error results for the model, never thrown.
    public func execute(_ call: ToolCall) async -> AgentMachine.ToolResult {
        let arguments = JSONValue.parse(call.arguments.isEmpty ? "{}" : call.arguments) ?? [:]
        do {
            let output = try await dispatch(call.name, arguments)
            return .init(callID: call.id, name: call.name, output: output)
        } catch let error as FerryError {
            return .init(callID: call.id, name: call.name, output: "Error: \(error.message)", isError: true)
        } catch {
            return .init(callID: call.id, name: call.name, output: "Error: \(error)", isError: true)
        }
    }

    func dispatch(_ name: String, _ args: JSONValue) async throws -> String {
        switch name {
        case "read_file": return try readFile(args)
        case "list_files": return try await listFiles(args)
        case "search": return try await search(args)
        case "edit_file": return try editFile(args)
        case "write_file": return try writeFile(args)
        case "shell": return try await shell(args)
        case "search_code" where knowledge != nil:
            return try await knowledge!.searchCode(try Self.require(args, "query", aliases: ["pattern", "q", "text"]))
        case "find_symbol" where knowledge != nil:
            return try await knowledge!.findSymbol(try Self.require(args, "name", aliases: ["symbol", "query"]))
        default:
            if let external, let output = try await external.call(name, arguments: args) { return output }
            let known = specs.map(\.name).joined(separator: ", ")
            throw FerryError(.tool, "unknown tool `\(name)`; the tools are: \(known)")
        }
    }

    static func require(_ args: JSONValue, _ key: String, aliases: [String] = []) throws -> String {
        for name in [key] + aliases {
            if let value = args[name]?.stringValue { return value }
        }
        throw FerryError(.tool, "missing string argument `\(key)`")
    }

    // MARK: read_file

    func readFile(_ args: JSONValue) throws -> String {
        let path = try workspace.resolve(try Self.require(args, "path", aliases: ["file", "filename"]))
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FerryError(.tool, "\(workspace.relative(path)) does not exist")
        }
        guard !isDirectory.boolValue else {
            throw FerryError(.tool, "\(workspace.relative(path)) is a directory; use list_files")
        }
        let requestedStart = args["start_line"]?.intValue ?? 1
        let requestedEnd = args["end_line"]?.intValue
        let start = max(1, requestedStart)
        if let requestedEnd, requestedEnd < start {
            throw FerryError(.tool, "end_line \(requestedEnd) is before start_line \(start)")
        }
        let window = try LineWindow.read(
            path: path, start: start, end: requestedEnd, maxLines: configuration.maxReadLines,
            maxFileBytes: configuration.maxReadFileBytes)
        switch window {
        case .notRegular:
            throw FerryError(.tool, "\(workspace.relative(path)) is not a regular file (a device, FIFO or socket)")
        case .tooLarge(let size):
            throw FerryError(
                .tool,
                "\(workspace.relative(path)) is \(size / 1_048_576) MB, over read_file's \(configuration.maxReadFileBytes / 1_048_576) MB "
                    + "limit; look at parts of it with shell (head, sed -n '100,200p', grep -n)")
        case .binary:
            throw FerryError(.tool, "\(workspace.relative(path)) is a binary file")
        case .lines(let lines, let total):
            guard total > 0 else { return "(\(workspace.relative(path)) is empty)" + notes(for: path) }
            guard start <= total else {
                throw FerryError(.tool, "start_line \(start) is past the end (\(total) lines)")
            }
            let end = start + lines.count - 1
            var note = ""
            if end < min(total, requestedEnd ?? total) {
                note = "\n[showing lines \(start)-\(end) of \(total); pass start_line/end_line to read more]"
            }
            let width = String(end).count
            var out = ""
            for (offset, text) in lines.enumerated() {
                let number = String(start + offset)
                let padded = String(repeating: " ", count: max(0, width - number.count)) + number
                out += "\(padded)\t\(text.count > 500 ? text.prefix(500) + "…" : Substring(text))\n"
            }
            return Truncation.headTail(out, limit: configuration.outputLimit * 2) + note + notes(for: path)
        }
    }

    // MARK: list_files

    func listFiles(_ args: JSONValue) async throws -> String {
        let pattern = args["glob"]?.stringValue ?? args["pattern"]?.stringValue ?? args["path"]?.stringValue ?? "**"
        let files = try await git.listFiles().filter {
            FileManager.default.fileExists(atPath: workspace.root + "/" + $0)
        }
        let matcher = Glob(pattern)
        let matched = files.filter(matcher.matches)
        guard !matched.isEmpty else { return "no files match \(pattern)" }
        let shown = matched.prefix(configuration.maxListedFiles)
        var out = shown.joined(separator: "\n")
        if matched.count > shown.count {
            out += "\n[\(matched.count - shown.count) more files; narrow the glob]"
        }
        return out
    }

    // MARK: search

    func search(_ args: JSONValue) async throws -> String {
        let pattern = try Self.require(args, "pattern", aliases: ["regex", "query"])
        let literal = args["literal"]?.boolValue ?? false
        let scope = try workspace.resolve(args["path"]?.stringValue ?? ".")
        let glob = args["glob"]?.stringValue
        var lines: [String]
        if let rg = Self.ripgrep {
            var rgArgs = ["-n", "--no-heading", "--color", "never", "--max-columns", "300"]
            if literal { rgArgs.append("-F") }
            rgArgs += ["-e", pattern]
            if let glob { rgArgs += ["-g", glob] }
            rgArgs += ["--", workspace.relative(scope)]
            let output = try await HostCommand.run(rg, rgArgs, in: workspace.root)
            if output.status == 2 {
                if !literal {
                    return try await literalRetry(args, pattern: pattern, note: "not a valid regular expression")
                }
                throw FerryError(.tool, "bad search: \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            lines = output.stdout.split(separator: "\n").map { line in
                // rg prints path:line:text; make it path:line: text.
                let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 3 else { return String(line) }
                let path = parts[0].hasPrefix("./") ? parts[0].dropFirst(2) : parts[0]
                return "\(path):\(parts[1]): \(parts[2])"
            }
        } else {
            do {
                lines = try await builtinSearch(
                    pattern: literal ? NSRegularExpression.escapedPattern(for: pattern) : pattern, scope: scope,
                    glob: glob)
            } catch let error as FerryError where !literal && error.message.hasPrefix("bad search") {
                return try await literalRetry(args, pattern: pattern, note: "not a valid regular expression")
            }
        }
        if lines.isEmpty, !literal, pattern.contains(where: { "()[]{}.*+?^$|\\".contains($0) }) {
            // Models often search for code as written, e.g. `total(items)`: try it as plain text.
            let again = try await literalRetry(args, pattern: pattern, note: "no matches as a regular expression")
            if !again.contains("no matches for") { return again }
        }
        guard !lines.isEmpty else { return "no matches for /\(pattern)/" }
        lines.sort()
        let shown = lines.prefix(configuration.maxSearchLines)
        var out = shown.joined(separator: "\n")
        if lines.count > shown.count { out += "\n[\(lines.count - shown.count) more matches; narrow the search]" }
        return Truncation.headTail(out, limit: configuration.outputLimit)
    }

    /// Searches for `pattern` as plain text, saying why.
    func literalRetry(_ args: JSONValue, pattern: String, note: String) async throws -> String {
        var retry: [String: JSONValue] = ["pattern": .string(pattern), "literal": true]
        if let path = args["path"] { retry["path"] = path }
        if let glob = args["glob"] { retry["glob"] = glob }
        let output = try await search(.object(retry))
        return "(\(note); searched for it as plain text)\n" + output
    }

    static let ripgrep: String? = {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        return dirs.map { "\($0)/rg" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    func builtinSearch(pattern: String, scope: String, glob: String?) async throws -> [String] {
        let regex: NSRegularExpression
        do { regex = try NSRegularExpression(pattern: pattern) } catch {
            throw FerryError(.tool, "bad search: invalid regular expression /\(pattern)/")
        }
        let scopeRelative = workspace.relative(scope)
        let matcher = glob.map(Glob.init)
        var results: [String] = []
        for file in try await git.listFiles() {
            if scopeRelative != ".", file != scopeRelative, !file.hasPrefix(scopeRelative + "/") { continue }
            if let matcher, !matcher.matches(file), !matcher.matches((file as NSString).lastPathComponent) { continue }
            guard let data = FileManager.default.contents(atPath: workspace.root + "/" + file),
                !data.prefix(8000).contains(0)
            else { continue }
            let text = String(decoding: data, as: UTF8.self)
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let string = String(line)
                if regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) != nil {
                    results.append("\(file):\(index + 1): \(string.prefix(300))")
                }
            }
        }
        return results
    }

    // MARK: AGENTS.md on the way

    /// Instructions from AGENTS.md files in the directories leading to `path`, the first time each is seen.
    func notes(for path: String) -> String {
        let found = instructions.newInstructions(forFile: workspace.relative(path))
        guard !found.isEmpty else { return "" }
        return found.map { "\n\n[Instructions from \($0.path), which apply to files under its directory:]\n\($0.text)" }
            .joined()
    }
}

extension ToolBox {
    /// The built-in search, which runs when ripgrep is missing; exposed so tests cover it on machines with rg.
    public func builtinSearchForTesting(pattern: String) async throws -> [String] {
        try await builtinSearch(pattern: pattern, scope: workspace.root, glob: nil).sorted()
    }
}
