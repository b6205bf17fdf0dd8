import FerryCore
import FerryServerStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// People and service accounts, their keys, and the audit trail.
extension ServerAPI {
    // MARK: - People

    func whoAmI(_ request: Request, _ principal: Principal) async throws -> Response {
        let person = try await principal.personID.asyncFlatMap {
            try await store.person($0, tenantID: principal.tenantID)
        }
        return try Self.respond(
            .ok,
            WhoAmIResource(
                tenant: principal.tenantID, key: principal.keyID, role: principal.role.rawValue,
                person: person.map(PersonResource.init)))
    }

    func listPeople(_ request: Request, _ principal: Principal) async throws -> Response {
        try Self.respond(
            .ok, ResourceList(try await store.people(tenantID: principal.tenantID).map(PersonResource.init)))
    }

    func createPerson(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        let new = try NewPersonRequest(try await json(request)).person
        let person = try await Self.asConflict {
            try await store.createPerson(new, tenantID: principal.tenantID, now: Date())
        }
        try await record(
            principal, "\(person.kind.rawValue).create", person.id, "\(person.name), role \(person.role.rawValue)",
            remote)
        return try Self.respond(.created, PersonResource(person))
    }

    func getPerson(_ request: Request, _ principal: Principal, id: String) async throws -> Response {
        guard let person = try await store.person(id, tenantID: principal.tenantID) else {
            throw Problem(.notFound, "no person or service account \(id)")
        }
        return try Self.respond(.ok, PersonResource(person))
    }

    func updatePerson(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws
        -> Response
    {
        let change = try PersonChangeRequest(try await json(request)).change
        guard try await store.person(id, tenantID: principal.tenantID) != nil else {
            throw Problem(.notFound, "no person or service account \(id)")
        }
        // The built-in account owns the bootstrap key: it can be renamed, not locked out or demoted.
        if id == Person.builtInID(tenantID: principal.tenantID), change.active == false || change.role != nil {
            throw Problem(.conflict, "the built-in service account cannot be deactivated or given another role")
        }
        if id == principal.personID, change.active == false || (change.role.map { $0 != .admin } ?? false) {
            throw Problem(.conflict, "an admin cannot deactivate or demote themselves; ask another admin")
        }
        guard
            let person = try await Self.asConflict({
                try await store.updatePerson(id, tenantID: principal.tenantID, change, now: Date())
            })
        else { throw Problem(.notFound, "no person or service account \(id)") }
        try await record(principal, "person.update", id, Self.describe(change), remote)
        return try Self.respond(.ok, PersonResource(person))
    }

    static func describe(_ change: PersonChange) -> String {
        var parts: [String] = []
        if let active = change.active { parts.append(active ? "reactivated" : "deactivated") }
        if let role = change.role { parts.append("role \(role.rawValue)") }
        if let name = change.name { parts.append("name \(name)") }
        if let email = change.email { parts.append("email \(email)") }
        if let external = change.externalID { parts.append("external id \(external)") }
        return parts.joined(separator: ", ")
    }

    /// A store's refusal of a duplicate (an email or external id already in the tenant) is the client's conflict.
    static func asConflict<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as FerryError where error.code == .usage {
            throw Problem(.conflict, error.message)
        }
    }

    func listGroups(_ request: Request, _ principal: Principal) async throws -> Response {
        try Self.respond(
            .ok, ResourceList(try await store.groups(tenantID: principal.tenantID).map(GroupResource.init)))
    }

    // MARK: - Keys

    func listKeys(_ request: Request, _ principal: Principal) async throws -> Response {
        try Self.respond(.ok, ResourceList(try await store.keys(tenantID: principal.tenantID).map(KeyResource.init)))
    }

    func createKey(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        let asked = try NewKeyRequest(try await json(request))
        if let owner = asked.owner {
            guard let person = try await store.person(owner, tenantID: principal.tenantID) else {
                throw Problem(.notFound, "no person or service account \(owner)")
            }
            guard person.active else { throw Problem(.conflict, "\(owner) is deactivated") }
        }
        let now = Date()
        let new = NewKey(
            role: asked.role, ownerID: asked.owner, name: asked.name,
            expiresAt: asked.expiresInDays.map { now.addingTimeInterval(Double($0) * 86_400) })
        let (id, key) = try await store.createKey(new, tenantID: principal.tenantID, now: now)
        let owner = asked.owner ?? Person.builtInID(tenantID: principal.tenantID)
        try await record(principal, "key.create", id, "role \(asked.role.rawValue), owner \(owner)", remote)
        // The key itself is shown this once; only its hash is kept.
        return try Self.respond(
            .created,
            NewKeyResource(
                APIKeyInfo(
                    id: id, role: asked.role, createdAt: now, revokedAt: nil, ownerID: owner, name: asked.name,
                    expiresAt: new.expiresAt), key: key))
    }

