import FerryCore
import FerryStore
import Foundation

/// Writes every event of a run to `trace.jsonl`, the store and the live sink, in order, with secrets redacted. The
/// trace is the audit record: every model call, retry, tool result (run, refused or cut off) and verification is in
/// it.
actor EventRecorder {
    private var seq = 0
    private let runID: String
    private let store: any RunStore
    private let traceHandle: FileHandle?
    private let sink: @Sendable (RunEvent) -> Void
    let redactor: Redactor
    private(set) var storeErrors: [String] = []
    /// Which tests judged the change (`tests.related`, `tests.wider`), for the run's summary.
    private(set) var testNotes: [String] = []

    init(
        runID: String, tracePath: String, store: any RunStore, redactor: Redactor,
        sink: @escaping @Sendable (RunEvent) -> Void
    ) {
        self.runID = runID
        self.store = store
        self.sink = sink
        self.redactor = redactor
        FileManager.default.createFile(atPath: tracePath, contents: nil)
        self.traceHandle = FileHandle(forWritingAtPath: tracePath)
    }

    /// Records an event. `live: false` when the sink has already shown it as it happened (a retry, reported while
    /// the model call was still waiting).
    @discardableResult
    func record(_ event: TraceEvent, live: Bool = true) async -> RunEvent {
        seq += 1
        let entry = RunEvent(seq: seq, time: Date().timeIntervalSince1970, event: redacted(event))
        switch entry.event {
        case .testsRelated(let note): testNotes.append("related tests: " + note.message)
        case .testsWider(let note): testNotes.append("wider suite: " + note.message)
        default: break
        }
        traceHandle?.write(Data((entry.jsonLine + "\n").utf8))
        do {
            if Task.isCancelled {
                // A cancelled run's last events (why it ended) must still reach the store, which would refuse a
                // write from a cancelled task.
                let (store, runID) = (self.store, self.runID)
                try await Task.detached { try await store.append(entry, to: runID) }.value
            } else {
                try await store.append(entry, to: runID)
            }
        } catch {
            // The trace file still has the event; the failure itself is reported at the end.
            storeErrors.append(String(describing: error))
        }
        if live { sink(entry) }
        return entry
    }

    func record(_ events: [TraceEvent]) async {
        for event in events { await record(event) }
    }

    /// Shows an event on the live sink only, redacted, before it can be recorded in order.
    nonisolated func showNow(_ event: TraceEvent) {
        sink(RunEvent(seq: 0, time: Date().timeIntervalSince1970, event: redacted(event)))
    }

    private nonisolated func redacted(_ event: TraceEvent) -> TraceEvent {
        redactor.isEmpty ? event : event.mapStrings { redactor($0) }
    }

    func close() {
        try? traceHandle?.close()
    }
}
