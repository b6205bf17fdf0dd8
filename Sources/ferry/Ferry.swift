import ArgumentParser
import FerryCore
import Foundation

@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "An AI developer tool that hands back verified changes.",
        subcommands: [
            RunCommand.self, AskCommand.self, LocateCommand.self, IndexCommand.self, RunsCommand.self, ShowCommand.self,
            ConfigCommand.self, DemoCommand.self, ModelCommand.self, EvalCommand.self, ServeCommand.self,
            TenantsCommand.self, WorkerCommand.self, AuditCommand.self, LoginCommand.self, McpCommand.self,
            ChatCommand.self,
        ])

    /// Exit codes: 0 verified, 1 failed, 2 usage or config error, 3 unverified, 4 stopped by a limit.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as FerryError {
            FileHandle.standardError.write(Data("ferry: \(error.message)\n".utf8))
            Foundation.exit([.usage, .config].contains(error.code) ? 2 : 1)
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}
