import FerryCore
import Foundation
import GRDB

/// One turn of a `ferry chat` conversation: a question, an answer (with what it cost), or a command and its outcome.
public struct ChatTurn: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "chat_turns"
    public var chatID: String
    public var seq: Int
    /// `user`, `assistant` or `command`.
    public var role: String
    public var content: String
    public var inputTokens: Int
    public var outputTokens: Int
    public var costUSD: Double
    /// The run a `/run` started.
    public var runID: String?
    public var at: Date

    public init(
        chatID: String, seq: Int = 0, role: String, content: String, inputTokens: Int = 0, outputTokens: Int = 0,
        costUSD: Double = 0,
        runID: String? = nil, at: Date = Date()
    ) {
        self.chatID = chatID
        self.seq = seq
        self.role = role
        self.content = content
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costUSD = costUSD
        self.runID = runID
        self.at = at
    }
}

public struct ChatInfo: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "chats"
    public var id: String
    public var repo: String
    public var createdAt: Date
}

/// `ferry chat`'s conversations, kept so a session can be resumed (`ferry chat --resume`): `chats.sqlite` beside the
/// run store. Every turn is written as it happens, so a killed session loses nothing said before.
public final class ChatStore: Sendable {
    let pool: DatabasePool

    public init(path: String) throws {
        pool = try SQLiteRunStore.openPool(path: path, migrator: Self.migrator, what: "the chat store")
    }

    /// Next to a run store's file.
    public static func path(besideRunStore storePath: String) -> String {
        (storePath as NSString).deletingLastPathComponent + "/chats.sqlite"
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("chat v1") { db in
            try db.create(table: "chats") { t in
                t.primaryKey("id", .text)
                t.column("repo", .text).notNull().indexed()
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "chat_turns") { t in
                t.column("chatID", .text).notNull().references("chats", onDelete: .cascade)
                t.column("seq", .integer).notNull()
                t.column("role", .text).notNull()
                t.column("content", .text).notNull()
                t.column("inputTokens", .integer).notNull()
                t.column("outputTokens", .integer).notNull()
                t.column("costUSD", .double).notNull()
                t.column("runID", .text)
                t.column("at", .datetime).notNull()
                t.primaryKey(["chatID", "seq"])
            }
        }
        return migrator
    }

    public func create(repo: String) async throws -> ChatInfo {
        let chat = ChatInfo(id: "chat-" + UUID().uuidString.lowercased().prefix(8), repo: repo, createdAt: Date())
        try await pool.write { db in try chat.insert(db) }
        return chat
    }

    /// The newest chat of a repository, or the one whose id starts with `prefix`.
    public func find(repo: String, prefix: String?) async throws -> ChatInfo? {
        try await pool.read { db in
            if let prefix {
                return try ChatInfo.filter(Column("id").like(prefix + "%")).order(Column("createdAt").desc).fetchOne(db)
            }
            return try ChatInfo.filter(Column("repo") == repo).order(Column("createdAt").desc).fetchOne(db)
        }
    }

    /// Appends a turn; its `seq` is the next of the chat's.
    @discardableResult
    public func append(_ turn: ChatTurn) async throws -> ChatTurn {
        try await pool.write { db in
            var turn = turn
            turn.seq =
                (try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM chat_turns WHERE chatID = ?", arguments: [turn.chatID])
                    ?? 0) + 1
            try turn.insert(db)
            return turn
        }
    }

    public func turns(of chatID: String) async throws -> [ChatTurn] {
        try await pool.read { db in try ChatTurn.filter(Column("chatID") == chatID).order(Column("seq")).fetchAll(db) }
    }
}
