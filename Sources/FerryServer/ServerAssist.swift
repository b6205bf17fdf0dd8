import FerryAgent
import FerryAssist
import FerryCore
import FerryIndex
import FerryModels
import FerryServerStore
import FerryStore
import FerryWorkspace
import Foundation

/// The assistant surfaces of a team server (`/mcp`, `/v1/chat/completions`): a project's repository and index for a
/// key's tenant, the server's model, and the spend of answers billed to the tenant (the spend page shows it).
public struct ServerAssist: Sendable {
    let store: any ServerStore
    let runStore: any RunStore
    let models: ModelPool
    let repositories: ProjectRepositories
    let policy: ServerPolicy

    public init(
        store: any ServerStore, runStore: any RunStore, models: ModelPool, dataDirectory: String, policy: ServerPolicy
    ) {
        self.store = store
        self.runStore = runStore
        self.models = models
        self.policy = policy
        repositories = ProjectRepositories(dataDirectory: dataDirectory, policy: policy)
    }

    /// The tenant's project by id or name, or a `NotFound` (another tenant's project is not found, never shown).
    func project(_ reference: String?, for principal: Principal) async throws -> Project {
        if let reference {
            guard let project = try await store.project(reference, tenantID: principal.tenantID) else {
                throw NotFound("no project \(reference)")
            }
            return project
        }
        let all = try await store.projects(tenantID: principal.tenantID)
        guard all.count == 1, let only = all.first else {
            throw NotFound(
                all.isEmpty
                    ? "this tenant has no projects"
                    : "name the project: one of " + all.map(\.name).joined(separator: ", "))
        }
        return only
    }

    func model(for project: Project?) async throws -> any ChatModel {
        try await models.model(named: project?.model)
    }

    /// Records an answer's usage as the tenant's spend, under an id of its own (`ask_…`), so budgets count it.
    func recordSpend(_ principal: Principal, project: Project, usage: Usage, usd: Double, model: String) async {
        try? await store.recordSpend(
            SpendRecord(
                tenantID: principal.tenantID, projectID: project.id,
                taskID: "ask_" + UUID().uuidString.lowercased().prefix(20),
                attempt: 0, step: 0, model: model, usage: usage, usd: usd, at: Date(), personID: principal.personID))
    }

    /// Refuses an answer when a budget of the tenant or project is already spent: `BudgetPolicy`'s rule for a task
    /// that asks for no cap (a question costs little, but nothing once the month's money is gone).
    func admit(_ principal: Principal, project: Project) async throws {
        do {
            _ = try BudgetPolicy.admit(
                maxCostUSD: nil,
                budgets: try await store.budgets(
                    tenantID: principal.tenantID, projectID: project.id, personID: principal.personID, now: Date()))
        } catch let refusal as BudgetPolicy.Refusal {
            throw BudgetExhausted(message: refusal.message)
        }
    }

    /// The environment for one MCP session of `principal`: every tool names its project.
    func environment(for principal: Principal) -> AssistEnvironment {
        let tasks = ServerTaskHost(
            api: ServerAPI(store: store, runStore: runStore, policy: policy), principal: principal, assist: self)
        return AssistEnvironment(
            repository: { reference in
                let project = try await project(reference, for: principal)
                do {
                    return try await repositories.assistant(for: project)
                } catch {
                    // A clone, a path check or an index that fails says why without the server's paths.
                    throw PublicFailure(description: PublicError.message(error))
                }
            },
            model: { try await model(for: nil) },
            tasks: tasks, projectArgument: true,
            recordUsage: { reference, usage, usd, model in
                guard let project = try? await project(reference, for: principal) else { return }
                await recordSpend(principal, project: project, usage: usage, usd: usd, model: model)
            })
    }
}

struct BudgetExhausted: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Each project's files and index for answering questions, one per server process: a local project (inside the
/// operator's roots, checked again at each open) is read where it is; a git URL is cloned once (as the workers do)
/// and checked out at its base in a worktree of its own, fetched again at most once a minute. Every index lives in
/// the server's data directory (`index/<project id>.sqlite`, owner-only), never in the repository's path.
actor ProjectRepositories {
    let dataDirectory: String
    let policy: ServerPolicy
    private var open: [String: (assistant: RepoAssistant, refreshed: ContinuousClock.Instant)] = [:]

    init(dataDirectory: String, policy: ServerPolicy) {
        self.dataDirectory = dataDirectory
        self.policy = policy
    }

    func assistant(for project: Project) async throws -> RepoAssistant {
        // A local path is checked at every question (a stat and a realpath); a clone is fetched at most once a minute.
        let location = try await ProjectCheckout.location(project, policy: policy)
        if case .remote = location, let entry = open[project.id], ContinuousClock.now - entry.refreshed < .seconds(60) {
            return entry.assistant
        }
        let root: String
        switch location {
        case .remote:
            let checkout = try await ProjectCheckout.prepare(project, dataDirectory: dataDirectory, policy: policy)
            root = dataDirectory + "/assist/" + project.id
            let git = Git(checkout.repo)
            if FileManager.default.fileExists(atPath: root + "/.git") {
                _ = try await Git(root).run("checkout", "--quiet", "--detach", checkout.base, "--")
            } else {
                try FileManager.default.createDirectory(
                    atPath: dataDirectory + "/assist", withIntermediateDirectories: true)
                _ = try await git.run("worktree", "add", "--quiet", "--detach", "--end-of-options", root, checkout.base)
            }
        case .local(let path):
            root = path
        }
        if let entry = open[project.id], entry.assistant.root == (root as NSString).standardizingPath {
            open[project.id] = (entry.assistant, ContinuousClock.now)
            return entry.assistant
        }
        let indexes = dataDirectory + "/index"
        try FileManager.default.createDirectory(
            atPath: indexes, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let index = try CodeIndex(root: root, path: indexes + "/" + project.id + ".sqlite")
        _ = try await index.update()
        let assistant = RepoAssistant(index: index)
        open[project.id] = (assistant, ContinuousClock.now)
        return assistant
    }
}
