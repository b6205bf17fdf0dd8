import FerryCore
import Foundation
import Logging
import PostgresNIO

/// Device grants on PostgreSQL: each step locks the grant's row, asks `DeviceGrantRules`, and writes what it
/// answers, so two polls (on two API servers) cannot both be issued a key.
extension PostgresServerStore {
    public func createDeviceGrant(_ grant: DeviceGrant) async throws {
        try await client.query(
            "DELETE FROM device_grants WHERE expires_at < \(grant.createdAt.timeIntervalSince1970 - 3600)")
        try await client.query(
            """
            INSERT INTO device_grants (device_code_hash, user_code, client, state, created_at, expires_at, interval)
            VALUES (\(grant.deviceCodeHash), \(grant.userCode), \(grant.client), \(grant.state.rawValue),
                \(grant.createdAt.timeIntervalSince1970), \(grant.expiresAt.timeIntervalSince1970), \(grant.interval))
            """)
    }

    public func deviceGrant(userCode: String) async throws -> DeviceGrant? {
        for try await row in try await client.query("SELECT * FROM device_grants WHERE user_code = \(userCode)") {
            return try Self.deviceGrant(row.makeRandomAccess())
        }
        return nil
    }

    public func decideDeviceGrant(userCode: String, approve: Bool, tenantID: String, personID: String, now: Date)
        async throws -> DeviceGrant?
    {
        try await client.withTransaction(logger: logger) { connection in
            var grant: DeviceGrant?
            for try await row in try await connection.query(
                "SELECT * FROM device_grants WHERE user_code = \(userCode) FOR UPDATE", logger: logger)
            {
                grant = try Self.deviceGrant(row.makeRandomAccess())
            }
            guard let grant,
                let next = DeviceGrantRules.decide(
                    grant, approve: approve, tenantID: tenantID, personID: personID, now: now)
            else { return nil }
            try await Self.store(connection, next, logger: logger)
            return next
        }
    }

    public func pollDeviceGrant(deviceCodeHash: String, now: Date) async throws -> DeviceGrantRules.Poll? {
        try await client.withTransaction(logger: logger) { connection in
            var grant: DeviceGrant?
            for try await row in try await connection.query(
                "SELECT * FROM device_grants WHERE device_code_hash = \(deviceCodeHash) FOR UPDATE", logger: logger)
            {
                grant = try Self.deviceGrant(row.makeRandomAccess())
            }
            guard let grant else { return nil }
            let (answer, next) = DeviceGrantRules.poll(grant, now: now)
            try await Self.store(connection, next, logger: logger)
            return answer
        }
    }

    static func store(_ connection: PostgresConnection, _ grant: DeviceGrant, logger: Logger) async throws {
        try await connection.query(
            """
            UPDATE device_grants SET state = \(grant.state.rawValue), tenant_id = \(grant.tenantID),
                person_id = \(grant.personID), interval = \(grant.interval),
                last_poll = \(grant.lastPoll?.timeIntervalSince1970)
            WHERE device_code_hash = \(grant.deviceCodeHash)
            """, logger: logger)
    }

    static func deviceGrant(_ r: PostgresRandomAccessRow) throws -> DeviceGrant {
        DeviceGrant(
            deviceCodeHash: try r["device_code_hash"].decode(String.self),
            userCode: try r["user_code"].decode(String.self), client: try r["client"].decode(String.self),
            state: DeviceGrant.State(rawValue: try r["state"].decode(String.self)) ?? .denied,
            tenantID: try r["tenant_id"].decode(String?.self), personID: try r["person_id"].decode(String?.self),
            createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)),
            expiresAt: Date(timeIntervalSince1970: try r["expires_at"].decode(Double.self)),
            interval: try r["interval"].decode(Double.self),
            lastPoll: try r["last_poll"].decode(Double?.self).map { Date(timeIntervalSince1970: $0) })
    }
}
