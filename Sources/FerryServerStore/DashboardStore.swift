import Foundation

/// What the dashboard keeps beyond the API's objects: sign-in sessions, imported eval reports, spend by day.
public protocol DashboardStore: Sendable {
    /// A session for a key: its token (for the cookie; only its hash is kept) and its CSRF token.
    func createSession(keyID: String, now: Date, lifetime: Double) async throws -> (token: String, csrf: String)
    /// A session for a person signed in through the identity provider (no key): it acts with the person's role
    /// and ends when the person is deactivated.
    func createSession(personID: String, tenantID: String, now: Date, lifetime: Double) async throws -> (
        token: String, csrf: String
    )
    /// The session's key (still unrevoked) and CSRF token; nil when unknown, expired or its key was revoked.
    func session(_ token: String, now: Date) async throws -> (principal: Principal, csrf: String)?
    func deleteSession(_ token: String) async throws
    /// Keeps an eval report (the JSON `ferry eval` writes) for the tenant.
    func addEval(tenantID: String, name: String, report: String, at: Date) async throws -> String
    /// The tenant's eval reports, oldest first.
    func evals(tenantID: String) async throws -> [EvalRecord]
    /// The tenant's tasks created since `since`, by stored state.
    func taskCounts(tenantID: String, since: Date) async throws -> [String: Int]
    /// The tenant's spend since `since`, by UTC day, model and project.
    func spendByDay(tenantID: String, since: Date) async throws -> [SpendRow]
}

public struct EvalRecord: Sendable, Hashable {
    public var id: String
    public var name: String
    public var at: Date
    public var report: String
}

public struct SpendRow: Sendable, Hashable {
    /// `YYYY-MM-DD`, UTC.
    public var day: String
    public var model: String
    public var projectID: String
    public var usd: Double
    public var calls: Int
}
