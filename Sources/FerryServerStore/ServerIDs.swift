import Crypto
import Foundation

/// Ids, secrets and key hashes, the same for both stores.
public enum ServerIDs {
    /// `prefix_` and 20 hex digits: `task_…`, `prj_…`.
    public static func newID(_ prefix: String) -> String {
        prefix + "_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
    }

    /// `prefix` and 24 random bytes in hex: an API key (`fy_`) or a webhook secret (`whsec_`).
    public static func secret(_ prefix: String) -> String {
        prefix + (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// What the stores keep of an API key.
    public static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A task's `errors` column (a JSON list of lines), read and written.
    static func errors(_ text: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }

    static func errorsText(_ errors: [String]) -> String {
        (try? JSONEncoder().encode(errors)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }
}
