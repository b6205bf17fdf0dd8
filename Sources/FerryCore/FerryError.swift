/// The one error type Ferry throws across module boundaries.
///
/// A struct with an opaque code rather than a public enum, so adding a case never breaks callers. The `message` is
/// written for a person and is safe for logs: it never contains a secret.
public struct FerryError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let usage = Code("usage")
        public static let config = Code("config")
        public static let model = Code("model")
        public static let modelAuth = Code("model.auth")
        public static let modelNotFound = Code("model.not_found")
        public static let modelUnreachable = Code("model.unreachable")
        public static let modelTimeout = Code("model.timeout")
        public static let malformedReply = Code("model.malformed_reply")
        public static let sandbox = Code("sandbox")
        public static let sandboxUnavailable = Code("sandbox.unavailable")
        public static let tool = Code("tool")
        public static let pathEscape = Code("tool.path_escape")
        public static let git = Code("git")
        public static let store = Code("store")
        public static let io = Code("io")
        /// Stopped from outside: cancelled, or the work was taken away (a team server's lost lease).
        public static let cancelled = Code("cancelled")
    }

    public let code: Code
    public let message: String
    public let underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
