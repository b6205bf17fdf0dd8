import FerryAgent
import FerryCore
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// SCIM 2.0 at `/scim/v2`: the company's identity provider creates, updates and deactivates the tenant's people and
/// groups, with an admin key of the tenant (a service account's, typically) as its bearer token. A person's role
/// follows the groups they are in, through the tenant's `[server.oidc.TENANT]` mapping.
extension ServerAPI {
    func addSCIMRoutes(to router: Router<ServerContext>) {
        let scim = "/scim/v2"
        router.get(RouterPath(scim + "/ServiceProviderConfig")) { request, _ in
            try await scimCall(request) { _ in Self.serviceProviderConfig }
        }
        router.get(RouterPath(scim + "/Users")) { request, _ in
            try await scimCall(request) { try await listUsers(request, $0) }
        }
        router.post(RouterPath(scim + "/Users")) { request, context in
            try await scimCall(request, status: .created) { try await createUser(request, $0, remote: context.remote) }
        }
        router.get(RouterPath(scim + "/Users/:id")) { request, context in
            try await scimCall(request) { try await getUser($0, id: context.parameters.get("id") ?? "", request) }
        }
        for method in [HTTPRequest.Method.put, .patch] {
            router.on(RouterPath(scim + "/Users/:id"), method: method) { request, context in
                try await scimCall(request) {
                    try await changeUser(
                        request, $0, id: context.parameters.get("id") ?? "", replace: method == .put,
                        remote: context.remote)
                }
            }
        }
        router.delete(RouterPath(scim + "/Users/:id")) { request, context in
            try await scimCall(request, status: .noContent) {
                try await deactivateUser($0, id: context.parameters.get("id") ?? "", remote: context.remote)
            }
        }
        router.get(RouterPath(scim + "/Groups")) { request, _ in
            try await scimCall(request) { try await listGroups(request, $0) }
        }
        router.post(RouterPath(scim + "/Groups")) { request, context in
            try await scimCall(request, status: .created) { try await createGroup(request, $0, remote: context.remote) }
        }
        router.get(RouterPath(scim + "/Groups/:id")) { request, context in
            try await scimCall(request) { try await getGroup($0, id: context.parameters.get("id") ?? "", request) }
        }
        for method in [HTTPRequest.Method.put, .patch] {
            router.on(RouterPath(scim + "/Groups/:id"), method: method) { request, context in
                try await scimCall(request) {
                    try await changeGroup(
                        request, $0, id: context.parameters.get("id") ?? "", replace: method == .put,
                        remote: context.remote)
                }
            }
        }
        router.delete(RouterPath(scim + "/Groups/:id")) { request, context in
            try await scimCall(request, status: .noContent) {
                try await deleteGroup($0, id: context.parameters.get("id") ?? "", remote: context.remote)
            }
        }
    }

    static let serviceProviderConfig: JSONValue = [
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": ["supported": true], "bulk": ["supported": false, "maxOperations": 0, "maxPayloadSize": 0],
        "filter": ["supported": true, "maxResults": 200], "changePassword": ["supported": false],
        "sort": ["supported": false], "etag": ["supported": false],
        "authenticationSchemes": [["type": "oauthbearertoken", "name": "Bearer", "description": "an admin API key"]],
    ]

    /// A SCIM call: the admin key checked, the body answered as `application/scim+json`, every failure as a SCIM
    /// error document.
    func scimCall(
        _ request: Request, status: HTTPResponse.Status = .ok, _ body: (Principal) async throws -> JSONValue?
    ) async throws -> Response {
        do {
            let principal = try await KeyAuthentication.principal(request, store: store, access: .admin)
            let value = try await body(principal)
            guard let value else { return Response(status: status) }
            return Response(
                status: status, headers: [.contentType: "application/scim+json"],
                body: .init(byteBuffer: ByteBuffer(string: value.jsonString)))
        } catch let failure as SCIM.Failure {
            return Self.scimError(failure)
        } catch let problem as Problem {
            return Self.scimError(SCIM.Failure(Int(problem.status.code), nil, problem.detail))
        } catch let error as FerryError where error.code == .usage {
            return Self.scimError(SCIM.Failure(409, "uniqueness", error.message))
        } catch let error as any HTTPResponseError {
            return Self.scimError(SCIM.Failure(Int(error.status.code), nil, error.status.reasonPhrase))
        }
    }

