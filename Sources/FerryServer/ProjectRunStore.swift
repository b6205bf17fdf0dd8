import FerryCore
import FerryServerStore
import FerryStore

/// The server's run store as one project's task sees it: everything goes to the shared store, except the record of its
/// loops (`LoopGate`), which is read from this project's own tasks only. The shared store keeps no record (one
/// tenant's runs must not steer another's, nor one project's another's: a model may use the loop well on one
/// repository and not on the next).
struct ProjectRunStore: RunStore {
    let base: any RunStore
    let queue: any TaskQueue
    let tenantID: String
    let projectID: String

    /// Tasks looked at for the record, newest first: as far back as the gate reads a store (runs that ended before
    /// either stage, and the skips between its probes, are among them).
    static let tasksLooked = LoopGate.fetched

    func insert(_ run: RunRecord) async throws { try await base.insert(run) }
    func update(_ run: RunRecord) async throws { try await base.update(run) }
    func append(_ event: RunEvent, to runID: String) async throws { try await base.append(event, to: runID) }
    func runs(limit: Int) async throws -> [RunRecord] { try await base.runs(limit: limit) }
    func run(_ idOrPrefix: String) async throws -> RunRecord? { try await base.run(idOrPrefix) }
    func runs(ids: [String]) async throws -> [RunRecord] { try await base.runs(ids: ids) }
    func events(of runID: String) async throws -> [RunEvent] { try await base.events(of: runID) }
    func runningRuns() async throws -> [RunRecord] { try await base.runningRuns() }

    /// The project's tasks' runs of `model`, newest first, each read once for all `stages`. A cascade's task names
    /// the run of the stage it kept; the other stages' runs are not in the record.
    func gateHistories(_ stages: Set<LoopGate.Stage>, model: String, provider: String, limit: Int) async throws
        -> [LoopGate.Stage: [LoopGate.Past]]
    {
        var histories = Dictionary(uniqueKeysWithValues: stages.map { ($0, [LoopGate.Past]()) })
        var looked = 0
        var after: String?
        // Page by page (a store gives at most a few hundred tasks at a time), newest first.
        while looked < Self.tasksLooked, histories.values.contains(where: { $0.count < limit }) {
            let page = try await queue.tasks(
                tenantID: tenantID, filter: TaskFilter(projectID: projectID), limit: Self.tasksLooked - looked,
                after: after)
            guard let last = page.last else { break }
            looked += page.count
            after = last.id
            // One read for the page's runs, then the page's order (newest first).
            let runIDs = page.compactMap(\.runID)
            let read = Dictionary(try await base.runs(ids: runIDs).map { ($0.id, $0) }, uniquingKeysWith: { $1 })
            for runID in runIDs {
                guard let run = read[runID], run.model == model, run.provider == provider else { continue }
                for stage in stages where histories[stage]!.count < limit {
                    if let past = LoopGate.Past(run, stage: stage) { histories[stage]!.append(past) }
                }
            }
        }
        return histories
    }
}
