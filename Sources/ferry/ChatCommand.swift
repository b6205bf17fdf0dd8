import ArgumentParser
import Dispatch
import FerryAgent
import FerryAssist
import FerryCore
import FerryStore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk about the repository's code in the terminal; /run hands a task to the autonomous mode.",
        discussion: ChatSession.help)

    @Option(help: "The repository (default: the current directory).") var repo: String?
    @Flag(help: "Continue this repository's latest chat.") var resume = false
    @Option(name: .customLong("chat"), help: "Continue the chat with this id (or id prefix).") var chatID: String?
    @Option(help: "Hand /run tasks to this team server (its URL) instead of running them here.") var server: String?
    @Option(help: "The server's project for /run tasks (with --server).") var project: String?
    @Option(help: "The environment variable that holds the server's API key.") var serverKeyEnv = "FERRY_API_KEY"
    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        // The server's arguments are checked before anything starts.
        var serverKey: String?
        if let server {
            guard project != nil else {
                throw FerryError(.usage, "--server needs --project NAME (the server's project for /run)")
            }
            serverKey = try Credentials.serverKey(
                for: server, envName: serverKeyEnv, environment: ProcessInfo.processInfo.environment)
        }
        let assist = try await LocalAssist(repo: repo, modelOptions: modelOptions)
        let store = try ChatStore(path: ChatStore.path(besideRunStore: assist.config.storePath))
        let out: @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }
        let resumed = resume || chatID != nil
        let chat: ChatInfo
        if resumed {
            guard let found = try await store.find(repo: assist.root, prefix: chatID) else {
                throw FerryError(
                    .usage,
                    chatID.map { "no chat \($0)" } ?? "no earlier chat for \(assist.root); start one with ferry chat")
            }
            chat = found
        } else {
            chat = try await store.create(repo: assist.root)
        }
        // Made last, so no error above leaves its HTTP client unshut.
        let remote = server.map { RemoteTaskHost(baseURL: $0, key: serverKey ?? "", project: project ?? "") }
        let session = ChatSession(
            chat: chat, root: assist.root, store: store, tasks: remote ?? assist.tasks,
            assistant: { try await assist.assistant() },
            model: { try await assist.model() }, out: out)
        if resumed {
            let count = try await session.resume()
            out("resumed \(chat.id) (\(count) turns); \(await session.costLine())\n")
        } else {
            out(
                "ferry chat \(chat.id) on \(assist.root) with \(assist.profile.model)"
                    + (server.map { "; /run goes to \($0) (project \(project ?? "?"))" } ?? "")
                    + "; /help lists the commands\n")
        }
        await Self.loop(session, out: out)
        out("\(await session.costLine()); resume with ferry chat --chat \(chat.id)\n")
        await assist.shutdown()
        await remote?.shutdown()
    }

    /// Reads lines until /quit, end of input or SIGTERM. Ctrl-C stops the answer or run under way; at the prompt it
    /// only says how to leave.
    static func loop(_ session: ChatSession, out: @escaping @Sendable (String) -> Void) async {
        let (lines, feed) = AsyncStream.makeStream(of: String.self)
        let reader = Thread {
            while let line = readLine(strippingNewline: true) { feed.yield(line) }
            feed.finish()
        }
        reader.start()
        let current = Mutex<Task<Bool, Never>?>(nil)
        let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let work = current.withLock { $0 }
                if number == SIGTERM {
                    work?.cancel()
                    feed.finish()
                } else if let work {
                    work.cancel()
                } else {
                    out("\n(Ctrl-D or /quit leaves the chat)\nferry> ")
                }
            }
            source.resume()
            return source
        }
        defer { for source in sources { source.cancel() } }
        out("ferry> ")
        for await line in lines {
            let work = Task { await session.handle(line) }
            current.withLock { $0 = work }
            let goOn = await work.value
            current.withLock { $0 = nil }
            if !goOn || Task.isCancelled { break }
            out("ferry> ")
        }
    }
}
