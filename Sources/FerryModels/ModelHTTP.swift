import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore
import NIOHTTP1

/// Builds a reply from a provider's stream of events. One is made fresh for every attempt.
protocol StreamAccumulator {
    init()
    /// Returns true when the event ends the stream.
    mutating func consume(_ event: SSEEvent, onDelta: @Sendable (StreamDelta) -> Void) throws -> Bool
    /// Whether the stream said it was complete (a cut stream is retried).
    var isComplete: Bool { get }
    func reply() -> ModelReply
}

/// The HTTP part every provider shares: POST, stream SSE, classify errors, retry what is worth retrying.
struct ModelHTTP: Sendable {
    let client: HTTPClient
    let profile: ModelProfile
    let retry: RetryPolicy
    let probe: ConnectionProbe

    init(client: HTTPClient, profile: ModelProfile, retry: RetryPolicy) {
        self.client = client
        self.profile = profile
        self.retry = retry
        self.probe = ConnectionProbe(timeout: min(max(profile.connectTimeoutSeconds, 1), 5))
    }

    struct Retryable: Error {
        var reason: String
        var retryAfter: Double?
        var final: FerryError
    }

    func stream<Accumulator: StreamAccumulator>(
        path: String, headers: [(String, String)], body: Data, as: Accumulator.Type,
        onDelta: @escaping @Sendable (StreamDelta) -> Void
    ) async throws -> ModelReply {
        let url = profile.baseURL.trimmingSuffix("/") + path
        try await probe.check(url: url, profile: profile, group: client.eventLoopGroup)
        var attempt = 1
        while true {
            do {
                return try await once(url: url, headers: headers, body: body, as: Accumulator.self, onDelta: onDelta)
            } catch let retryable as Retryable {
                guard attempt < retry.maxAttempts else { throw retryable.final }
                let wait = retry.delay(afterAttempt: attempt, retryAfter: retryable.retryAfter)
                onDelta(.retrying(attempt: attempt, afterSeconds: wait, reason: retryable.reason))
                try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                attempt += 1
            }
        }
    }

    private func once<Accumulator: StreamAccumulator>(
        url: String, headers: [(String, String)], body: Data, as: Accumulator.Type,
        onDelta: @escaping @Sendable (StreamDelta) -> Void
    ) async throws -> ModelReply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "accept", value: "text/event-stream")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))

        let response: HTTPClientResponse
        do {
            response = try await client.execute(
                request, timeout: .seconds(Int64(max(60, profile.idleTimeoutSeconds * 4))))
        } catch {
            throw transportError(error, url: url, phase: "connect")
        }
        guard response.status == .ok else {
            var collected = ByteBuffer()
            do {
                for try await var chunk in response.body {
                    collected.writeBuffer(&chunk)
                    if collected.readableBytes > 65_536 { break }
                }
            } catch {}
            throw statusError(
                response.status, headers: response.headers, body: String(buffer: collected), url: url)
        }

        var parser = SSEParser()
        var accumulator = Accumulator()
        do {
            streaming: for try await chunk in response.body {
                for event in parser.feed(chunk.readableBytesView) {
                    if try accumulator.consume(event, onDelta: onDelta) { break streaming }
                }
            }
            if let last = parser.finish() { _ = try accumulator.consume(last, onDelta: onDelta) }
        } catch let error as FerryError {
            throw error
        } catch let error as Retryable {
            throw error
        } catch {
            throw transportError(error, url: url, phase: "stream")
        }
        guard accumulator.isComplete else {
            throw Retryable(
                reason: "stream ended early", retryAfter: nil,
                final: FerryError(.modelUnreachable, "the stream from \(url) ended before the reply was complete"))
        }
        return accumulator.reply()
    }

    private func transportError(_ error: any Error, url: String, phase: String) -> any Error {
        if error is CancellationError { return error }
        let text = String(describing: error)
        if text.contains("readTimeout") || text.contains("deadlineExceeded") {
            return Retryable(
                reason: "timed out", retryAfter: nil,
                final: FerryError(
                    .modelTimeout,
                    "\(url) sent nothing for \(Int(profile.idleTimeoutSeconds))s (idle timeout) during \(phase)"))
        }
        return Retryable(
            reason: text, retryAfter: nil,
            final: FerryError(.modelUnreachable, "cannot reach \(url): \(text)"))
    }

    private func statusError(_ status: HTTPResponseStatus, headers: HTTPHeaders, body: String, url: String)
        -> any Error
    {
        let detail = Self.errorMessage(in: body).map { ": \($0)" } ?? ""
        let code = Int(status.code)
        switch code {
        case 401, 403:
            let key = profile.apiKeyEnv.map { "the key in $\($0)" } ?? "the request (no key configured)"
            return FerryError(.modelAuth, "\(key) was rejected by \(url) (HTTP \(code))\(detail)")
        case 404:
            return FerryError(
                .modelNotFound,
                "\(url) answered HTTP 404\(detail). Either the URL is wrong (check base_url of the model profile "
                    + "'\(profile.name)': OpenAI-compatible servers usually end in /v1) or the model '\(profile.model)' "
                    + "does not exist there")
        case 429, 500...599, 408, 409:
            let after = RetryPolicy.retryAfter(
                milliseconds: headers.first(name: "retry-after-ms"), value: headers.first(name: "retry-after"))
            return Retryable(
                reason: "HTTP \(code)", retryAfter: after,
                final: FerryError(.model, "\(url) kept failing: HTTP \(code)\(detail)"))
        default:
            return FerryError(.model, "\(url) rejected the request (HTTP \(code))\(detail)")
        }
    }

    /// Both OpenAI and Anthropic put a human message at `error.message`.
    static func errorMessage(in body: String) -> String? {
        guard let json = JSONValue.parse(body) else {
            let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? nil : String(trimmed.prefix(300))
        }
        return json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue ?? json["message"]?.stringValue
    }
}
