import FerryCore
import Foundation
import Subprocess
import SystemPackage

/// Runs a setup command (pip, tar, cmake), handing each output line to a callback and keeping the last `keep` lines
/// for error messages.
enum StreamingCommand {
    struct Result: Sendable {
        var status: Int32
        var tail: [String]
    }

    static func run(
        _ executable: String, _ arguments: [String], in directory: String? = nil,
        environment: [String: String] = [:], keep: Int = 30, onLine: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> Result {
        var updates: [Environment.Key: String?] = [:]
        for (key, value) in environment { updates[Environment.Key(stringLiteral: key)] = value }
        let executableRef: Executable = executable.contains("/") ? .path(FilePath(executable)) : .name(executable)
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(3))]
        do {
            let result = try await Subprocess.run(
                executableRef, arguments: Arguments(arguments), environment: .inherit.updating(updates),
                workingDirectory: directory.map { FilePath($0) }, platformOptions: options, input: .none,
                output: .sequence, error: .combinedWithOutput
            ) { execution -> [String] in
                var tail: [String] = []
                for try await line in execution.standardOutput.strings() {
                    let trimmed = line.trimmingCharacters(in: .newlines)
                    onLine(trimmed)
                    tail.append(trimmed)
                    if tail.count > keep { tail.removeFirst(tail.count - keep) }
                }
                return tail
            }
            var status: Int32 = -1
            if case .exited(let code) = result.terminationStatus { status = Int32(code) }
            return Result(status: status, tail: result.closureResult)
        } catch let error as FerryError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw FerryError(.io, "could not run \(executable): \(error)")
        }
    }
}
