import Foundation

/// A device authorization (RFC 8628), as `ferry login` asks for one: the CLI holds the device code (only its hash is
/// stored), the person types or follows the user code in a signed-in browser and approves it, and the CLI's next
/// poll gets a personal key, once.
public struct DeviceGrant: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        case pending, approved, denied, used
    }

    public var deviceCodeHash: String
    public var userCode: String
    /// What asked, as the CLI named itself ("ferry login on laptop").
    public var client: String
    public var state: State
    public var tenantID: String?
    public var personID: String?
    public var createdAt: Date
    public var expiresAt: Date
    /// Seconds the CLI must wait between polls (raised by 5 each time it polls too soon).
    public var interval: Double
    public var lastPoll: Date?

    public init(
        deviceCodeHash: String, userCode: String, client: String, state: State = .pending, tenantID: String? = nil,
        personID: String? = nil, createdAt: Date, expiresAt: Date, interval: Double = 5, lastPoll: Date? = nil
    ) {
        self.deviceCodeHash = deviceCodeHash
        self.userCode = userCode
        self.client = client
        self.state = state
        self.tenantID = tenantID
        self.personID = personID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.interval = interval
        self.lastPoll = lastPoll
    }
}

/// The device flow's rules, pure (RFC 8628 3.4–3.5): what a poll answers and what it leaves stored, and whether an
/// approval or a denial may still be given.
public enum DeviceGrantRules {
    public enum Poll: Sendable, Hashable {
        case pending, slowDown, expired, denied
        /// Approved: a key is issued now for this person of this tenant; the grant is used up.
        case issue(tenantID: String, personID: String)
    }

    /// Eight letters from an alphabet without look-alikes or vowels (RFC 8628 6.1), shown as `BCDF-GHJK`.
    public static let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ")

    public static func newUserCode() -> String {
        let letters = (0..<8).map { _ in String(alphabet.randomElement()!) }
        return letters[0..<4].joined() + "-" + letters[4..<8].joined()
    }

    /// A typed code as stored: upper case, the dash put back, anything else dropped.
    public static func normalised(_ typed: String) -> String {
        let letters = typed.uppercased().filter { alphabet.contains($0) }
        guard letters.count == 8 else { return String(letters) }
        return String(letters.prefix(4)) + "-" + String(letters.suffix(4))
    }

    public static func poll(_ grant: DeviceGrant, now: Date) -> (answer: Poll, stored: DeviceGrant) {
        var next = grant
        next.lastPoll = now
        if grant.state == .used || now >= grant.expiresAt { return (.expired, next) }
        switch grant.state {
        case .denied:
            return (.denied, next)
        case .approved:
            guard let tenant = grant.tenantID, let person = grant.personID else { return (.denied, next) }
            next.state = .used
            return (.issue(tenantID: tenant, personID: person), next)
        default:
            if let last = grant.lastPoll, now.timeIntervalSince(last) < grant.interval {
                next.interval = grant.interval + 5
                return (.slowDown, next)
            }
            return (.pending, next)
        }
    }

    /// The grant after a signed-in person's decision; nil when it can no longer be decided (expired or decided).
    public static func decide(_ grant: DeviceGrant, approve: Bool, tenantID: String, personID: String, now: Date)
        -> DeviceGrant?
    {
        guard grant.state == .pending, now < grant.expiresAt else { return nil }
        var next = grant
        next.state = approve ? .approved : .denied
        next.tenantID = tenantID
        next.personID = personID
        return next
    }
}

/// Device grants, kept where every API server of the team reads them (the browser and the CLI may reach different
/// ones).
public protocol DeviceGrantStore: Sendable {
    func createDeviceGrant(_ grant: DeviceGrant) async throws
    /// The grant by its user code, for the approval page.
    func deviceGrant(userCode: String) async throws -> DeviceGrant?
    /// Applies `DeviceGrantRules.decide` in one transaction; the grant as stored, nil when it could not be decided.
    func decideDeviceGrant(userCode: String, approve: Bool, tenantID: String, personID: String, now: Date)
        async throws -> DeviceGrant?
    /// Applies `DeviceGrantRules.poll` in one transaction (so two polls cannot both be issued a key); nil for an
    /// unknown device code.
    func pollDeviceGrant(deviceCodeHash: String, now: Date) async throws -> DeviceGrantRules.Poll?
}
