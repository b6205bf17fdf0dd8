import FerryCore
import FerryServerStore
import Foundation

/// SCIM 2.0 (RFC 7643/7644) as identity providers send it, pure: the resources Ferry shows, the filters it
/// answers, and how a PATCH's operations change a person or a group. Okta's and Entra ID's shapes differ (Entra
/// capitalises `op`, sends booleans as "True"/"False", removes members with a value list; Okta replaces with a value
/// object and removes members by a filtered path); both are read here.
public enum SCIM {
    public static let userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
    public static let groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    public static let listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    public static let patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    public static let errorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

    /// A SCIM error: its status and `scimType` (RFC 7644 3.12).
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var status: Int
        public var scimType: String?
        public var detail: String
        public var description: String { detail }

        public init(_ status: Int, _ scimType: String?, _ detail: String) {
            self.status = status
            self.scimType = scimType
            self.detail = detail
        }
    }

    static func time(_ date: Date) -> JSONValue { .string(ISO8601DateFormatter().string(from: date)) }

    public static func user(_ person: Person, groups: [PersonGroup], base: String) -> JSONValue {
        var object: [String: JSONValue] = [
            "schemas": [.string(userSchema)], "id": .string(person.id),
            "userName": .string(person.email ?? person.name), "displayName": .string(person.name),
            "name": ["formatted": .string(person.name)], "active": .bool(person.active),
            "groups": .array(
                groups.filter { $0.members.contains(person.id) }.map {
                    ["value": .string($0.id), "display": .string($0.name)]
                }),
            "meta": [
                "resourceType": "User", "created": time(person.createdAt),
                "lastModified": time(person.deactivatedAt ?? person.createdAt),
                "location": .string(base + "/scim/v2/Users/" + person.id),
            ],
        ]
        if let email = person.email {
            object["emails"] = [["value": .string(email), "type": "work", "primary": true]]
        }
        if let external = person.externalID { object["externalId"] = .string(external) }
        return .object(object)
    }

    public static func group(_ group: PersonGroup, names: [String: String], base: String) -> JSONValue {
        var object: [String: JSONValue] = [
            "schemas": [.string(groupSchema)], "id": .string(group.id), "displayName": .string(group.name),
            "members": .array(
                group.members.map { ["value": .string($0), "display": .string(names[$0] ?? $0), "type": "User"] }),
            "meta": [
                "resourceType": "Group", "created": time(group.createdAt), "lastModified": time(group.createdAt),
                "location": .string(base + "/scim/v2/Groups/" + group.id),
            ],
        ]
        if let external = group.externalID { object["externalId"] = .string(external) }
        return .object(object)
    }

    public static func list(_ resources: [JSONValue], total: Int, startIndex: Int) -> JSONValue {
        [
            "schemas": [.string(listSchema)], "totalResults": .number(Double(total)),
            "startIndex": .number(Double(startIndex)), "itemsPerPage": .number(Double(resources.count)),
            "Resources": .array(resources),
        ]
    }

    // MARK: - Filters

    /// `attribute eq "value"`: the one form identity providers send to find a user or a group (RFC 7644 3.4.2.2).
    public struct Filter: Equatable {
        /// Lower-cased: `username`, `externalid`, `emails.value`, `displayname`, `id`.
        public var attribute: String
        public var value: String
    }

    public static func filter(_ text: String) throws(Failure) -> Filter {
        guard
            let match = text.firstMatch(
                of: #/^\s*([A-Za-z.]+(?:\[[^\]]*\])?(?:\.[A-Za-z]+)?)\s+(?i:eq)\s+"((?:[^"\\]|\\.)*)"\s*$/#)
        else { throw Failure(400, "invalidFilter", "only `attribute eq \"value\"` filters are supported") }
        var attribute = String(match.output.1).lowercased()
        // emails[type eq "work"].value reads as emails.value.
        if attribute.hasPrefix("emails[") { attribute = "emails.value" }
        if attribute.hasPrefix("urn:ietf:params:scim:schemas:core:2.0:user:") {
            attribute = String(attribute.dropFirst("urn:ietf:params:scim:schemas:core:2.0:user:".count))
        }
        guard ["username", "externalid", "emails.value", "emails", "displayname", "id"].contains(attribute) else {
            throw Failure(400, "invalidFilter", "cannot filter on \(match.output.1)")
        }
        let value = String(match.output.2).replacingOccurrences(of: "\\\"", with: "\"")
            .replacingOccurrences(of: "\\\\", with: "\\")
        return Filter(attribute: attribute == "emails" ? "emails.value" : attribute, value: value)
    }

    public static func matches(_ filter: Filter, person: Person) -> Bool {
        switch filter.attribute {
        case "username", "emails.value": person.email?.lowercased() == filter.value.lowercased()
        case "externalid": person.externalID == filter.value
        case "displayname": person.name == filter.value
        default: person.id == filter.value
        }
    }

    public static func matches(_ filter: Filter, group: PersonGroup) -> Bool {
        switch filter.attribute {
        case "displayname": group.name == filter.value
        case "externalid": group.externalID == filter.value
        default: group.id == filter.value
        }
    }

    // MARK: - Users

    /// A user resource as POST and PUT send it: its name, email (the `userName`, or the primary email), external id
    /// and whether it is active.
    public struct UserFields: Equatable {
        public var name: String
        public var email: String
        public var externalID: String?
        public var active: Bool
    }

    public static func userFields(_ body: JSONValue) throws(Failure) -> UserFields {
        let emails: [JSONValue]
        if case .array(let list)? = body["emails"] { emails = list } else { emails = [] }
        let primary = emails.first { $0["primary"]?.boolValue == true } ?? emails.first
        guard let email = body["userName"]?.stringValue ?? primary?["value"]?.stringValue, !email.isEmpty else {
            throw Failure(400, "invalidValue", "a user needs a userName")
        }
        let given = body["name"]?["givenName"]?.stringValue
        let family = body["name"]?["familyName"]?.stringValue
        let joined = [given, family].compactMap { $0 }.joined(separator: " ")
        let name =
            body["displayName"]?.stringValue ?? body["name"]?["formatted"]?.stringValue
            ?? (joined.isEmpty ? email : joined)
        return UserFields(
            name: name, email: email, externalID: body["externalId"]?.stringValue,
            active: try boolean(body["active"]) ?? true)
    }

    /// A boolean as identity providers send it: `true`, or Entra's `"True"`.
    static func boolean(_ value: JSONValue?) throws(Failure) -> Bool? {
        switch value {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        case .string(let text)? where ["true", "false"].contains(text.lowercased()): return text.lowercased() == "true"
        default: throw Failure(400, "invalidValue", "active must be true or false")
        }
    }

    /// One operation of a PATCH request.
    public struct Operation: Equatable {
        public var op: String
        public var path: String?
        public var value: JSONValue?
    }

    public static func operations(_ body: JSONValue) throws(Failure) -> [Operation] {
        guard case .array(let list)? = body["Operations"] ?? body["operations"], !list.isEmpty else {
            throw Failure(400, "invalidSyntax", "a PATCH needs Operations")
        }
        var result: [Operation] = []
        for item in list {
            guard let op = item["op"]?.stringValue?.lowercased(), ["add", "replace", "remove"].contains(op) else {
                throw Failure(400, "invalidSyntax", "each operation's op is add, replace or remove")
            }
            result.append(Operation(op: op, path: item["path"]?.stringValue, value: item["value"]))
        }
        return result
    }

    /// What a user PATCH changes. Attributes Ferry does not keep (phone numbers, titles…) are accepted and ignored,
    /// as identity providers send many.
    public static func userChange(_ operations: [Operation]) throws(Failure) -> PersonChange {
        var change = PersonChange()
        func apply(_ path: String, _ value: JSONValue?) throws(Failure) {
            switch path.lowercased() {
            case "active": change.active = try boolean(value)
            case "username": change.email = value?.stringValue
            case "displayname", "name.formatted": change.name = value?.stringValue
            case "externalid": change.externalID = value?.stringValue
            case let email where email.hasPrefix("emails"):
                if case .array(let list)? = value {
                    change.email =
                        (list.first { $0["primary"]?.boolValue == true } ?? list.first)?["value"]?.stringValue
                } else if let text = value?.stringValue {
                    change.email = text
                }
            default: break
            }
        }
        for operation in operations where operation.op != "remove" {
            if let path = operation.path {
                try apply(path, operation.value)
            } else if case .object(let fields)? = operation.value {
                for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                    if key == "name", case .object(let parts) = value {
                        let joined = [parts["givenName"]?.stringValue, parts["familyName"]?.stringValue]
                            .compactMap { $0 }.joined(separator: " ")
                        if let formatted = parts["formatted"]?.stringValue ?? (joined.isEmpty ? nil : joined) {
                            change.name = formatted
                        }
                    } else {
                        try apply(key, value)
                    }
                }
            }
        }
        return change
    }

    // MARK: - Groups

    /// What a group PATCH changes: its name, and its members.
    public static func groupChange(_ operations: [Operation]) throws(Failure) -> (name: String?, members: MembersChange)
    {
        var name: String?
        var members = MembersChange()
        func ids(_ value: JSONValue?) -> [String] {
            if case .array(let list)? = value { return list.compactMap { $0["value"]?.stringValue } }
            return []
        }
        for operation in operations {
            let path = operation.path?.lowercased()
            switch (operation.op, path) {
            case ("replace", "displayname"?), ("add", "displayname"?):
                name = operation.value?.stringValue
            case ("replace", nil), ("add", nil):
                if let newName = operation.value?["displayName"]?.stringValue { name = newName }
                if operation.value?["members"] != nil {
                    let list = ids(operation.value?["members"])
                    members = operation.op == "replace" ? MembersChange(replace: list) : MembersChange(add: list)
                }
            case ("add", "members"?):
                members.add += ids(operation.value)
            case ("replace", "members"?):
                members = MembersChange(replace: ids(operation.value))
            case ("remove", "members"?):
                // Entra: a value list; without one, every member goes.
                let list = ids(operation.value)
                if list.isEmpty && operation.value == nil {
                    members = MembersChange(replace: [])
                } else {
                    members.remove += list
                }
            case ("remove", let filtered?) where filtered.hasPrefix("members["):
                // Okta: members[value eq "id"].
                guard let id = operation.path?.firstMatch(of: #/value\s+(?i:eq)\s+"([^"]+)"/#)?.output.1 else {
                    throw Failure(400, "invalidPath", "cannot read the member in \(operation.path ?? "")")
                }
                members.remove.append(String(id))
            default:
                throw Failure(400, "invalidPath", "cannot \(operation.op) \(operation.path ?? "the group")")
            }
        }
        return (name, members)
    }
}
