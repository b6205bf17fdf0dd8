import Foundation

/// Whether an account is a person (signed in through the identity provider, or made by an admin) or a service
/// account (a script's, a CI job's).
public enum AccountKind: String, Codable, Sendable, CaseIterable {
    case person, service
}

/// Someone a tenant's keys and sessions belong to: a person or a service account. Deactivating one revokes its keys
/// and ends its sessions at once (reactivating gives none back); its role caps what any of its keys may do.
public struct Person: Codable, Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var kind: AccountKind
    public var name: String
    /// A person's address (unique in the tenant); nil for most service accounts.
    public var email: String?
    /// The identity provider's id for the person (the token's `sub`, SCIM's `externalId`).
    public var externalID: String?
    public var role: Role
    public var active: Bool
    public var createdAt: Date
    public var deactivatedAt: Date?

    public init(
        id: String, tenantID: String, kind: AccountKind, name: String, email: String?, externalID: String?, role: Role,
        active: Bool, createdAt: Date, deactivatedAt: Date?
    ) {
        self.id = id
        self.tenantID = tenantID
        self.kind = kind
        self.name = name
        self.email = email
        self.externalID = externalID
        self.role = role
        self.active = active
        self.createdAt = createdAt
        self.deactivatedAt = deactivatedAt
    }

    /// The service account every tenant has from its creation: it owns the keys made without an owner (the
    /// bootstrap admin key, and every key made before people existed).
    public static func builtInID(tenantID: String) -> String { "svc_" + tenantID }
}

/// A new person or service account.
public struct NewPerson: Sendable, Hashable {
    public var kind: AccountKind
    public var name: String
    public var email: String?
    public var externalID: String?
    public var role: Role

    public init(kind: AccountKind, name: String, email: String? = nil, externalID: String? = nil, role: Role) {
        self.kind = kind
        self.name = name
        self.email = email
        self.externalID = externalID
        self.role = role
    }
}

/// What an admin (or the identity provider, through SCIM or a sign-in) changes on a person; nil leaves a field.
public struct PersonChange: Sendable, Hashable {
    public var name: String?
    public var email: String?
    public var externalID: String?
    public var role: Role?
    public var active: Bool?

    public init(
        name: String? = nil, email: String? = nil, externalID: String? = nil, role: Role? = nil, active: Bool? = nil
    ) {
        self.name = name
        self.email = email
        self.externalID = externalID
        self.role = role
        self.active = active
    }

    /// The person after the change, at `now`: deactivation stamps the time, reactivation clears it.
    public func applied(to person: Person, now: Date) -> Person {
        var next = person
        if let name { next.name = name }
        if let email { next.email = email.isEmpty ? nil : email }
        if let externalID { next.externalID = externalID.isEmpty ? nil : externalID }
        if let role { next.role = role }
        if let active, active != person.active {
            next.active = active
            next.deactivatedAt = active ? nil : now
        }
        return next
    }
}

/// A new API key: its role, its owner (nil: the tenant's built-in service account), a name and an expiry.
public struct NewKey: Sendable, Hashable {
    public var role: Role
    public var ownerID: String?
    public var name: String
    public var expiresAt: Date?

    public init(role: Role, ownerID: String? = nil, name: String = "", expiresAt: Date? = nil) {
        self.role = role
        self.ownerID = ownerID
        self.name = name
        self.expiresAt = expiresAt
    }
}

/// The people of a tenant.
public protocol PeopleStore: Sendable {
    /// A new person or service account; a person's email already in the tenant is a `FerryError(.usage)`.
    func createPerson(_ new: NewPerson, tenantID: String, now: Date) async throws -> Person
    /// A tenant's person or service account; nil for another tenant's.
    func person(_ id: String, tenantID: String) async throws -> Person?
    /// The tenant's person with this identity provider id, else with this email (case-insensitive).
    func person(externalID: String?, email: String?, tenantID: String) async throws -> Person?
    /// The tenant's people and service accounts, the built-in one first, then by creation.
    func people(tenantID: String) async throws -> [Person]
    /// Applies `change` (see `PersonChange.applied`); nil when there is no such person in the tenant.
    func updatePerson(_ id: String, tenantID: String, _ change: PersonChange, now: Date) async throws -> Person?
}

extension Role {
    /// Viewer, member, admin: each may do what the ones before it may.
    public var rank: Int {
        switch self {
        case .viewer: 0
        case .member: 1
        case .admin: 2
        }
    }

    /// What a key of this role may do when its owner has `owner`'s role: never more than its owner.
    public func capped(by owner: Role) -> Role { owner.rank < rank ? owner : self }
}

/// Whether a key (or a session) still works at `now`, and as what: the one rule both stores apply when they
/// authenticate (in SQL, with the same terms) and the tests check alone.
public enum KeyRules {
    /// nil when the key is revoked or expired or its owner is deactivated; else the role it acts with.
    public static func effectiveRole(
        key role: Role, revokedAt: Date?, expiresAt: Date?, owner: Role, ownerActive: Bool, now: Date
    ) -> Role? {
        guard revokedAt == nil, ownerActive, expiresAt.map({ $0 > now }) ?? true else { return nil }
        return role.capped(by: owner)
    }

    /// A rotated key's successor lives as long as the key did (from now); the old key keeps working for `grace`
    /// seconds (at most until its own expiry), so the scripts that use it can be moved over.
    public static func rotation(createdAt: Date, expiresAt: Date?, grace: Double, now: Date) -> (
        newExpiry: Date?, oldExpiry: Date
    ) {
        let lifetime = expiresAt.map { $0.timeIntervalSince(createdAt) }
        let graceEnd = now.addingTimeInterval(max(0, grace))
        return (lifetime.map { now.addingTimeInterval($0) }, min(expiresAt ?? graceEnd, graceEnd))
    }
}

/// A group of a tenant's people, as the identity provider keeps it (SCIM `/Groups`); its name maps to a role through
/// the tenant's `[server.oidc.TENANT]` groups.
public struct PersonGroup: Sendable, Hashable {
    public var id: String
    public var tenantID: String
    public var name: String
    public var externalID: String?
    public var members: [String]
    public var createdAt: Date

    public init(id: String, tenantID: String, name: String, externalID: String?, members: [String], createdAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.externalID = externalID
        self.members = members
        self.createdAt = createdAt
    }
}

/// How a group's members change: all replaced, or some added and some removed.
public struct MembersChange: Sendable, Hashable {
    public var replace: [String]?
    public var add: [String]
    public var remove: [String]

    public init(replace: [String]? = nil, add: [String] = [], remove: [String] = []) {
        self.replace = replace
        self.add = add
        self.remove = remove
    }

    /// The members after the change, in a stable order, without repeats.
    public func applied(to members: [String]) -> [String] {
        var result = replace ?? members
        for id in add where !result.contains(id) { result.append(id) }
        result.removeAll { remove.contains($0) }
        return result
    }
}

/// Groups of people.
public protocol GroupStore: Sendable {
    /// A new group; a name already in the tenant is a `FerryError(.usage)`.
    func createGroup(name: String, externalID: String?, members: [String], tenantID: String, now: Date) async throws
        -> PersonGroup
    func groups(tenantID: String) async throws -> [PersonGroup]
    func group(_ id: String, tenantID: String) async throws -> PersonGroup?
    /// Renames and changes members (ids of the tenant's people; others are ignored); nil when there is no such group.
    func updateGroup(
        _ id: String, tenantID: String, name: String?, externalID: String?, members: MembersChange, now: Date
    ) async throws -> PersonGroup?
    func deleteGroup(_ id: String, tenantID: String) async throws -> Bool
}
