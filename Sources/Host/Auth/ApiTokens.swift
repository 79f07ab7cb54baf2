import Foundation
import Synchronization

/// Bearer API tokens with scopes. Only a SHA-256 of each token is stored; the token itself
/// is shown once, when it is created.
///
/// Scopes are words like `admin`, `export`, `query`, `dataflow`, or narrower ones such as
/// `query:dataset/42`; a scope ending in `*` grants everything it is a prefix of, and
/// `admin` grants everything.
public struct ApiTokens: Sendable {
    public typealias Token = ApiToken

    let store: any TokenRepository
    /// Tokens recently authenticated, so that a request does not wait on the store (a
    /// blocking call, on the threads that serve HTTP) for a token it saw a moment ago.
    private let recent = RecentTokens()

    public init(store: any TokenRepository) { self.store = store }

    /// Creates a token; returns it with its plaintext secret, which is not kept.
    public func create(name: String, scopes: [String], claims: [String: [String]] = [:]) throws -> (token: Token, secret: String) {
        guard !scopes.isEmpty else { throw InvalidInput("give at least one scope") }
        for scope in scopes where !Scopes.isValid(scope) {
            throw InvalidInput("invalid scope '\(scope)': use a word like admin, export, query or query:dataset/ID")
        }
        try Self.checkClaims(claims)
        let secret = Crypto.hex(Crypto.randomBytes(32), uppercase: true)
        let id = "tok_" + Crypto.hex(Crypto.randomBytes(6))
        let created = store.clock.now
        let token = Token(id: id, name: name, scopes: scopes, claims: claims, createdAt: created, revokedAt: nil)
        try store.insertToken(token, hash: Self.hash(secret))
        return (token, secret)
    }

    /// The active token whose secret this is, if any.
    /// Served from memory for `RecentTokens.lifetime` after the store last said so: a token
    /// revoked here stops at once; one revoked by another process (`gateway tokens revoke`
    /// while the server runs, another gateway on a shared store) within that time.
    public func authenticate(_ secret: String) throws -> Token? {
        let hash = Self.hash(secret)
        if let known = recent[hash] { return known }
        guard let (token, stored) = try store.token(hash: hash), Crypto.constantTimeEquals(stored, hash) else { return nil }
        guard token.revokedAt == nil else { return nil }
        recent[hash] = token
        return token
    }

    /// The token if `authenticate` confirmed it a moment ago: no store call.
    func recentlySeen(_ secret: String) -> Token? { recent[Self.hash(secret)] }

    public func list() throws -> [Token] {
        try store.tokens()
    }

    /// Returns false when no active token has that id.
    @discardableResult
    public func revoke(id: String) throws -> Bool {
        let revoked = try store.revokeToken(id: id, at: store.clock.now)
        recent.forget(id: id)
        return revoked
    }

    /// Claims a token may carry: at most 100, named like `region` or `org.id`, each with 1 to
    /// 100 values of at most 1,000 characters.
    static func checkClaims(_ claims: [String: [String]]) throws {
        guard claims.count <= 100 else { throw InvalidInput("a token carries at most 100 claims (\(claims.count) given)") }
        for (name, values) in claims.sorted(by: { $0.key < $1.key }) {
            guard (1...100).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-.:".contains($0)) }) else {
                throw InvalidInput("invalid claim name '\(name.prefix(100))': use letters, digits and _-.: (like region or org.id)")
            }
            guard (1...100).contains(values.count), values.allSatisfy({ $0.unicodeScalars.count <= 1_000 }) else {
                throw InvalidInput("claim '\(name)' takes 1 to 100 values of at most 1000 characters")
            }
        }
    }

    /// `name=value` pairs (the command line's `--claim`): a name given again adds a value.
    public static func claims(fromPairs pairs: [String]) throws -> [String: [String]] {
        var claims: [String: [String]] = [:]
        for pair in pairs {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw InvalidInput("a claim is name=value, like region=east (not '\(pair)')")
            }
            claims[String(pair[..<eq]), default: []].append(String(pair[pair.index(after: eq)...]))
        }
        try checkClaims(claims)
        return claims
    }

    static func hash(_ secret: String) -> [UInt8] {
        // Tokens are hex; accept them in either case.
        Crypto.sha256(Array(secret.uppercased().utf8))
    }
}

/// Active tokens by hash, each for a few seconds after the store confirmed it. Only tokens
/// that exist are kept (an unknown secret is never remembered, so guessing cannot fill it),
/// and at most `capacity` of them.
final class RecentTokens: Sendable {
    static let lifetime: Duration = .seconds(5)
    static let capacity = 10_000
    private let entries = Mutex<[[UInt8]: (token: ApiToken, until: ContinuousClock.Instant)]>([:])

    subscript(hash: [UInt8]) -> ApiToken? {
        get {
            entries.withLock { all in
                guard let entry = all[hash] else { return nil }
                guard entry.until > .now else {
                    all[hash] = nil
                    return nil
                }
                return entry.token
            }
        }
        set {
            entries.withLock { all in
                if all.count >= Self.capacity { all.removeAll(keepingCapacity: true) }
                all[hash] = newValue.map { ($0, .now + Self.lifetime) }
            }
        }
    }

    func forget(id: String) {
        entries.withLock { all in all = all.filter { $0.value.token.id != id } }
    }
}

extension Identity {
    /// A gateway token's identity: its id, name, scopes and the claims it was made with.
    init(_ token: ApiToken) {
        self.init(kind: .token, id: token.id, name: token.name, scopes: token.scopes, claims: token.claims)
    }
}