    static func scimError(_ failure: SCIM.Failure) -> Response {
        var body: [String: JSONValue] = [
            "schemas": [.string(SCIM.errorSchema)], "status": .string(String(failure.status)),
            "detail": .string(failure.detail),
        ]
        if let type = failure.scimType { body["scimType"] = .string(type) }
        return Response(
            status: HTTPResponse.Status(code: failure.status), headers: [.contentType: "application/scim+json"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(body).jsonString)))
    }

    /// `startIndex` (1-based) and `count` of a list request.
    static func page(_ request: Request) throws(SCIM.Failure) -> (start: Int, count: Int) {
        let query = request.uri.queryParameters
        let start = query.get("startIndex").flatMap { Int($0) } ?? 1
        let count = query.get("count").flatMap { Int($0) } ?? 100
        guard start >= 1, (0...200).contains(count) else {
            throw SCIM.Failure(400, "invalidValue", "startIndex is 1 or more; count is 0 to 200")
        }
        return (start, count)
    }

    // MARK: - Users

    func listUsers(_ request: Request, _ principal: Principal) async throws -> JSONValue {
        let (start, count) = try Self.page(request)
        var people = try await store.people(tenantID: principal.tenantID).filter { $0.kind == .person }
        if let text = request.uri.queryParameters.get("filter") {
            let filter = try SCIM.filter(String(text))
            people = people.filter { SCIM.matches(filter, person: $0) }
        }
        let groups = try await store.groups(tenantID: principal.tenantID)
        let base = Self.origin(request)
        let shown = people.dropFirst(start - 1).prefix(count).map { SCIM.user($0, groups: groups, base: base) }
        return SCIM.list(Array(shown), total: people.count, startIndex: start)
    }

    func person(_ id: String, _ principal: Principal) async throws -> Person {
        guard let person = try await store.person(id, tenantID: principal.tenantID), person.kind == .person else {
            throw SCIM.Failure(404, nil, "no user \(id)")
        }
        return person
    }

    func getUser(_ principal: Principal, id: String, _ request: Request) async throws -> JSONValue {
        let person = try await person(id, principal)
        return SCIM.user(
            person, groups: try await store.groups(tenantID: principal.tenantID), base: Self.origin(request))
    }

    func createUser(_ request: Request, _ principal: Principal, remote: String?) async throws -> JSONValue {
        let fields = try SCIM.userFields(try await json(request))
        let settings = try await groupSettings(principal.tenantID)
        let role = settings?.defaultRole.flatMap(Role.init(rawValue:)) ?? .viewer
        var person = try await store.createPerson(
            NewPerson(kind: .person, name: fields.name, email: fields.email, externalID: fields.externalID, role: role),
            tenantID: principal.tenantID, now: Date())
        try await record(
            principal, "person.create", person.id, "\(fields.email), role \(role.rawValue)", remote, surface: .scim)
        if !fields.active {
            person =
                try await store.updatePerson(
                    person.id, tenantID: principal.tenantID, PersonChange(active: false), now: Date())
                ?? person
        }
        return SCIM.user(person, groups: [], base: Self.origin(request))
    }

    func changeUser(_ request: Request, _ principal: Principal, id: String, replace: Bool, remote: String?)
        async throws -> JSONValue
    {
        _ = try await person(id, principal)
        let body = try await json(request)
        let change: PersonChange
        if replace {
            let fields = try SCIM.userFields(body)
            change = PersonChange(
                name: fields.name, email: fields.email, externalID: fields.externalID, active: fields.active)
        } else {
            change = try SCIM.userChange(try SCIM.operations(body))
        }
        guard
            let person = try await store.updatePerson(id, tenantID: principal.tenantID, change, now: Date())
        else { throw SCIM.Failure(404, nil, "no user \(id)") }
        if change != PersonChange() {
            try await record(principal, "person.update", id, Self.describe(change), remote, surface: .scim)
        }
        return SCIM.user(
            person, groups: try await store.groups(tenantID: principal.tenantID), base: Self.origin(request))
    }

    /// A DELETE deactivates: the person's keys and sessions end, and the audit trail keeps who they were.
    func deactivateUser(_ principal: Principal, id: String, remote: String?) async throws -> JSONValue? {
        _ = try await person(id, principal)
        _ = try await store.updatePerson(id, tenantID: principal.tenantID, PersonChange(active: false), now: Date())
        try await record(
            principal, "person.update", id, "deactivated (deleted by the identity provider)", remote, surface: .scim)
        return nil
    }

    // MARK: - Groups

    func listGroups(_ request: Request, _ principal: Principal) async throws -> JSONValue {
        let (start, count) = try Self.page(request)
        var groups = try await store.groups(tenantID: principal.tenantID)
        if let text = request.uri.queryParameters.get("filter") {
            let filter = try SCIM.filter(String(text))
            groups = groups.filter { SCIM.matches(filter, group: $0) }
        }
        let names = try await personNames(principal.tenantID)
        let base = Self.origin(request)
        let excluded = request.uri.queryParameters.get("excludedAttributes")?.contains("members") == true
        let shown = groups.dropFirst(start - 1).prefix(count).map { group -> JSONValue in
            var value = SCIM.group(group, names: names, base: base)
            if excluded, case .object(var fields) = value {
                fields["members"] = nil
                value = .object(fields)
            }
            return value
        }
        return SCIM.list(Array(shown), total: groups.count, startIndex: start)
    }

    func getGroup(_ principal: Principal, id: String, _ request: Request) async throws -> JSONValue {
        guard let group = try await store.group(id, tenantID: principal.tenantID) else {
            throw SCIM.Failure(404, nil, "no group \(id)")
        }
        return SCIM.group(group, names: try await personNames(principal.tenantID), base: Self.origin(request))
    }

    func createGroup(_ request: Request, _ principal: Principal, remote: String?) async throws -> JSONValue {
        let body = try await json(request)
        guard let name = body["displayName"]?.stringValue, !name.isEmpty else {
            throw SCIM.Failure(400, "invalidValue", "a group needs a displayName")
        }
        var members: [String] = []
        if case .array(let list)? = body["members"] { members = list.compactMap { $0["value"]?.stringValue } }
        let group = try await store.createGroup(
            name: name, externalID: body["externalId"]?.stringValue, members: members, tenantID: principal.tenantID,
            now: Date())
        try await record(principal, "group.create", group.id, name, remote, surface: .scim)
        try await syncRoles(group.members, principal: principal, remote: remote)
        return SCIM.group(group, names: try await personNames(principal.tenantID), base: Self.origin(request))
    }

    func changeGroup(_ request: Request, _ principal: Principal, id: String, replace: Bool, remote: String?)
        async throws -> JSONValue
    {
        guard let before = try await store.group(id, tenantID: principal.tenantID) else {
            throw SCIM.Failure(404, nil, "no group \(id)")
        }
        let body = try await json(request)
        var name: String?
        var members = MembersChange()
        if replace {
            name = body["displayName"]?.stringValue
            var list: [String] = []
            if case .array(let items)? = body["members"] { list = items.compactMap { $0["value"]?.stringValue } }
            members = MembersChange(replace: list)
        } else {
            (name, members) = try SCIM.groupChange(try SCIM.operations(body))
        }
        guard
            let group = try await store.updateGroup(
                id, tenantID: principal.tenantID, name: name, externalID: body["externalId"]?.stringValue,
                members: members, now: Date())
        else { throw SCIM.Failure(404, nil, "no group \(id)") }
        let added = group.members.filter { !before.members.contains($0) }
        let removed = before.members.filter { !group.members.contains($0) }
        try await record(
            principal, "group.update", id,
            "\(group.name): \(added.count) added, \(removed.count) removed" + (name.map { " (name \($0))" } ?? ""),
            remote, surface: .scim)
        try await syncRoles(added + removed, principal: principal, remote: remote)
        return SCIM.group(group, names: try await personNames(principal.tenantID), base: Self.origin(request))
    }

    func deleteGroup(_ principal: Principal, id: String, remote: String?) async throws -> JSONValue? {
        guard let group = try await store.group(id, tenantID: principal.tenantID),
            try await store.deleteGroup(id, tenantID: principal.tenantID)
        else { throw SCIM.Failure(404, nil, "no group \(id)") }
        try await record(principal, "group.delete", id, group.name, remote, surface: .scim)
        try await syncRoles(group.members, principal: principal, remote: remote)
        return nil
    }

    func personNames(_ tenantID: String) async throws -> [String: String] {
        Dictionary(try await store.people(tenantID: tenantID).map { ($0.id, $0.email ?? $0.name) }) { first, _ in first
        }
    }

    /// The tenant's group-to-role mapping, if the operator configured one.
    func groupSettings(_ tenantID: String) async throws -> OIDCSettings? {
        for (name, settings) in groupRoles where try await store.tenant(named: name)?.id == tenantID {
            return settings
        }
        return nil
    }

    /// Gives each of `people` the role their groups give now (the default role, else viewer, when none does),
    /// recorded as SCIM's doing. Without a mapping for the tenant, roles are left as they are.
    func syncRoles(_ people: [String], principal: Principal, remote: String?) async throws {
        guard !people.isEmpty, let settings = try await groupSettings(principal.tenantID) else { return }
        let groups = try await store.groups(tenantID: principal.tenantID)
        for id in Set(people).sorted() {
            // Out of every mapped group (and no default role): the least role, never the one they had.
            let role =
                SignInRules.role(groups: groups.filter { $0.members.contains(id) }.map(\.name), settings: settings)
                ?? .viewer
            guard let person = try await store.person(id, tenantID: principal.tenantID), role != person.role else {
                continue
            }
            _ = try await store.updatePerson(id, tenantID: principal.tenantID, PersonChange(role: role), now: Date())
            try await record(principal, "person.update", id, "role \(role.rawValue) (groups)", remote, surface: .scim)
        }
    }
}
