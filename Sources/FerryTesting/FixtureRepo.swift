import Foundation
import FerryWorkspace

/// Real git repositories in temporary directories, for tests and the demo.
public enum FixtureRepo {
    /// Creates a repository with these files (path → content), committed on `main`. Returns its path.
    public static func make(_ files: [String: String], name: String = "repo") async throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("ferry-fixture-\(UUID().uuidString.prefix(8))").appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (path, content) in files {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(content.utf8).write(to: URL(fileURLWithPath: full))
        }
        try await initialize(directory)
        return directory
    }

    /// Turns a directory into a repository with one commit of everything in it.
    public static func initialize(_ directory: String) async throws {
        try await Git.initialize(directory)
    }
}
