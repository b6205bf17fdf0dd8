import Foundation
import MCP

/// Progress notifications for one tool call, sent in order from synchronous callbacks (a model's stream): each
/// message is queued and one task sends them. Without a progress token (the client did not ask) nothing is sent.
final class ProgressStream: Sendable {
    private let continuation: AsyncStream<String>.Continuation?
    private let sender: Task<Void, Never>?

    init(token: ProgressToken?, server: Server?) {
        guard let token, let server else {
            continuation = nil
            sender = nil
            return
        }
        let (messages, continuation) = AsyncStream.makeStream(of: String.self)
        self.continuation = continuation
        sender = Task {
            var step = 0.0
            for await message in messages {
                step += 1
                try? await server.notify(
                    ProgressNotification.message(.init(progressToken: token, progress: step, message: message)))
            }
        }
    }

    func send(_ message: String) {
        continuation?.yield(message)
    }

    /// Waits until every queued notification has been sent (so they arrive before the result).
    func finish() async {
        continuation?.finish()
        await sender?.value
    }

    deinit {
        continuation?.finish()
    }
}
