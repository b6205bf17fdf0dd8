import FerryCore
import FerryStore
import Foundation

/// Writes every event of a run to `trace.jsonl`, the store and the live sink, in order, with secrets redacted.
actor EventRecorder {
    private var seq = 0
    private let runID: String
    private let store: any RunStore
    private let traceHandle: FileHandle?
    private let sink: @Sendable (RunEvent) -> Void
    private let secrets: [String]
    private(set) var storeErrors: [String] = []

    init(runID: String, tracePath: String, store: any RunStore, secrets: [String], sink: @escaping @Sendable (RunEvent) -> Void) {
        self.runID = runID
        self.store = store
        self.sink = sink
        self.secrets = secrets.filter { $0.count >= 8 }
        FileManager.default.createFile(atPath: tracePath, contents: nil)
        self.traceHandle = FileHandle(forWritingAtPath: tracePath)
    }

    @discardableResult
    func record(_ type: String, _ data: JSONValue) async -> RunEvent {
        seq += 1
        let event = RunEvent(seq: seq, time: Date().timeIntervalSince1970, type: type, data: redact(data))
        traceHandle?.write(Data((event.jsonLine + "\n").utf8))
        do {
            try await store.append(event, to: runID)
        } catch {
            // The trace file still has the event; the failure itself is reported at the end.
            storeErrors.append(String(describing: error))
        }
        sink(event)
        return event
    }

    func close() {
        try? traceHandle?.close()
    }

    private func redact(_ value: JSONValue) -> JSONValue {
        guard !secrets.isEmpty else { return value }
        switch value {
        case .string(let text): return .string(Redactor.redact(text, secrets: secrets))
        case .array(let items): return .array(items.map(redact))
        case .object(let object): return .object(object.mapValues(redact))
        default: return value
        }
    }
}

/// Replaces secret values in text.
public enum Redactor {
    public static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in secrets where secret.count >= 8 && result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: "[REDACTED]")
        }
        return result
    }
}
