import FerryCore
import Foundation
import Subprocess
import SystemPackage

/// Runs one of Ferry's own commands (git, rg, ctags) on the host, outside the sandbox: these are trusted programs
/// with fixed arguments, never text from the model.
public enum HostCommand {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public static func run(
        _ executable: String, _ arguments: [String], in directory: String, environment: [String: String]? = nil
    ) async throws -> Output {
        let env: Environment
        if let environment {
            var custom: [Environment.Key: String] = [:]
            for (key, value) in environment { custom[Environment.Key(stringLiteral: key)] = value }
            env = .inherit.updating(custom)
        } else {
            env = .inherit
        }
        let executableRef: Executable = executable.contains("/") ? .path(FilePath(executable)) : .name(executable)
        do {
            let result = try await Subprocess.run(
                executableRef, arguments: Arguments(arguments), environment: env,
                workingDirectory: FilePath(directory), output: .string(limit: 256 * 1024 * 1024),
                error: .string(limit: 4 * 1024 * 1024))
            var status: Int32 = -1
            if case .exited(let code) = result.terminationStatus { status = Int32(code) }
            return Output(status: status, stdout: result.standardOutput, stderr: result.standardError)
        } catch {
            throw FerryError(.io, "could not run \(executable): \(error)")
        }
    }
}
