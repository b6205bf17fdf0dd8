import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import Subprocess
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// How to run llama.cpp's server for a model.
public struct LocalServerOptions: Sendable, Hashable {
    public var binary: String
    public var modelPath: String
    /// 0 picks a free port.
    public var port: Int
    public var contextSize: Int
    public var threads: Int?
    public var extraArguments: [String]
    public var startupTimeoutSeconds: Double
    public var logPath: String

    public init(
        binary: String, modelPath: String, port: Int = 0, contextSize: Int = 16_384, threads: Int? = nil,
        extraArguments: [String] = [], startupTimeoutSeconds: Double = 300, logPath: String
    ) {
        self.binary = binary
        self.modelPath = modelPath
        self.port = port
        self.contextSize = contextSize
        self.threads = threads
        self.extraArguments = extraArguments
        self.startupTimeoutSeconds = startupTimeoutSeconds
        self.logPath = logPath
    }

    func arguments(port: Int) -> [String] {
        typealias Flag = LlamaServerFlag
        var args = [
            Flag.model.flag, modelPath, Flag.host.flag, "127.0.0.1", Flag.port.flag, String(port),
            Flag.contextSize.flag, String(contextSize), Flag.parallel.flag, "1", Flag.batchSize.flag, "256",
        ]
        if let threads { args += [Flag.threads.flag, String(threads)] }
        return args + extraArguments
    }
}

/// A running server Ferry can send requests to.
public struct LocalEndpoint: Sendable, Hashable {
    /// The OpenAI-compatible base URL, ending in `/v1`.
    public var baseURL: String
    public var startedByFerry: Bool
    public var logPath: String?
}

/// Starts llama.cpp's server for a model for the length of a scope, or reuses one that is already healthy.
public enum LocalServer {
    public enum Status: Sendable {
        case reusing(String)
        case starting(port: Int)
        case loading(seconds: Double)
        case ready(seconds: Double)
        case stopping
    }

    /// Runs `body` with a healthy server. `reuse` lists base URLs to try first; a healthy one is used as is and
    /// left running. Otherwise a server is started on 127.0.0.1 and stopped when `body` returns or throws.
    public static func with<T: Sendable>(
        _ options: LocalServerOptions, reuse: [String] = [], onStatus: @escaping @Sendable (Status) -> Void = { _ in },
        _ body: @Sendable (LocalEndpoint) async throws -> T
    ) async throws -> T {
        for candidate in reuse where await isHealthy(baseURL: candidate) {
            onStatus(.reusing(candidate))
            return try await body(LocalEndpoint(baseURL: candidate, startedByFerry: false, logPath: nil))
        }
        let fm = FileManager.default
        guard fm.fileExists(atPath: options.modelPath) else {
            throw FerryError(
                .config,
                "no local model at \(options.modelPath) yet. Get it with `ferry model install` "
                    + "(or `make demo`, which installs it), or set model_path in the local profile")
        }
        guard fm.isExecutableFile(atPath: options.binary) else {
            throw FerryError(
                .config,
                "the llama.cpp server \(options.binary) is not there. Build it with `ferry model install` "
                    + "or set server_binary in the local profile")
        }
        let port: Int
        if options.port == 0 {
            port = try freePort()
        } else {
            guard portIsFree(options.port) else {
                throw FerryError(
                    .config,
                    "port \(options.port) on 127.0.0.1 is taken by another program (and it is not a healthy "
                        + "llama.cpp server). Stop it, or set port = 0 in the local profile to use a free port")
            }
            port = options.port
        }
        try fm.createDirectory(
            atPath: (options.logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let log = try FileDescriptor.open(
            FilePath(options.logPath), .writeOnly, options: [.create, .truncate],
            permissions: [.ownerReadWrite, .groupRead, .otherRead])
        let baseURL = "http://127.0.0.1:\(port)/v1"
        var platform = PlatformOptions()
        platform.createSession = true
        platform.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(5))]
        onStatus(.starting(port: port))
        let started = ContinuousClock.now

        let result = try await Subprocess.run(
            .path(FilePath(options.binary)), arguments: Arguments(options.arguments(port: port)),
            platformOptions: platform, input: .none, output: .fileDescriptor(log, closeAfterSpawningProcess: true),
            error: .combinedWithOutput
        ) { execution -> Result<T, any Error> in
            let pid = execution.processIdentifier.value
            do {
                // Wait for health, noticing a crash or a hang.
                while true {
                    // Healthy counts only while our process lives: if another program took the port between the
                    // choice and the start, ours exits (it cannot bind) and the answer is not from it.
                    if await isHealthy(baseURL: baseURL), !hasExited(pid) { break }
                    if hasExited(pid) {
                        throw FerryError(
                            .model,
                            "the llama.cpp server exited while starting. The end of its log "
                                + "(\(options.logPath)):\n" + tail(of: options.logPath))
                    }
                    let waited = seconds(since: started)
                    if waited > options.startupTimeoutSeconds {
                        throw FerryError(
                            .modelTimeout,
                            "the llama.cpp server was not ready after \(Int(waited))s. The end of its "
                                + "log (\(options.logPath)):\n" + tail(of: options.logPath))
                    }
                    onStatus(.loading(seconds: waited))
                    try await Task.sleep(for: .milliseconds(200))
                }
                onStatus(.ready(seconds: seconds(since: started)))
                let value = try await body(
                    LocalEndpoint(baseURL: baseURL, startedByFerry: true, logPath: options.logPath))
                onStatus(.stopping)
                await execution.teardown(using: [.gracefulShutDown(allowedDurationToNextStep: .seconds(5))])
                return .success(value)
            } catch {
                await execution.teardown(using: [.gracefulShutDown(allowedDurationToNextStep: .seconds(5))])
                return .failure(error)
            }
        }
        return try result.closureResult.get()
    }

    /// llama.cpp answers `GET /health` with 200 once the model is loaded (503 while loading).
    public static func isHealthy(baseURL: String) async -> Bool {
        var root = baseURL
        if root.hasSuffix("/") { root.removeLast() }
        if root.hasSuffix("/v1") { root.removeLast(3) }
        var request = HTTPClientRequest(url: root + "/health")
        request.method = .GET
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(2))
            _ = try? await response.body.collect(upTo: 65_536)
            return response.status == .ok
        } catch {
            return false
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start).inSeconds
    }

    /// Whether the process has exited (a zombie not yet reaped counts as exited).
    static func hasExited(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state == "Z" || state == "X"
    }

    static func tail(of path: String, lines: Int = 15) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "(no log)" }
        let text = String(decoding: data.suffix(16_384), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }

    /// Asks the kernel for a free port on 127.0.0.1.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FerryError(.io, "cannot create a socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw FerryError(.io, "cannot find a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
