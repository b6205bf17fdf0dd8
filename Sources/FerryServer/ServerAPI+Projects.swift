import FerryCore
import FerryServerStore
import FerryStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Projects: created (the one way, for the API and the dashboard), listed and read.
extension ServerAPI {
    func createProject(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        let new = try NewProjectRequest(try await json(request))
        let project = try await addProject(
            principal, name: new.name, repo: new.repo, base: new.base, model: new.model, testCommand: new.testCommand,
            webhook: new.webhookURL, push: new.push, remote: remote)
        // The webhook's signing secret is shown this once.
        return try Self.respond(.created, ProjectResource(project, secret: project.webhookSecret))
    }

    /// Creates a project for the API and the dashboard alike, by the server's rules: a name of 1–100 characters; a
    /// repository the `policy` allows (a local path is stored resolved, and may not overlap another tenant's); a base
    /// git cannot read as an option; a webhook to an address the egress rule allows. Recorded in the audit log.
    package func addProject(
        _ principal: Principal, name rawName: String, repo: String, base: String?, model: String?, testCommand: String?,
        webhook: String?, push: Bool, remote: String?, surface: Surface = .api
    ) async throws -> Project {
        let name = rawName.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.count), !name.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw Problem(.badRequest, "a project's \"name\" is 1 to 100 characters on one line")
        }
        if let base { try Self.checkRef(base, "base") }
        if try await store.project(name, tenantID: principal.tenantID) != nil {
            throw Problem(.conflict, "a project named \(name) already exists")
        }
        if let webhook {
            guard webhook.count <= 2048, webhook.wholeMatch(of: Self.webhookURL) != nil else {
                throw Problem(.badRequest, "\"webhook_url\" must be an http or https URL (http://host[:port][/path])")
            }
            do {
                _ = try await policy.egress.check(url: webhook)
            } catch let refusal as EgressPolicy.Refusal {
                throw Problem(.unprocessableContent, "\"webhook_url\": \(refusal.description)")
            }
        }
        let location: ServerPolicy.Location
        do {
            location = try await policy.check(repo)
        } catch let refusal as ServerPolicy.Refusal {
            throw Problem(.unprocessableContent, refusal.description)
        }
        let stored: String
        switch location {
        case .remote(let url): stored = url
        case .local(let path):
            stored = path
            let others = try await store.localProjects().filter { $0.tenantID != principal.tenantID }
            if others.contains(where: { ServerPolicy.overlaps($0.repo, path) }) {
                throw Problem(
                    .conflict,
                    "\"repo\" is (or holds, or is inside) another tenant's project; one repository belongs to one tenant"
                )
            }
        }
        // The signing secret is shown once (returned here) and stored sealed.
        let secret = webhook.map { _ in Webhooks.newSecret() }
        var sealed: String?
        if let secret {
            guard let secrets else { throw Problem(.internalServerError, "this server cannot store webhook secrets") }
            sealed = try secrets.seal(secret)
        }
        var project = try await store.createProject(
            Project(
                id: ServerIDs.newID("prj"), tenantID: principal.tenantID, name: name, repo: stored,
                base: base ?? "HEAD", model: model, testCommand: testCommand, createdAt: Date(), webhookURL: webhook,
                webhookSecret: sealed, push: push))
        project.webhookSecret = secret
        try await record(
            principal, "project.create", project.id,
            "\(name) at \(Self.redactedURL(stored))", remote, surface: surface)
        return project
    }

    /// A git ref a tenant names (a project's or a task's base): never read as an option, one line, no control
    /// characters, at most 255 characters.
    static func checkRef(_ ref: String, _ key: String) throws {
        guard (1...255).contains(ref.count), !ref.hasPrefix("-"),
            !ref.unicodeScalars.contains(where: {
                $0.value < 0x21 || $0.value == 0x7F || ":?*[\\".unicodeScalars.contains($0)
            })
        else {
            throw Problem(
                .badRequest,
                "\"\(key)\" must be a branch, tag or commit: 1–255 characters, no spaces, not starting with '-'")
        }
    }

    /// A URL with any password taken out, for the audit log.
    package static func redactedURL(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }

    func listProjects(_ request: Request, _ principal: Principal) async throws -> Response {
        let projects = try await store.projects(tenantID: principal.tenantID)
        return try Self.respond(.ok, ResourceList(projects.map { ProjectResource($0) }))
    }

    func getProject(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard let project = try await store.project(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no project \(id)")
        }
        return try Self.respond(.ok, ProjectResource(project))
    }
}
