import Foundation

/// Bearer API tokens with scopes. Only a SHA-256 of each token is stored; the token itself
/// is shown once, when it is created.
///
/// Scopes are words like `admin`, `export`, `query`, `dataflow`, or narrower ones such as
/// `query:dataset/42`; a scope ending in `*` grants everything it is a prefix of, and
/// `admin` grants everything.
public struct ApiTokens: Sendable {
    public struct Token: Sendable, Equatable {
        public let id: String
        public let name: String
        public let scopes: [String]
        public let createdAt: Date
        public let revokedAt: Date?

        /// Scopes follow their separators: a bare word grants its family (`query` grants
        /// `query:dataset/sales`), a resource grants what lies below it after a `/`
        /// (`query:dataset` grants `query:dataset/sales`), and nothing grants a longer id
        /// (`query:dataset/sales` does not grant `query:dataset/sales:private`). A trailing
        /// `*` grants every scope it is a prefix of.
        public func allows(_ scope: String) -> Bool {
            scopes.contains { granted in
                if granted == "admin" || granted == scope { return true }
                if granted.hasSuffix("*") { return scope.hasPrefix(granted.dropLast()) }
                if !granted.contains(":") { return scope.hasPrefix(granted + ":") }
                return scope.hasPrefix(granted + "/")
            }
        }
    }

    let store: Store

    public init(store: Store) { self.store = store }

    /// A scope is a lower-case word, optionally `:` and a resource (letters, digits, `-_/.*`).
    static func isValidScope(_ scope: String) -> Bool {
        let parts = scope.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let word = parts.first, let first = word.first, first.isLetter, first.isLowercase,
            word.allSatisfy({ ($0.isLowercase && $0.isLetter) || $0.isNumber || "_-*".contains($0) }) else { return false }
        guard parts.count == 2 else { return true }
        return !parts[1].isEmpty && parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_/.*".contains($0)) }
    }

    /// Creates a token; returns it with its plaintext secret, which is not kept.
    public func create(name: String, scopes: [String]) throws -> (token: Token, secret: String) {
        guard !scopes.isEmpty else { throw InvalidInput("give at least one scope") }
        for scope in scopes where !Self.isValidScope(scope) {
            throw InvalidInput("invalid scope '\(scope)': use a word like admin, export, query or query:dataset/ID")
        }
        let secret = Crypto.hex(Crypto.randomBytes(32), uppercase: true)
        let id = "tok_" + Crypto.hex(Crypto.randomBytes(6))
        let created = store.clock.now
        try store.withConnection { db in
            try db.run("INSERT INTO api_tokens (id, name, token_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
                       [.text(id), .text(name), .blob(Self.hash(secret)), .text(scopes.joined(separator: " ")),
                        .int(Int64(created.timeIntervalSince1970))])
        }
        return (Token(id: id, name: name, scopes: scopes, createdAt: created, revokedAt: nil), secret)
    }

    /// The active token whose secret this is, if any.
    public func authenticate(_ secret: String) throws -> Token? {
        let hash = Self.hash(secret)
        let rows = try store.withConnection { db in
            try db.query("SELECT id, name, scopes, created_at, revoked_at, token_hash FROM api_tokens WHERE token_hash = ?", [.blob(hash)])
        }
        guard let row = rows.first, Crypto.constantTimeEquals(row[5].blob ?? [], hash) else { return nil }
        let token = Self.token(from: row)
        return token.revokedAt == nil ? token : nil
    }

    public func list() throws -> [Token] {
        try store.withConnection { db in
            try db.query("SELECT id, name, scopes, created_at, revoked_at FROM api_tokens ORDER BY created_at, id")
        }.map(Self.token)
    }

    /// Returns false when no active token has that id.
    @discardableResult
    public func revoke(id: String) throws -> Bool {
        try store.withConnection { db in
            try db.run("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                       [.int(Int64(store.clock.now.timeIntervalSince1970)), .text(id)])
            return db.changes > 0
        }
    }

    static func hash(_ secret: String) -> [UInt8] {
        // Tokens are hex; accept them in either case.
        Crypto.sha256(Array(secret.uppercased().utf8))
    }

    private static func token(from row: [SQLValue]) -> Token {
        Token(id: row[0].text ?? "", name: row[1].text ?? "",
              scopes: (row[2].text ?? "").split(separator: " ").map(String.init),
              createdAt: Date(timeIntervalSince1970: TimeInterval(row[3].int ?? 0)),
              revokedAt: row[4].int.map { Date(timeIntervalSince1970: TimeInterval($0)) })
    }
}
