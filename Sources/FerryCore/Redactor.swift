import Foundation

/// Replaces secret values wherever a run writes: the trace, the store, the report files, the commit. Everything a
/// run writes passes through one of these, built once per run.
public struct Redactor: Sendable, Hashable {
    public static let mask = "[REDACTED]"
    /// Values to hide, longest first (so a key that contains another is replaced whole). Shorter than 8 characters
    /// would hide ordinary words.
    public let secrets: [String]

    public init(secrets: [String]) {
        self.secrets = Array(Set(secrets.filter { $0.count >= 8 })).sorted { $0.count > $1.count }
    }

    /// Words in a variable's name that say it holds a secret. Whole words: a prefix match took `GIT_AUTHOR_EMAIL`
    /// for a secret and would have masked the author's address everywhere.
    static let secretNameParts: Set<String> = [
        "KEY", "KEYS", "APIKEY", "TOKEN", "TOKENS", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "CREDENTIAL",
        "CREDENTIALS",
    ]

    /// The values of variables whose names say they hold a secret (`OPENAI_API_KEY`, `GITHUB_TOKEN`,
    /// `DB_PASSWORD`, …), plus `extra` (the key a run uses, whatever its variable is called).
    public static func secrets(in environment: [String: String], extra: [String] = []) -> [String] {
        var found = extra
        for (name, value) in environment {
            let parts = name.uppercased().split(whereSeparator: { $0 == "_" || $0 == "-" }).map(String.init)
            if parts.contains(where: secretNameParts.contains) { found.append(value) }
        }
        return found
    }

    public var isEmpty: Bool { secrets.isEmpty }

    public func callAsFunction(_ text: String) -> String {
        var result = text
        for secret in secrets where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: Self.mask)
        }
        return result
    }

    public func callAsFunction(_ value: JSONValue) -> JSONValue {
        guard !secrets.isEmpty else { return value }
        switch value {
        case .string(let text): return .string(self(text))
        case .array(let items): return .array(items.map { self($0) })
        case .object(let object): return .object(object.mapValues { self($0) })
        default: return value
        }
    }

    public func contains(in text: String) -> Bool {
        secrets.contains { text.contains($0) }
    }
}