    func revokeKey(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws -> Response {
        guard try await store.revokeKey(id: id, tenantID: principal.tenantID, now: Date()) else {
            throw Problem(.notFound, "no live key \(id)")
        }
        try await record(principal, "key.revoke", id, "", remote)
        return Response(status: .noContent)
    }

    func rotateKey(_ request: Request, _ principal: Principal, id: String, remote: String?) async throws -> Response {
        let grace = try RotateKeyRequest(try await json(request)).graceSeconds
        guard
            let (newID, key) = try await store.rotateKey(
                id: id, tenantID: principal.tenantID, grace: Double(grace), now: Date())
        else { throw Problem(.notFound, "no live key \(id)") }
        try await record(principal, "key.rotate", id, "successor \(newID), old key ends in \(grace) s", remote)
        guard let info = try await store.keys(tenantID: principal.tenantID).first(where: { $0.id == newID }) else {
            throw Problem(.internalServerError, "the rotated key was not stored")
        }
        return try Self.respond(.created, NewKeyResource(info, key: key))
    }

    // MARK: - The audit trail

    /// Appends an action to the tenant's audit chain: who (the principal's person and key), through which surface,
    /// what, on which object, from where.
    package func record(
        _ principal: Principal, _ action: String, _ object: String, _ detail: String, _ remote: String?,
        surface: Surface = .api
    ) async throws {
        try await store.audit(
            AuditEntry(principal, surface, action: action, object: object, detail: detail, remote: remote, at: Date()))
    }

    func auditLog(_ request: Request, _ principal: Principal) async throws -> Response {
        let query = request.uri.queryParameters
        let limit = try Self.limit(request, default: 100, max: 1000)
        var filter = AuditFilter(
            action: query.get("action"), personID: query.get("person"), object: query.get("object"),
            since: try Self.date(query.get("since"), "since"), until: try Self.date(query.get("until"), "until"),
            before: try Self.sequence(query.get("cursor"), "cursor"))
        if let surface = query.get("surface") {
            guard let value = Surface(rawValue: surface) else {
                throw Problem(
                    .badRequest,
                    "\"surface\" must be one of \(Surface.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.surface = value
        }
        let entries = try await store.auditLog(tenantID: principal.tenantID, filter: filter, limit: limit)
        let next = entries.count == limit ? entries.last.map { String($0.seq) } : nil
        return try Self.respond(.ok, ResourceList(entries.map(AuditResource.init), nextCursor: next))
    }

    /// The chain in order as JSON lines, each the entry's canonical form (`AuditChain.canonical`) with its
    /// `prev_hash` and `hash`, from the entry after `after`; `Ferry-Audit-Next` is the cursor for the next page
    /// (absent at the end). Anyone with the lines can check them (`ferry audit verify --file`).
    func auditExport(_ request: Request, _ principal: Principal) async throws -> Response {
        let after = try Self.sequence(request.uri.queryParameters.get("after"), "after") ?? 0
        let limit = try Self.limit(request, default: 1000, max: 10_000)
        let entries = try await store.auditChain(tenantID: principal.tenantID, after: after, limit: limit)
        var headers: HTTPFields = [.contentType: "application/x-ndjson"]
        if entries.count == limit, let last = entries.last {
            headers[HTTPField.Name("Ferry-Audit-Next")!] = String(last.seq)
        }
        let text = entries.map { AuditLine.line($0) + "\n" }.joined()
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Checks the tenant's whole chain as stored: from its start (the genesis, or where retention cut it) to the
    /// head the store keeps.
    func auditCheck(_ request: Request, _ principal: Principal) async throws -> Response {
        let report = try await Self.checkChain(store, tenantID: principal.tenantID)
        return try Self.respond(.ok, AuditCheckResource(report.report, start: report.start))
    }

    /// `PUT /v1/audit/sink {"url", "from_start"?}`: the tenant's entries are pushed there from now (or from the
    /// chain's start), signed with a secret shown this once.
    func putAuditSink(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        let body = try await json(request)
        guard let url = try Self.string(body, "url"), url.count <= 2048, url.wholeMatch(of: Self.webhookURL) != nil
        else { throw Problem(.badRequest, "\"url\" must be an http or https URL (http://host[:port][/path])") }
        var fromStart = false
        if let value = body["from_start"], value != .null {
            guard case .bool(let flag) = value else {
                throw Problem(.badRequest, "\"from_start\" must be true or false")
            }
            fromStart = flag
        }
        do {
            _ = try await policy.egress.check(url: url)
        } catch let refusal as EgressPolicy.Refusal {
            throw Problem(.unprocessableContent, "\"url\": \(refusal.description)")
        }
        guard let secrets else { throw Problem(.conflict, "this server has no key to seal the sink's secret with") }
        let secret = Webhooks.newSecret()
        // Recorded first: a sink from the start carries its own setting in its first push.
        try await record(principal, "audit.sink.set", principal.tenantID, Self.redactedURL(url), remote)
        try await store.setAuditSink(
            tenantID: principal.tenantID, url: url, secret: try secrets.seal(secret), fromStart: fromStart)
        return Self.respond(
            .ok, ["url": .string(url), "secret": .string(secret), "from_start": .bool(fromStart)])
    }

    func getAuditSink(_ request: Request, _ principal: Principal) async throws -> Response {
        guard let sink = try await store.auditSinks().first(where: { $0.tenantID == principal.tenantID }) else {
            throw Problem(.notFound, "no audit sink is set")
        }
        let head = try await store.auditHead(tenantID: principal.tenantID)
        return Self.respond(
            .ok,
            [
                "url": .string(sink.url), "delivered_through": .number(Double(sink.after)),
                "pending": .number(Double(max(0, head.seq - sink.after))), "failures": .number(Double(sink.failures)),
                "last_error": sink.lastError.map { .string($0) } ?? .null,
            ])
    }

    func deleteAuditSink(_ request: Request, _ principal: Principal, remote: String?) async throws -> Response {
        guard try await store.auditSinks().contains(where: { $0.tenantID == principal.tenantID }) else {
            throw Problem(.notFound, "no audit sink is set")
        }
        try await store.setAuditSink(tenantID: principal.tenantID, url: nil, secret: nil, fromStart: false)
        try await record(principal, "audit.sink.remove", principal.tenantID, "", remote)
        return Response(status: .noContent)
    }

    /// Reads a tenant's chain page by page and checks it against its head.
    package static func checkChain(_ store: any AuditStore, tenantID: String) async throws -> (
        report: AuditChain.Report, start: Int
    ) {
        let head = try await store.auditHead(tenantID: tenantID)
        var entries: [AuditEntry] = []
        var after = head.startSeq
        while true {
            // A page by seq; an entry stored with a seq at or below the start still shows (as out of order).
            let page = try await store.auditChain(tenantID: tenantID, after: entries.isEmpty ? -1 : after, limit: 5000)
            entries += page
            guard page.count == 5000, let last = page.last else { break }
            after = last.seq
        }
        let report = AuditChain.verify(
            entries, from: (head.startSeq, head.startHash), head: (head.seq, head.hash))
        return (report, head.startSeq)
    }

    static func date(_ text: String?, _ name: String) throws -> Date? {
        guard let text else { return nil }
        guard let date = ISO8601DateFormatter().date(from: text) else {
            throw Problem(.badRequest, "\"\(name)\" must be a time like 2026-12-01T00:00:00Z")
        }
        return date
    }

    static func sequence(_ text: String?, _ name: String) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw Problem(.badRequest, "\"\(name)\" must be a whole number (an entry's seq)")
        }
        return value
    }
}

/// The audit trail's export lines: the canonical form with the two hashes, and back.
package enum AuditLine {
    package static func line(_ entry: AuditEntry) -> String {
        var text = AuditChain.canonical(entry)
        text.removeLast()
        return text + ",\"hash\":\"\(entry.hash)\",\"prev_hash\":\"\(entry.prevHash)\"}"
    }

    struct Line: Decodable {
        var action, detail, key, object, surface, tenant, hash, prevHash: String
        var atMicros: Int64
        var person, remote: String?
        var seq: Int

        enum CodingKeys: String, CodingKey {
            case action, detail, key, object, surface, tenant, hash, person, remote, seq
            case prevHash = "prev_hash"
            case atMicros = "at_us"
        }
    }

    package static func entry(_ line: some StringProtocol) throws -> AuditEntry {
        let value = try JSONDecoder().decode(Line.self, from: Data(line.utf8))
        guard let surface = Surface(rawValue: value.surface) else {
            throw FerryError(.usage, "unknown surface \(value.surface) in entry \(value.seq)")
        }
        return AuditEntry(
            tenantID: value.tenant, keyID: value.key, personID: value.person, surface: surface, action: value.action,
            object: value.object, detail: value.detail, remote: value.remote,
            at: Date(timeIntervalSince1970: Double(value.atMicros) / 1_000_000), seq: value.seq,
            prevHash: value.prevHash, hash: value.hash)
    }
}

extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
