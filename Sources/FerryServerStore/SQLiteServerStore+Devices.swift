import FerryCore
import Foundation
import GRDB

/// Device grants on SQLite: each step reads the grant, asks `DeviceGrantRules`, and writes what it answers, in one
/// write transaction.
extension SQLiteServerStore {
    public func createDeviceGrant(_ grant: DeviceGrant) async throws {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM device_grants WHERE expires_at < ?",
                arguments: [grant.createdAt.timeIntervalSince1970 - 3600])
            try db.execute(
                sql: """
                    INSERT INTO device_grants (device_code_hash, user_code, client, state, created_at, expires_at,
                        interval) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    grant.deviceCodeHash, grant.userCode, grant.client, grant.state.rawValue,
                    grant.createdAt.timeIntervalSince1970, grant.expiresAt.timeIntervalSince1970, grant.interval,
                ])
        }
    }

    public func deviceGrant(userCode: String) async throws -> DeviceGrant? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM device_grants WHERE user_code = ?", arguments: [userCode])
                .map(Self.deviceGrant)
        }
    }

    public func decideDeviceGrant(userCode: String, approve: Bool, tenantID: String, personID: String, now: Date)
        async throws -> DeviceGrant?
    {
        try await write { db in
            guard
                let grant = try Row.fetchOne(
                    db, sql: "SELECT * FROM device_grants WHERE user_code = ?", arguments: [userCode]
                ).map(Self.deviceGrant),
                let next = DeviceGrantRules.decide(
                    grant, approve: approve, tenantID: tenantID, personID: personID, now: now)
            else { return nil }
            try Self.store(db, next)
            return next
        }
    }

    public func pollDeviceGrant(deviceCodeHash: String, now: Date) async throws -> DeviceGrantRules.Poll? {
        try await write { db in
            guard
                let grant = try Row.fetchOne(
                    db, sql: "SELECT * FROM device_grants WHERE device_code_hash = ?", arguments: [deviceCodeHash]
                ).map(Self.deviceGrant)
            else { return nil }
            let (answer, next) = DeviceGrantRules.poll(grant, now: now)
            try Self.store(db, next)
            return answer
        }
    }

    static func store(_ db: Database, _ grant: DeviceGrant) throws {
        try db.execute(
            sql: """
                UPDATE device_grants SET state = ?, tenant_id = ?, person_id = ?, interval = ?, last_poll = ?
                WHERE device_code_hash = ?
                """,
            arguments: [
                grant.state.rawValue, grant.tenantID, grant.personID, grant.interval,
                grant.lastPoll?.timeIntervalSince1970, grant.deviceCodeHash,
            ])
    }

    static func deviceGrant(_ row: Row) -> DeviceGrant {
        DeviceGrant(
            deviceCodeHash: row["device_code_hash"], userCode: row["user_code"], client: row["client"],
            state: DeviceGrant.State(rawValue: row["state"]) ?? .denied, tenantID: row["tenant_id"],
            personID: row["person_id"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
            expiresAt: Date(timeIntervalSince1970: row["expires_at"]), interval: row["interval"],
            lastPoll: (row["last_poll"] as Double?).map { Date(timeIntervalSince1970: $0) })
    }
}
