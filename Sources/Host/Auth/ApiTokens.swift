import Foundation

/// Bearer API tokens with scopes. Only a SHA-256 of each token is stored; the token itself
/// is shown once, when it is created.
///
/// Scopes are words like `admin`, `export`, `query`, `dataflow`, or narrower ones such as
/// `query:dataset/42`; a scope ending in `*` grants everything it is a prefix of, and
/// `admin` grants everything.
public struct ApiTokens: Sendable {
    public typealias Token = ApiToken

    let store: any TokenRepository

    public init(store: any TokenRepository) { self.store = store }

    /// A scope is a lower-case word, optionally `:` and a resource (letters, digits, `-_/.*`).
    static func isValidScope(_ scope: String) -> Bool {
        let parts = scope.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let word = parts.first, let first = word.first, first.isLetter, first.isLowercase,
            word.allSatisfy({ ($0.isLowercase && $0.isLetter) || $0.isNumber || "_-*".contains($0) })
        else { return false }
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
        let token = Token(id: id, name: name, scopes: scopes, createdAt: created, revokedAt: nil)
        try store.insertToken(token, hash: Self.hash(secret))
        return (token, secret)
    }

    /// The active token whose secret this is, if any.
    public func authenticate(_ secret: String) throws -> Token? {
        let hash = Self.hash(secret)
        guard let (token, stored) = try store.token(hash: hash), Crypto.constantTimeEquals(stored, hash) else { return nil }
        return token.revokedAt == nil ? token : nil
    }

    public func list() throws -> [Token] {
        try store.tokens()
    }

    /// Returns false when no active token has that id.
    @discardableResult
    public func revoke(id: String) throws -> Bool {
        try store.revokeToken(id: id, at: store.clock.now)
    }

    static func hash(_ secret: String) -> [UInt8] {
        // Tokens are hex; accept them in either case.
        Crypto.sha256(Array(secret.uppercased().utf8))
    }
}
