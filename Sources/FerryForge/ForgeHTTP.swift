import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOHTTP1

/// One call to a forge's API as it went: kept in the task's trace and summed into the audit trail, so a team can see
/// every request Ferry made on its behalf and how each ended.
public struct ForgeCall: Sendable, Hashable, Codable {
    public var method: String
    public var path: String
    /// The final status (nil: no answer at all).
    public var status: Int?
    /// Tries made (1 when the first answered).
    public var attempts: Int
    /// Seconds spent waiting between tries (`Retry-After`, a rate limit's reset, backoff).
    public var waitedSeconds: Double
    public var error: String?

    public init(
        method: String, path: String, status: Int?, attempts: Int, waitedSeconds: Double, error: String? = nil
    ) {
        self.method = method
        self.path = path
        self.status = status
        self.attempts = attempts
        self.waitedSeconds = waitedSeconds
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case method, path, status, attempts, error
        case waitedSeconds = "waited_seconds"
    }

    public var line: String {
        "\(method) \(path) → \(status.map(String.init) ?? "no answer")"
            + (attempts > 1 ? " after \(attempts) tries, \(String(format: "%.1f", waitedSeconds)) s waiting" : "")
            + (error.map { ": \($0)" } ?? "")
    }
}

/// When to try a forge call again and after how long, pure (GitHub's "Rate limits for the REST API", GitLab's
/// "Rate limits"): `Retry-After` is obeyed as given; a primary limit used up (`x-ratelimit-remaining: 0`) waits for its
/// reset; a secondary limit without either header waits a minute; 5xx and lost connections back off exponentially.
/// A wait longer than `maxWait` is not slept through: the call fails with the reason, and the outbox tries later.
public struct ForgeRetryPolicy: Sendable, Hashable {
    public var maxAttempts = 4
    public var baseBackoff = 1.0
    public var maxWait = 120.0

    public init(maxAttempts: Int = 4, baseBackoff: Double = 1, maxWait: Double = 120) {
        self.maxAttempts = maxAttempts
        self.baseBackoff = baseBackoff
        self.maxWait = maxWait
    }

    public enum Decision: Sendable, Hashable {
        case done
        case retry(after: Double)
        case giveUp(String)
    }

    /// `headers` lower-cased; `attempt` the try that just ended (1-based); `status` nil when nothing answered.
    public func decide(status: Int?, headers: [String: String], body: String, attempt: Int, now: Date) -> Decision {
        var wait: Double?
        switch status {
        case nil:
            wait = baseBackoff * pow(2, Double(attempt - 1))
        case 403?, 429?:
            if let after = headers["retry-after"].flatMap(Double.init) {
                wait = max(0, after)
            } else if headers["x-ratelimit-remaining"] == "0",
                let reset = headers["x-ratelimit-reset"].flatMap(Double.init)
            {
                wait = max(1, reset - now.timeIntervalSince1970 + 1)
            } else if status == 429 || body.lowercased().contains("secondary rate limit") {
                wait = 60
            } else {
                return .done
            }
        case let code? where code >= 500:
            wait = baseBackoff * pow(2, Double(attempt - 1))
        default:
            return .done
        }
        guard let wait else { return .done }
        guard attempt < maxAttempts else { return .giveUp("still limited or failing after \(attempt) tries") }
        guard wait <= maxWait else {
            return .giveUp("the forge asked to wait \(Int(wait.rounded(.up))) s, longer than \(Int(maxWait)) s")
        }
        return .retry(after: wait)
    }
}

/// A forge's answer.
public struct ForgeResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: String
    public var json: JSONValue { JSONValue.parse(body) ?? .null }
}

/// Calls one forge's REST API: the credential each call needs, retries by `ForgeRetryPolicy`, and every call handed
/// to `record`. A 401 gets one fresh credential and one more try (an installation token revoked or expired early).
public struct ForgeHTTP: Sendable {
    public typealias Credential = @Sendable (_ fresh: Bool) async throws -> [(String, String)]

    public let baseURL: String
    public let credential: Credential
    public let policy: ForgeRetryPolicy
    public let record: @Sendable (ForgeCall) async -> Void
    public let userAgent = "ferry"

    public init(
        baseURL: String, policy: ForgeRetryPolicy = ForgeRetryPolicy(),
        record: @escaping @Sendable (ForgeCall) async -> Void = { _ in }, credential: @escaping Credential
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.credential = credential
        self.policy = policy
        self.record = record
    }

    /// A call; throws `FerryError(.model…)` never: failures are `FerryError(.io)` with the forge's own message.
    public func call(
        _ method: HTTPMethod, _ path: String, body: JSONValue? = nil, accept: [Int] = [200, 201]
    ) async throws -> ForgeResponse {
        var attempt = 0
        var waited = 0.0
        var fresh = false
        var refreshed = false
        while true {
            attempt += 1
            var status: Int?
            var response: ForgeResponse?
            var failure: String?
            do {
                let headers = try await credential(fresh)
                response = try await send(method, path, body: body, headers: headers)
                status = response?.status
            } catch let error as FerryError {
                await record(
                    ForgeCall(
                        method: method.rawValue, path: path, status: nil, attempts: attempt, waitedSeconds: waited,
                        error: error.message))
                throw error
            } catch {
                failure = "\(error)"
            }
            if status == 401, !refreshed {
                refreshed = true
                fresh = true
                continue
            }
            fresh = false
            switch policy.decide(
                status: status, headers: response?.headers ?? [:], body: response?.body ?? "", attempt: attempt,
                now: Date())
            {
            case .retry(let after):
                waited += after
                try await Task.sleep(for: .milliseconds(Int(after * 1000)))
                continue
            case .giveUp(let why):
                failure = [failure, why].compactMap { $0 }.joined(separator: "; ")
            case .done:
                break
            }
            let message = response.flatMap { Self.message($0) }
            let ok = status.map(accept.contains) ?? false
            await record(
                ForgeCall(
                    method: method.rawValue, path: path, status: status, attempts: attempt, waitedSeconds: waited,
                    error: ok ? nil : (failure ?? message ?? "HTTP \(status ?? 0)")))
            guard let response, ok else {
                throw FerryError(
                    .io,
                    "\(method.rawValue) \(path) failed: "
                        + (status.map { "HTTP \($0)" } ?? "no answer")
                        + ((failure ?? message).map { ": \($0)" } ?? ""))
            }
            return response
        }
    }

    /// The forge's own words for a failure (`message`, GitLab's `message`/`error`), short.
    static func message(_ response: ForgeResponse) -> String? {
        let json = response.json
        let text = json["message"]?.stringValue ?? json["error"]?.stringValue ?? json["message"]?.jsonString
        return text.map { String($0.prefix(300)) }
    }

    func send(_ method: HTTPMethod, _ path: String, body: JSONValue?, headers: [(String, String)]) async throws
        -> ForgeResponse
    {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let answer = try await send(client, method, path, body: body, headers: headers)
            try? await client.shutdown()
            return answer
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    func send(
        _ client: HTTPClient, _ method: HTTPMethod, _ path: String, body: JSONValue?, headers: [(String, String)]
    ) async throws -> ForgeResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: userAgent)
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.jsonString))
        }
        let response = try await client.execute(request, timeout: .seconds(40))
        let bytes = try await response.body.collect(upTo: 8 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return ForgeResponse(status: Int(response.status.code), headers: fields, body: String(buffer: bytes))
    }
}
