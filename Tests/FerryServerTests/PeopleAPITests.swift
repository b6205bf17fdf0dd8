import AsyncHTTPClient
import FerryCore
import FerryTesting
import Foundation
import NIOHTTP1
import Testing

@testable import FerryServer
@testable import FerryServerStore

/// People, keys and the audit trail through the API and the dashboard, over real HTTP on both stores.
@Suite struct PeopleAPITests {
    @Test(arguments: QueueTests.Kind.allCases)
    func anAdminManagesPeopleAndADeactivationStopsTheirKeyAndSessionAtOnce(kind: QueueTests.Kind) async throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-people-\(UUID().uuidString.prefix(8))"
        ).path
        try await ServerAPITests.withServer(kind, data: data) { server in
            let admin = try #require(try await server.bootstrap())
            try await server.serving { port in
                let client = ServerAPITests.Client(port: port)
                let base = "http://127.0.0.1:\(port)"
                let me = try await client.send(.GET, "/v1/me", key: admin)
                let tenant = try #require(me.json["tenant"]?.stringValue)
                #expect(me.status == 200 && me.json["role"] == "admin")
                #expect(me.json["person"]?["id"]?.stringValue == Person.builtInID(tenantID: tenant))

                // A person, with a key of their own, capped at their role.
                let created = try await client.send(
                    .POST, "/v1/people", key: admin,
                    body: ["name": "Grace", "email": "grace@example.com", "role": "member"])
                #expect(created.status == 201, "\(created.body)")
                let grace = try #require(created.json["id"]?.stringValue)
                let duplicate = try await client.send(
                    .POST, "/v1/people", key: admin,
                    body: ["name": "G", "email": "GRACE@example.com", "role": "viewer"])
                #expect(
                    duplicate.status == 409 && duplicate.body.contains("already has the email"), "\(duplicate.body)")
                let noEmail = try await client.send(
                    .POST, "/v1/people", key: admin, body: ["name": "X", "role": "viewer"])
                #expect(noEmail.status == 400 && noEmail.body.contains("needs an \\\"email\\\""), "\(noEmail.body)")
                let made = try await client.send(
                    .POST, "/v1/keys", key: admin,
                    body: ["role": "admin", "owner": .string(grace), "name": "laptop", "expires_in_days": 30])
                #expect(made.status == 201 && made.json["owner"]?.stringValue == grace, "\(made.body)")
                #expect(made.json["expires_at"]?.stringValue?.isEmpty == false)
                let graceKey = try #require(made.json["key"]?.stringValue)
                let graceMe = try await client.send(.GET, "/v1/me", key: graceKey)
                #expect(graceMe.json["role"] == "member" && graceMe.json["person"]?["email"] == "grace@example.com")
                #expect(try await client.send(.GET, "/v1/people", key: graceKey).status == 403, "not an admin")
                let task = try await client.send(.POST, "/v1/keys", key: graceKey, body: ["role": "viewer"])
                #expect(task.status == 403, "a member's key cannot make keys even when asked for as admin")

                // Grace signs in to the dashboard with her key.
                let login = try await DashboardTests.send(.POST, base + "/login", form: "key=\(graceKey)")
                let cookie = String(try #require(login.cookie).split(separator: ";")[0])
                #expect(try await DashboardTests.send(.GET, base + "/tasks", cookie: cookie).status == 200)

                // Deactivated: her key and her session fail on the very next request.
                let off = try await client.send(.PATCH, "/v1/people/\(grace)", key: admin, body: ["active": false])
                #expect(off.status == 200 && off.json["active"] == false && off.json["deactivated_at"] != .null)
                // No cache stands between: the very next requests are refused.
                #expect(try await client.send(.GET, "/v1/me", key: graceKey).status == 401)
                let page = try await DashboardTests.send(.GET, base + "/tasks", cookie: cookie)
                #expect(page.status == 303 && page.location?.hasPrefix("/login") == true)
                #expect(
                    try await client.send(.PATCH, "/v1/people/\(grace)", key: admin, body: ["active": true]).status
                        == 200)
                #expect(try await client.send(.GET, "/v1/me", key: graceKey).status == 401, "revoked for good")

                // The built-in account and the caller cannot be locked out.
                let builtIn = Person.builtInID(tenantID: tenant)
                let lockout = try await client.send(
                    .PATCH, "/v1/people/\(builtIn)", key: admin, body: ["active": false])
                #expect(lockout.status == 409)
                let unknown = try await client.send(.PATCH, "/v1/people/\(grace)", key: admin, body: ["admin": true])
                #expect(unknown.status == 400 && unknown.body.contains("cannot be changed"))

                // Rotation: the successor works at once, the old key ends with its grace (none here).
                let service = try await client.send(
                    .POST, "/v1/people", key: admin, body: ["kind": "service", "name": "ci", "role": "member"])
                let ci = try #require(service.json["id"]?.stringValue)
                #expect(service.json["email"] == .null && ci.hasPrefix("svc_"))
                let ciKey = try await client.send(
                    .POST, "/v1/keys", key: admin, body: ["role": "member", "owner": .string(ci)])
                let oldID = try #require(ciKey.json["id"]?.stringValue)
                let oldKey = try #require(ciKey.json["key"]?.stringValue)
                let rotated = try await client.send(.POST, "/v1/keys/\(oldID)/rotate", key: admin, body: [:])
                #expect(rotated.status == 201 && rotated.json["owner"]?.stringValue == ci, "\(rotated.body)")
                let newKey = try #require(rotated.json["key"]?.stringValue)
                #expect(try await client.send(.GET, "/v1/me", key: newKey).status == 200)
                #expect(try await client.send(.GET, "/v1/me", key: oldKey).status == 401)

                // The audit trail: who, through which surface, in one chain that checks out and exports.
                let audit = try await client.send(.GET, "/v1/audit?limit=100", key: admin)
                let entries = audit.json["data"].flatMap(\.items) ?? []
                #expect(audit.status == 200 && entries.count >= 7)
                let signIn = entries.first { $0["action"] == "session.create" }
                #expect(signIn?["person"]?.stringValue == grace && signIn?["surface"] == "dashboard")
                #expect(entries.contains { $0["action"] == "person.update" && $0["detail"] == "deactivated" })
                #expect(entries.contains { $0["action"] == "key.rotate" && $0["object"]?.stringValue == oldID })
                let keyActions = try await client.send(.GET, "/v1/audit?action=key.&surface=api", key: admin)
                let keyEntries = keyActions.json["data"].flatMap(\.items) ?? []
                #expect(
                    keyEntries.count == 3
                        && keyEntries.allSatisfy { $0["action"]?.stringValue?.hasPrefix("key.") == true },
                    "\(keyActions.body)")
                let check = try await client.send(.GET, "/v1/audit/check", key: admin)
                #expect(check.json["intact"] == true && check.json["breaks"] == [], "\(check.body)")
                let export = try await client.send(.GET, "/v1/audit/export?limit=3", key: admin)
                #expect(export.contentType == "application/x-ndjson")
                var lines = export.body.split(separator: "\n").map(String.init)
                var after = lines.count
                while after > 0 {
                    let next = try await client.send(.GET, "/v1/audit/export?limit=3&after=\(after)", key: admin)
                    let more = next.body.split(separator: "\n").map(String.init)
                    lines += more
                    after = more.isEmpty ? 0 : after + more.count
                }
                let exported = try lines.map { try AuditLine.entry($0) }
                #expect(exported.map(\.seq) == Array(1...exported.count))
                #expect(AuditChain.verify(exported).intact && exported.count == entries.count)
                #expect(exported.last?.hash == check.json["last_hash"]?.stringValue)
                // An edited line of the export no longer checks.
                var edited = exported
                edited[1].detail = "nothing"
                #expect(!AuditChain.verify(edited).intact)
                // Another tenant's admin sees none of it.
                let other = try await server.store.createTenant(name: "other")
                let outsider = try await server.store.createKey(tenantID: other.id, role: .admin).key
                #expect(try await client.send(.GET, "/v1/people/\(grace)", key: outsider).status == 404)
                #expect(try await client.send(.GET, "/v1/audit", key: outsider).json["data"] == [])
            }
        }
    }
}

extension JSONValue {
    /// A list's items; nil for anything else.
    var items: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }
}
