import FerryAgent
import FerryCore
import FerryServerStore
import Foundation

/// A person signed in through their tenant's identity provider: found (by the provider's subject, else by email for
/// someone an admin or SCIM added) or created, given the role their groups give now, and a session.
extension ServerAPI {
    package struct SignedIn: Sendable {
        package var principal: Principal
        package var person: Person
        package var token: String
    }

    package func signIn(
        _ identity: SignedInIdentity, provider: OIDCProvider, remote: String?, now: Date, lifetime: Double
    ) async throws -> SignedIn {
        guard let tenant = try await store.tenant(named: provider.tenant) else {
            throw SignInRefusal("the server has no tenant \(provider.tenant)")
        }
        guard let role = SignInRules.role(groups: identity.groups, settings: provider.settings) else {
            throw SignInRefusal(
                "your account is in no group that may use Ferry here; ask your administrator to add you to one")
        }
        var person = try await store.person(externalID: identity.subject, email: identity.email, tenantID: tenant.id)
        if let found = person, found.externalID != nil, found.externalID != identity.subject {
            // An email already tied to another identity at the provider is not taken over.
            throw SignInRefusal("\(identity.email ?? "this email") belongs to another account in this tenant")
        }
        let name = identity.name ?? identity.email ?? identity.subject
        if let found = person {
            guard found.active else { throw SignInRefusal("your account here is deactivated") }
            var change = PersonChange()
            if found.role != role { change.role = role }
            if found.externalID == nil { change.externalID = identity.subject }
            if let email = identity.email, email != found.email { change.email = email }
            if name != found.name { change.name = name }
            if change != PersonChange() {
                person = try await store.updatePerson(found.id, tenantID: tenant.id, change, now: now)
                let actor = Principal(tenantID: tenant.id, role: role, keyID: "signin", personID: found.id)
                try await record(actor, "person.update", found.id, Self.describe(change), remote, surface: .signin)
            }
        } else {
            let created = try await store.createPerson(
                NewPerson(
                    kind: .person, name: name, email: identity.email, externalID: identity.subject, role: role),
                tenantID: tenant.id, now: now)
            let actor = Principal(tenantID: tenant.id, role: role, keyID: "signin", personID: created.id)
            try await record(
                actor, "person.create", created.id, "first sign-in, role \(role.rawValue)", remote, surface: .signin)
            person = created
        }
        guard let person else { throw SignInRefusal("your account here was removed") }
        let (token, _) = try await store.createSession(
            personID: person.id, tenantID: tenant.id, now: now, lifetime: lifetime)
        guard let session = try await store.session(token, now: now) else {
            throw SignInRefusal("the session could not be made")
        }
        try await record(
            session.principal, "session.create", person.id,
            "signed in through \(provider.settings.issuer), role \(person.role.rawValue)", remote, surface: .signin)
        return SignedIn(principal: session.principal, person: person, token: token)
    }
}
