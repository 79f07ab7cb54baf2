import Foundation

/// Bearer tokens (their hashes) and the seed-000 tokens already used.
extension SQLStore: TokenRepository {
    public func insertToken(_ token: ApiToken, hash: [UInt8]) throws {
        try withConnection { db in
            try db.run(
                "INSERT INTO api_tokens (id, name, token_hash, scopes, created_at, claims) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(token.id), .text(token.name), .blob(hash), .text(token.scopes.joined(separator: " ")),
                    .int(Int64(token.createdAt.timeIntervalSince1970)), .text(try Self.claimsText(token.claims)),
                ])
        }
    }

    public func token(hash: [UInt8]) throws -> (token: ApiToken, hash: [UInt8])? {
        let rows = try withConnection { db in
            try db.query("SELECT id, name, scopes, created_at, revoked_at, claims, token_hash FROM api_tokens WHERE token_hash = ?", [.blob(hash)])
        }
        return rows.first.map { (Self.token(from: $0), $0[6].blob ?? []) }
    }

    public func tokens() throws -> [ApiToken] {
        try withConnection { db in
            try db.query("SELECT id, name, scopes, created_at, revoked_at, claims FROM api_tokens ORDER BY created_at, id")
        }.map(Self.token)
    }

    public func revokeToken(id: String, at time: Date) throws -> Bool {
        try withConnection { db in
            try db.run(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                [.int(Int64(time.timeIntervalSince1970)), .text(id)]) > 0
        }
    }

    public func recordSignedToken(hash: [UInt8], expiresAtMillis: Int64, nowMillis: Int64) throws -> Bool {
        try withConnection { db in
            try db.run("DELETE FROM used_signed_tokens WHERE expires_at < ?", [.int(nowMillis)])
            // The primary key decides, on one gateway or several sharing the store.
            return try db.run(
                "INSERT INTO used_signed_tokens (token_hash, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [.blob(hash), .int(expiresAtMillis)]) > 0
        }
    }

    private static func token(from row: [SQLValue]) -> ApiToken {
        ApiToken(
            id: row[0].text ?? "", name: row[1].text ?? "",
            scopes: (row[2].text ?? "").split(separator: " ").map(String.init),
            claims: claims(fromText: row[5].text ?? "{}"),
            createdAt: Date(timeIntervalSince1970: TimeInterval(row[3].int ?? 0)),
            revokedAt: row[4].int.map { Date(timeIntervalSince1970: TimeInterval($0)) })
    }

    private static func claimsText(_ claims: [String: [String]]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(claims), as: UTF8.self)
    }

    /// The stored claims; a row the gateway did not write as JSON reads as none.
    private static func claims(fromText text: String) -> [String: [String]] {
        (try? JSONDecoder().decode([String: [String]].self, from: Data(text.utf8))) ?? [:]
    }
}
