import ArgumentParser
import AsyncHTTPClient
import FerryCore
import Foundation
import NIOCore

/// The keys `ferry login` got, by server: `credentials.json` in Ferry's config folder, readable by its owner only.
struct Credentials: Codable {
    struct Entry: Codable {
        var key: String
        var keyID: String
        var person: String
        var role: String
        var expiresAt: Date
    }

    var servers: [String: Entry] = [:]

    static func path(_ environment: [String: String]) -> String {
        FerryPaths.config(environment: environment) + "/credentials.json"
    }

    static func load(_ environment: [String: String]) -> Credentials {
        guard let data = FileManager.default.contents(atPath: path(environment)) else { return Credentials() }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return (try? decoder.decode(Credentials.self, from: data)) ?? Credentials()
    }

    func save(_ environment: [String: String]) throws {
        let path = Self.path(environment)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        FileManager.default.createFile(
            atPath: path, contents: try encoder.encode(self), attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    static func server(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    /// The key for `--server`: `$envName` when set, else the one `ferry login` got, while it lasts; a usage error that
    /// says how to get one otherwise.
    static func serverKey(for server: String, envName: String, environment: [String: String]) throws -> String {
        guard
            let key = environment[envName].flatMap({ $0.isEmpty ? nil : $0 })
                ?? Self.key(for: server, environment: environment)
        else {
            throw FerryError(
                .usage,
                "--server needs an API key. Fix: ferry login --server \(server), or export \(envName)=… (a member key of the server)"
            )
        }
        return key
    }

    /// The key `ferry login` got for `server`, while it lasts.
    static func key(for server: String, environment: [String: String]) -> String? {
        load(environment).servers[Self.server(server)].flatMap { $0.expiresAt > Date() ? $0.key : nil }
    }
}

/// `ferry login --server URL`: signs the command line in to a team server through the browser (the device
/// authorization grant, RFC 8628): no key is copied by hand.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in to a team server through your browser; the CLI gets a personal key.",
        discussion: """
            Prints a link and a code; open the link, sign in (through your company's identity provider) and allow \
            the code. The key (your role, 90 days) is kept in credentials.json in Ferry's config folder and used by \
            ferry chat --server.
            """)
    @Option(help: "The team server's URL.") var server: String
    @Option(help: "How this machine is named on the approval page.") var name: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let base = Credentials.server(server)
        let label = name ?? "ferry login on \(ProcessInfo.processInfo.hostName)"
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let entry = try await Self.login(http, base: base, label: label)
            try await http.shutdown()
            var credentials = Credentials.load(environment)
            credentials.servers[base] = entry
            try credentials.save(environment)
            print(
                "Signed in to \(base) as \(entry.person) (\(entry.role)); the key is in \(Credentials.path(environment)) "
                    + "until \(ISO8601DateFormatter().string(from: entry.expiresAt)).")
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    static func post(_ http: HTTPClient, _ url: String, _ form: [(String, String)]) async throws -> (Int, JSONValue) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        request.body = .bytes(
            ByteBuffer(
                string: form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }
                    .joined(separator: "&")))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(30))
        } catch {
            throw FerryError(.usage, "the team server at \(url) did not answer: \(error)")
        }
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard let value = JSONValue.parse(text) else {
            throw FerryError(.usage, "the team server at \(url) answered \(response.status.code) without JSON")
        }
        return (Int(response.status.code), value)
    }

    static func login(_ http: HTTPClient, base: String, label: String) async throws -> Credentials.Entry {
        let (status, code) = try await post(
            http, base + "/oauth/device/code", [("client_id", "ferry-cli"), ("name", label)])
        guard status == 200, let deviceCode = code["device_code"]?.stringValue,
            let userCode = code["user_code"]?.stringValue, let page = code["verification_uri"]?.stringValue
        else {
            throw FerryError(.usage, "the team server refused to start a sign-in: \(code.jsonString)")
        }
        var interval = code["interval"]?.doubleValue ?? 5
        let deadline = Date().addingTimeInterval(code["expires_in"]?.doubleValue ?? 600)
        print("To sign in, open \(code["verification_uri_complete"]?.stringValue ?? page)")
        print("and check that it shows the code \(userCode). Waiting…")
        fflush(nil)
        while Date() < deadline {
            try await Task.sleep(for: .seconds(interval))
            let (status, answer) = try await post(
                http, base + "/oauth/device/token",
                [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", deviceCode),
                    ("client_id", "ferry-cli"),
                ])
            if status == 200, let key = answer["access_token"]?.stringValue {
                return Credentials.Entry(
                    key: key, keyID: answer["key_id"]?.stringValue ?? "", person: answer["person"]?.stringValue ?? "",
                    role: answer["role"]?.stringValue ?? "",
                    expiresAt: Date().addingTimeInterval(answer["expires_in"]?.doubleValue ?? 0))
            }
            switch answer["error"]?.stringValue {
            case "authorization_pending": continue
            case "slow_down": interval += 5
            case "access_denied": throw FerryError(.usage, "the sign-in was refused in the browser")
            case "expired_token": throw FerryError(.usage, "the code expired; run ferry login again")
            default: throw FerryError(.usage, "the team server refused the sign-in: \(answer.jsonString)")
            }
        }
        throw FerryError(.usage, "the code expired before it was allowed; run ferry login again")
    }
}
