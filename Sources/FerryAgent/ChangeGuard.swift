import FerryCore
import FerryWorkspace
import Foundation

/// What may go into a run's commit. Everything is staged, then files over the size limit are taken out of the commit
/// (a 300 MB blob has no place on a branch someone will push), and secrets in the changed text files are replaced:
/// a key the model saw must never be committed.
enum ChangeGuard {
    struct Result {
        var leftOut: [String] = []
        var redacted: [String] = []
        var notes: [String] = []
    }

    static func apply(git: Git, root: String, base: String, maxFileBytes: Int, redactor: Redactor) async throws
        -> Result
    {
        var result = Result()
        let changed = try await git.changedFiles(against: base)
        for path in changed {
            let full = root + "/" + path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: full),
                attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
            if size > maxFileBytes {
                try await git.run("rm", "--cached", "-q", "--", path)
                result.leftOut.append(path)
                result.notes.append(
                    "\(path) (\(megabytes(size))) was left out of the commit: it is over the \(megabytes(maxFileBytes)) "
                        + "file size limit ([limits] max_file_mb)")
                continue
            }
            guard !redactor.isEmpty, let data = FileManager.default.contents(atPath: full),
                !data.prefix(8000).contains(0)
            else { continue }
            let text = String(decoding: data, as: UTF8.self)
            guard redactor.contains(in: text) else { continue }
            try Workspace.write(Data(redactor(text).utf8), to: full)
            try await git.run("add", "--", path)
            result.redacted.append(path)
            result.notes.append(
                "\(path) held a secret from Ferry's environment, replaced with \(Redactor.mask) before the commit")
        }
        return result
    }

    /// What `commit` made.
    struct Committed {
        var guarded: Result
        var diff: String
        var sha: String?
    }

    /// Stages and guards the change, then commits it (when there is one) with the message `message` gives once it
    /// knows what the guard did; the message is redacted like everything else.
    static func commit(
        git: Git, root: String, base: String, maxFileBytes: Int, redactor: Redactor, message: (Result) -> String
    ) async throws -> Committed {
        let guarded = try await apply(git: git, root: root, base: base, maxFileBytes: maxFileBytes, redactor: redactor)
        let diff = try await git.run("diff", "--cached", "--binary", base)
        let text = message(guarded)
        let sha = diff.isEmpty ? nil : try await git.commit(message: redactor(text))
        return Committed(guarded: guarded, diff: diff, sha: sha)
    }

    static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f MB", Double(bytes) / 1_048_576)
    }
}
