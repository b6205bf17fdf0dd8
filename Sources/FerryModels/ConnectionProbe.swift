import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One TCP connect to a model endpoint before its first request, so that "nothing is listening" fails in a moment
/// with a message that says so. Without it, the HTTP client's pool keeps retrying a refused connection until the
/// request's deadline (a minute) and then reports whatever the last socket error was ("connection reset").
final class ConnectionProbe: Sendable {
    enum Outcome: Sendable, Equatable {
        case open
        case refused
        case timedOut
        case unresolved
        /// Something else (a proxy, an odd network): the HTTP request will say what it sees.
        case failed
    }

    private let reached = Mutex(false)
    let timeout: Double

    init(timeout: Double) { self.timeout = timeout }

    /// Throws a clear error when `url`'s host and port take no connection; probes only until one succeeds.
    func check(url: String, profile: ModelProfile, group: any EventLoopGroup) async throws {
        if reached.withLock({ $0 }) { return }
        guard let parsed = URL(string: url), let host = parsed.host else { return }
        let port = parsed.port ?? (parsed.scheme == "https" ? 443 : 80)
        let endpoint = "\(host):\(port)"
        switch await Self.probe(host: host, port: port, group: group, timeout: timeout) {
        case .open:
            reached.withLock { $0 = true }
        case .refused:
            throw FerryError(
                .modelUnreachable,
                "nothing is listening at \(url) (connection to \(endpoint) refused). Fix: start the model server, or "
                    + "check base_url of the model profile '\(profile.name)'")
        case .timedOut:
            throw FerryError(
                .modelUnreachable,
                "no answer from \(endpoint) within \(Int(timeout))s for \(url) (a wrong address, or a firewall). Fix: "
                    + "check base_url of the model profile '\(profile.name)'")
        case .unresolved:
            throw FerryError(
                .modelUnreachable,
                "cannot resolve the host '\(host)' in \(url). Fix: check base_url of the model profile '\(profile.name)'"
            )
        case .failed:
            return
        }
    }

    static func probe(host: String, port: Int, group: any EventLoopGroup, timeout: Double) async -> Outcome {
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(Int64(timeout * 1000)))
                .connect(host: host, port: port).get()
            try? await channel.close()
            return .open
        } catch let error as NIOConnectionError {
            if error.connectionErrors.isEmpty && (error.dnsAError != nil || error.dnsAAAAError != nil) {
                return .unresolved
            }
            if error.connectionErrors.contains(where: { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }) {
                return .refused
            }
            if error.connectionErrors.contains(where: { Self.isConnectTimeout($0.error) }) { return .timedOut }
            return .failed
        } catch let error as IOError where error.errnoCode == ECONNREFUSED {
            return .refused
        } catch {
            return isConnectTimeout(error) ? .timedOut : .failed
        }
    }

    static func isConnectTimeout(_ error: any Error) -> Bool {
        if case .connectTimeout = error as? ChannelError { return true }
        return false
    }
}
