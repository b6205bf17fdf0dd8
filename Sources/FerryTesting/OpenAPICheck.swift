import FerryCore
import Foundation

/// A published API description (OpenAPI 3.0, JSON), read to hold a stand-in to it: which operation a request is,
/// whether a body is what an operation's schema says (types, required properties, enums, nullability, `$ref`,
/// `allOf`/`anyOf`/`oneOf`), and the smallest answer its schema allows, filled in with what a test sets.
public struct OpenAPIDescription: Sendable {
    public let root: JSONValue

    public init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file),
            let root = JSONValue.parse(String(decoding: data, as: UTF8.self))
        else { throw FerryError(.config, "\(file) is not a JSON API description") }
        self.root = root
    }

    /// The repository's copy of a forge's description (`Tests/Fixtures/forge/NAME`).
    public static func fixture(_ name: String) throws -> OpenAPIDescription {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        return try OpenAPIDescription(file: root + "/Tests/Fixtures/forge/" + name)
    }

    /// The operation for a method and a concrete path (no query), with its template.
    public func operation(method: String, path: String) -> (template: String, operation: JSONValue)? {
        guard case .object(let paths)? = root["paths"] else { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for (template, item) in paths {
            let pattern = template.split(separator: "/", omittingEmptySubsequences: false)
            guard pattern.count == parts.count else { continue }
            let matches = zip(pattern, parts).allSatisfy { p, q in
                (p.hasPrefix("{") && p.hasSuffix("}") && !q.isEmpty) || p == q
            }
            if matches, let operation = item[method.lowercased()] { return (template, operation) }
        }
        return nil
    }

    public func resolve(_ node: JSONValue) -> JSONValue {
        var node = node
        var hops = 0
        while let ref = node["$ref"]?.stringValue, ref.hasPrefix("#/"), hops < 20 {
            var target = root
            for part in ref.dropFirst(2).split(separator: "/") { target = target[String(part)] ?? .null }
            node = target
            hops += 1
        }
        return node
    }

    public func requestSchema(_ operation: JSONValue) -> JSONValue? {
        resolve(operation["requestBody"] ?? .null)["content"]?["application/json"]?["schema"]
    }

    /// The schema of an answer with `status` (nil: the status is not one the operation documents; `.null`: it is,
    /// without a body).
    public func responseSchema(_ operation: JSONValue, status: Int) -> JSONValue? {
        guard let response = operation["responses"]?[String(status)] ?? operation["responses"]?["default"] else {
            return nil
        }
        return resolve(response)["content"]?["application/json"]?["schema"] ?? .null
    }

    /// Every way `value` breaks `schema`, each with where (`$.head.ref`).
    public func violations(_ value: JSONValue, _ schema: JSONValue, at place: String = "$") -> [String] {
        let schema = resolve(schema)
        if value == .null, schema["nullable"]?.boolValue == true { return [] }
        var found: [String] = []
        if case .array(let all)? = schema["allOf"] {
            for part in all { found += violations(value, part, at: place) }
        }
        for key in ["anyOf", "oneOf"] {
            if case .array(let options)? = schema[key], !options.contains(where: { violations(value, $0).isEmpty }) {
                found.append("\(place): matches none of \(key)")
            }
        }
        if value == .null {
            let nullable = schema["nullable"]?.boolValue == true || schema["type"] == nil
            return nullable
                ? found : found + ["\(place): null where \(schema["type"]?.stringValue ?? "a value") is due"]
        }
        if case .array(let allowed)? = schema["enum"], !allowed.contains(value) {
            found.append("\(place): \(value.jsonString) is not one of \(JSONValue.array(allowed).jsonString)")
        }
        switch (schema["type"]?.stringValue, value) {
        case (nil, _), ("string", .string), ("boolean", .bool), ("number", .number):
            break
        case ("integer", .number(let number)):
            if number != number.rounded() { found.append("\(place): \(number) is not an integer") }
        case ("array", .array(let items)):
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() {
                    found += violations(item, itemSchema, at: "\(place)[\(index)]")
                }
            }
        case ("object", .object(let fields)):
            if case .array(let required)? = schema["required"] {
                for name in required.compactMap(\.stringValue) where fields[name] == nil {
                    found.append("\(place).\(name) is required")
                }
            }
            for (name, field) in fields {
                if let property = schema["properties"]?[name] {
                    found += violations(field, property, at: "\(place).\(name)")
                }
            }
        case (let type?, _):
            found.append("\(place): \(value.jsonString.prefix(60)) is not \(type)")
        }
        return found
    }

    /// The smallest value the schema allows (required properties only, nullable ones null), merged with `fill`.
    public func example(_ schema: JSONValue, fill: JSONValue = .null, depth: Int = 0) -> JSONValue {
        let schema = resolve(schema)
        if case .array(let all)? = schema["allOf"] {
            var merged = JSONValue.object([:])
            for part in all { merged = Self.merge(merged, example(part, depth: depth + 1)) }
            return Self.merge(merged, fill)
        }
        if let options = schema["anyOf"] ?? schema["oneOf"], case .array(let list) = options, let first = list.first {
            return fill == .null ? example(first, depth: depth + 1) : fill
        }
        if case .array(let allowed)? = schema["enum"], let first = allowed.first, fill == .null { return first }
        switch schema["type"]?.stringValue {
        case "object":
            var fields: [String: JSONValue] = [:]
            if case .array(let required)? = schema["required"] {
                for name in required.compactMap(\.stringValue) {
                    let property = resolve(schema["properties"]?[name] ?? .null)
                    let given = fill[name] ?? .null
                    fields[name] =
                        given == .null && (property["nullable"]?.boolValue == true || depth > 6)
                        ? .null : example(property, fill: given, depth: depth + 1)
                }
            }
            return Self.merge(.object(fields), fill)
        case "array":
            return fill == .null ? .array([]) : fill
        default:
            if fill != .null { return fill }
            switch schema["type"]?.stringValue {
            case "integer", "number": return .number(1)
            case "boolean": return .bool(false)
            case "string":
                switch schema["format"]?.stringValue {
                case "date-time": return "2026-01-01T00:00:00Z"
                case "uri": return "https://forge.invalid/x"
                default: return "x"
                }
            default: return .null
            }
        }
    }

    /// `b`'s fields over `a`'s, object by object.
    static func merge(_ a: JSONValue, _ b: JSONValue) -> JSONValue {
        guard case .object(var left) = a, case .object(let right) = b else { return b == .null ? a : b }
        for (key, value) in right { left[key] = merge(left[key] ?? .null, value) }
        return .object(left)
    }
}
