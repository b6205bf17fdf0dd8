import FerryCore
import Foundation
import Testing

@testable import FerrySandbox

#if canImport(Glibc)
    import Glibc
#endif

/// The child processes Ferry keeps beside a run (and the tests keep beside a test), started with swift-subprocess.
@Suite struct BackgroundProcessTests {
    static func scratch() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-bg-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func itsStreamsGoWhereTheyAreSentAndItsExitIsReported() async throws {
        let directory = try Self.scratch()
        try "from a file\n".write(toFile: directory + "/in", atomically: true, encoding: .utf8)
        let process = try await BackgroundProcess.start(
            "/bin/sh", ["-c", "read line; echo \"out: $line $FERRY_BG\"; echo err >&2; pwd; exit 3"],
            environment: ["FERRY_BG": "set", "PATH": "/usr/bin:/bin"], workingDirectory: directory,
            stdin: .file(directory + "/in"), stdout: .file(directory + "/out"), stderr: .output)
        #expect(await process.wait() == .exited(3))
        #expect(!process.isRunning && process.exit?.code == 3)
        let output = try String(contentsOfFile: directory + "/out", encoding: .utf8)
        #expect(output == "out: from a file set\nerr\n\(directory)\n")
    }

    @Test func aProgramThatIsNotThereIsAClearError() async throws {
        let error = await #expect(throws: FerryError.self) {
            try await BackgroundProcess.start("/nonexistent/ferry-no-such-program", [])
        }
        #expect(error?.message.contains("could not start /nonexistent/ferry-no-such-program") == true)
    }

    /// A child that ignores SIGTERM is killed after the grace, with the group it leads.
    @Test func stopEndsAChildThatIgnoresSIGTERMAndWhatItStarted() async throws {
        let directory = try Self.scratch()
        let process = try await BackgroundProcess.start(
            "/bin/sh", ["-c", "trap '' TERM; sleep 300 & echo $! > \"$0\"; wait", directory + "/grandchild"],
            newSession: true)
        var grandchild: pid_t?
        for _ in 0..<100 where grandchild == nil {
            grandchild = (try? String(contentsOfFile: directory + "/grandchild", encoding: .utf8))
                .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let sleeper = try #require(grandchild)
        #expect(process.isRunning)
        let exit = await process.stop(grace: .milliseconds(300))
        #expect(exit == .signaled(SIGKILL))
        // The grandchild was in the group; it is gone (or a zombie waiting for init).
        var gone = false
        for _ in 0..<100 where !gone {
            gone = kill(sleeper, 0) != 0 || Self.isZombie(sleeper)
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone)
        // Signalling an ended process does nothing (its pid may be another's by now).
        process.signal(SIGKILL)
        #expect(await process.wait() == .signaled(SIGKILL))
    }

    @Test func aPipesEndsReachOnlyTheChildGivenThem() async throws {
        let pipe = try BackgroundProcess.pipe()
        let directory = try Self.scratch()
        let process = try await BackgroundProcess.start(
            "/bin/cat", [], stdin: .descriptor(pipe.read), stdout: .file(directory + "/out"))
        _ = try pipe.write.writeAll(Array("through the pipe\n".utf8))
        try pipe.write.close()
        // cat sees the end of its input only if no other process holds the write end.
        #expect(await process.wait(upTo: .seconds(10)) == .exited(0))
        #expect(try String(contentsOfFile: directory + "/out", encoding: .utf8) == "through the pipe\n")
    }

    /// Foundation's `Process.run()` on Linux can crash the whole process (swift-corelibs-foundation #5472): nothing in
    /// Ferry, its tests or its benchmarks starts a process with it.
    @Test func nothingStartsAProcessWithFoundation() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        var offenders: [String] = []
        for folder in ["Sources", "Tests", "bench"] {
            let enumerator = FileManager.default.enumerator(atPath: root + "/" + folder)
            while let path = enumerator?.nextObject() as? String {
                guard path.hasSuffix(".swift"), !path.hasSuffix("BackgroundProcessTests.swift") else { continue }
                let text = try String(contentsOfFile: root + "/" + folder + "/" + path, encoding: .utf8)
                if text.contains(#/(^|[^A-Za-z.])Process\(\)|Foundation\.Process\b|: Process\b/#) {
                    offenders.append(folder + "/" + path)
                }
            }
        }
        #expect(offenders.isEmpty, "start processes with BackgroundProcess or swift-subprocess: \(offenders)")
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "Z"
    }
}
