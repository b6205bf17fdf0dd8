import FerryCore
import FerrySandbox
import FerryWorkspace
import Foundation
import Logging
import MCP
import Synchronization

/// The MCP servers a config names, as tools of the agent's loop: each is started in the run's sandbox (the same
/// policy as the agent's commands: the worktree writable, the host read-only, home hidden, no network unless the run
/// has it), its tools listed and offered as `mcp__SERVER__TOOL` with their JSON schemas. A server that fails to start
/// or list its tools is left out (the trace says why); the run goes on. `stop()` ends every server.
public final class MCPToolServers: ExternalTools {
    struct Connected: Sendable {
        var config: MCPServer
        var command: LongLivedCommand
        var client: Client
        var tools: [Tool]
    }

    public let specs: [ToolSpec]
    public let report: [TraceEvent.MCPReady.Server]
    let servers: [String: Connected]
    let all: [Connected]
    static let outputLimit = 16_384

    init(servers: [Connected], report: [TraceEvent.MCPReady.Server]) {
        var specs: [ToolSpec] = []
        var byName: [String: Connected] = [:]
        for server in servers {
            for tool in server.tools {
                let name = Self.name(server: server.config.name, tool: tool.name)
                specs.append(
                    ToolSpec(
                        name: name,
                        description: "[MCP server \(server.config.name)] " + (tool.description ?? tool.name),
                        parameters: Self.json(tool.inputSchema) ?? ["type": "object", "properties": [:]]))
                byName[name] = server
            }
        }
        self.specs = specs
        self.servers = byName
        self.all = servers
        self.report = report
    }

    static func name(server: String, tool: String) -> String {
        "mcp__\(server)__"
            + String(tool.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" }.prefix(40))
    }

    static func json<T: Encodable>(_ value: T) -> JSONValue? {
        (try? JSONEncoder().encode(value)).flatMap { try? JSONDecoder().decode(JSONValue.self, from: $0) }
    }

    /// Starts every server (at once) and lists its tools, each within its timeout.
    public static func start(_ configs: [MCPServer], runner: any CommandRunner, workingDirectory: String) async
        -> MCPToolServers
    {
        let results = await withTaskGroup(of: (Connected?, TraceEvent.MCPReady.Server).self) { group in
            for config in configs.sorted(by: { $0.name < $1.name }) {
                group.addTask { await connect(config, runner: runner, workingDirectory: workingDirectory) }
            }
            var all: [(Connected?, TraceEvent.MCPReady.Server)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.1.name < $1.1.name }
        }
        return MCPToolServers(servers: results.compactMap(\.0), report: results.map(\.1))
    }

    static func connect(_ config: MCPServer, runner: any CommandRunner, workingDirectory: String) async -> (
        Connected?, TraceEvent.MCPReady.Server
    ) {
        guard let launcher = runner as? any LaunchingRunner else {
            return (nil, .init(name: config.name, tools: [], error: "the \(runner.name) runner cannot start servers"))
        }
        let script = "exec " + config.command.map(shellQuote).joined(separator: " ")
        let command: LongLivedCommand
        do {
            command = try await launcher.launch(CommandRequest(script: script, workingDirectory: workingDirectory))
        } catch {
            return (nil, .init(name: config.name, tools: [], error: "\(error)"))
        }
        let client = Client(name: "ferry", version: "1")
        do {
            let tools = try await withTimeout(config.timeoutSeconds, while: { command.isRunning }) {
                _ = try await client.connect(
                    transport: HeldOpenTransport(StdioTransport(input: command.output, output: command.input)))
                return try await client.listTools().tools
            }
            return (
                Connected(config: config, command: command, client: client, tools: tools),
                .init(name: config.name, tools: tools.map(\.name), error: nil)
            )
        } catch {
            let stderr = command.stderrTail.trimmingCharacters(in: .whitespacesAndNewlines)
            await client.disconnect()
            await command.stop()
            return (
                nil,
                .init(
                    name: config.name, tools: [],
                    error: "did not start: \(error)" + (stderr.isEmpty ? "" : "; stderr: \(stderr)"))
            )
        }
    }

    public func call(_ name: String, arguments: JSONValue) async throws -> String? {
        guard let server = servers[name],
            let tool = server.tools.first(where: { Self.name(server: server.config.name, tool: $0.name) == name })
        else {
            return nil
        }
        guard server.command.isRunning else {
            throw FerryError(.tool, "the MCP server \(server.config.name) has stopped")
        }
        let data = try JSONEncoder().encode(arguments)
        let values = (try? JSONDecoder().decode([String: Value].self, from: data)) ?? [:]
        let (content, isError) = try await Self.withTimeout(
            server.config.timeoutSeconds, while: { server.command.isRunning }
        ) {
            try await server.client.callTool(name: tool.name, arguments: values)
        }
        var text = content.map { item -> String in
            switch item {
            case .text(let text, _, _): return text
            case .image(_, let mime, _, _): return "[an image, \(mime)]"
            case .audio(_, let mime, _, _): return "[audio, \(mime)]"
            case .resource(let resource, _, _): return resource.text ?? "[resource \(resource.uri)]"
            case .resourceLink(let uri, let name, _, _, _, _): return "[resource \(name): \(uri)]"
            }
        }.joined(separator: "\n")
        if text.count > Self.outputLimit {
            text = String(text.prefix(Self.outputLimit)) + "\n[cut at \(Self.outputLimit) characters]"
        }
        if isError == true { throw FerryError(.tool, text.isEmpty ? "the tool failed" : text) }
        return text.isEmpty ? "(no output)" : text
    }

    public func stop() async {
        for server in all {
            await server.client.disconnect()
            await server.command.stop()
        }
    }

    /// `body`'s value, or a tool error after `seconds` or when the server exits (`TimeLimit.abandoning`: an MCP
    /// client waiting on a server that never answers ignores cancellation).
    static func withTimeout<T: Sendable>(
        _ seconds: Double, while alive: @escaping @Sendable () -> Bool = { true },
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        do {
            return try await TimeLimit.abandoning(
                seconds, while: alive, gone: FerryError(.tool, "the server exited"), body)
        } catch let exceeded as TimeLimit.Exceeded {
            throw FerryError(.tool, exceeded.description)
        }
    }
}

/// A transport whose message stream stays open after the server's end of file until it is disconnected. (The MCP
/// SDK's client loop re-reads a finished stream at once, for ever: a server that exits would cost a CPU core until
/// the run ends. Held open, the client just waits; calls time out and the server's exit is reported.)
actor HeldOpenTransport: Transport {
    let inner: any Transport
    nonisolated let logger: Logger
    private let stream: AsyncThrowingStream<Data, any Error>
    private let continuation: AsyncThrowingStream<Data, any Error>.Continuation
    private var pump: Task<Void, Never>?

    init(_ inner: StdioTransport) {
        self.inner = inner
        logger = inner.logger
        (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
    }

    func connect() async throws {
        try await inner.connect()
        let messages = await inner.receive()
        let continuation = self.continuation
        pump = Task {
            do {
                for try await message in messages { continuation.yield(message) }
            } catch {}
        }
    }

    func disconnect() async {
        pump?.cancel()
        continuation.finish()
        await inner.disconnect()
    }

    func send(_ data: Data) async throws {
        try await inner.send(data)
    }

    func receive() -> AsyncThrowingStream<Data, any Error> {
        stream
    }
}
