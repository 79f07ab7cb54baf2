import Foundation
import Synchronization
import Testing
@testable import Host

@Suite struct AuthTests {
    func sign(_ key: String, _ stamp: String, _ visitor: String, _ type: String) -> String {
        Crypto.hex(Crypto.sha1(Array("\(key)\(stamp)\(visitor)\(type)".utf8)))
    }

    @Test func seedSignedTokenIsAcceptedOnceWithinTheWindow() throws {
        let gateway = try TestSupport.gateway()
        let verifier = SignedTokenVerifier(store: gateway.store, windowSeconds: 300)
        let now = Date()
        let stamp = String(Int64(now.timeIntervalSince1970 * 1000))
        let token = sign("s3cret", stamp, "alice", "123")
        // The seed's Python: hashlib.sha1(f"{key}{stamp}{visitor}{chart_type}").hexdigest()
        #expect(token.count == 40)
        try verifier.verify(visitor: "alice", type: "123", stamp: stamp, token: token.uppercased(), key: "s3cret", now: now)
        #expect(throws: SignedTokenVerifier.Failure.replayed) {
            try verifier.verify(visitor: "alice", type: "123", stamp: stamp, token: token, key: "s3cret", now: now)
        }
    }

    @Test func badStaleAndIncompleteTokensAreRefused() throws {
        let gateway = try TestSupport.gateway()
        let verifier = SignedTokenVerifier(store: gateway.store, windowSeconds: 60)
        let now = Date()
        let stamp = String(Int64(now.timeIntervalSince1970 * 1000))
        #expect(throws: SignedTokenVerifier.Failure.badToken) {
            try verifier.verify(visitor: "alice", type: "1", stamp: stamp, token: sign("wrong", stamp, "alice", "1"), key: "s3cret", now: now)
        }
        #expect(throws: SignedTokenVerifier.Failure.unknownVisitor) {
            try verifier.verify(visitor: "mallory", type: "1", stamp: stamp, token: sign("x", stamp, "mallory", "1"), key: nil, now: now)
        }
        let old = String(Int64(now.timeIntervalSince1970 * 1000) - 61_000)
        #expect(throws: SignedTokenVerifier.Failure.staleStamp(windowSeconds: 60)) {
            try verifier.verify(visitor: "alice", type: "1", stamp: old, token: sign("s3cret", old, "alice", "1"), key: "s3cret", now: now)
        }
        #expect(throws: SignedTokenVerifier.Failure.badStamp) {
            try verifier.verify(visitor: "alice", type: "1", stamp: "yesterday", token: "x", key: "s3cret", now: now)
        }
        #expect(throws: SignedTokenVerifier.Failure.missingField("token")) {
            try verifier.verify(visitor: "alice", type: "1", stamp: stamp, token: "", key: "s3cret", now: now)
        }
    }

    /// Counts the store's token lookups (the repository seam makes this a wrapper).
    final class CountingTokens: TokenRepository {
        let inner: any TokenRepository
        let lookups = Mutex(0)
        init(_ inner: any TokenRepository) { self.inner = inner }
        var clock: any GatewayClock { inner.clock }
        func insertToken(_ token: ApiToken, hash: [UInt8]) throws { try inner.insertToken(token, hash: hash) }
        func token(hash: [UInt8]) throws -> (token: ApiToken, hash: [UInt8])? {
            lookups.withLock { $0 += 1 }
            return try inner.token(hash: hash)
        }
        func tokens() throws -> [ApiToken] { try inner.tokens() }
        func revokeToken(id: String, at time: Date) throws -> Bool { try inner.revokeToken(id: id, at: time) }
        func recordSignedToken(hash: [UInt8], expiresAtMillis: Int64, nowMillis: Int64) throws -> Bool {
            try inner.recordSignedToken(hash: hash, expiresAtMillis: expiresAtMillis, nowMillis: nowMillis)
        }
    }

    /// A request's token is looked up in the store once, then served from memory for a few
    /// seconds (no blocking store call on the threads that serve HTTP); a revocation here
    /// takes effect at once, and an unknown secret is never remembered.
    @Test func tokensAreServedFromMemoryAndRevokedAtOnce() throws {
        let counting = CountingTokens(try TestSupport.gateway().store)
        let tokens = ApiTokens(store: counting)
        let (token, secret) = try tokens.create(name: "t", scopes: ["query"])
        #expect(try tokens.authenticate(secret)?.id == token.id)
        #expect(try tokens.authenticate(secret.lowercased())?.id == token.id)
        #expect(counting.lookups.withLock { $0 } == 1)
        #expect(try tokens.authenticate("NOPE") == nil)
        #expect(try tokens.authenticate("NOPE") == nil)
        #expect(counting.lookups.withLock { $0 } == 3)
        #expect(try tokens.revoke(id: token.id))
        #expect(try tokens.authenticate(secret) == nil)
    }

    @Test func apiTokensAreHashedScopedAndRevocable() throws {
        let gateway = try TestSupport.gateway()
        let tokens = gateway.tokens
        let (token, secret) = try tokens.create(name: "reports", scopes: ["query:dataset/*", "export"])
        #expect(secret.count == 64)
        // Only a hash is stored.
        let stored = try gateway.sql { try $0.query("SELECT token_hash FROM api_tokens", []) }
        #expect(!stored.contains { $0[0] == .text(secret) || $0[0] == .blob(Array(secret.utf8)) })
        let found = try #require(try tokens.authenticate(secret))
        #expect(found.id == token.id)
        #expect(try tokens.authenticate(secret.lowercased())?.id == token.id)
        #expect(found.allows("export") && found.allows("query:dataset/42"))
        #expect(!found.allows("admin") && !found.allows("query:datasource/1") && !found.allows("dataflow"))
        #expect(try tokens.authenticate(String(repeating: "0", count: 64)) == nil)
        #expect(try tokens.revoke(id: token.id))
        #expect(try tokens.authenticate(secret) == nil)
        #expect(try !tokens.revoke(id: token.id))
        #expect(throws: InvalidInput.self) { try tokens.create(name: "x", scopes: ["Bad Scope"]) }
    }

    /// `query:dataset/sales` granted `query:dataset/sales:private` (a plain prefix match).
    @Test func scopesFollowTheirSeparators() {
        let token = ApiTokens.Token(id: "t", name: "t", scopes: ["query:dataset/sales", "export"], createdAt: Date(), revokedAt: nil)
        #expect(token.allows("query:dataset/sales"))
        #expect(!token.allows("query:dataset/sales:private"))
        #expect(!token.allows("query:dataset/salesforce"))
        #expect(token.allows("export") && !token.allows("exporter") && !token.allows("export2"))
        let family = ApiTokens.Token(id: "f", name: "f", scopes: ["query:dataset"], createdAt: Date(), revokedAt: nil)
        #expect(family.allows("query:dataset/anything") && !family.allows("query:datasets/x") && !family.allows("query:datasource/x"))
        #expect(throws: InvalidInput("dataset id 'sales:private' must not contain ':', '/', '*' or spaces")) {
            try Dataset(id: "sales:private", definition: DatasetDefinition(table: "t(a)"))
        }
    }

    /// RFC 4231 test case 2.
    @Test func hmacMatchesTheStandardVector() {
        let mac = Crypto.hmacSHA256(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8))
        #expect(Crypto.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    /// What one gateway seals (an export's request, for another to restart it) opens only
    /// under the same secret and purpose, and not once any byte changed.
    @Test func sealedBytesOpenOnlyWhole() throws {
        let dir = TestSupport.temporaryDirectory("seal")
        let a = try ServerSecret(configured: "cluster key", dataDirectory: dir)
        let other = try ServerSecret(configured: "another key", dataDirectory: dir)
        let message = Array(#"{"source_http":{"header":{"Authorization":"Bearer s3cret"}}}"#.utf8)
        let sealed = try #require(a.seal(message, purpose: "export-request"))
        #expect(!sealed.contains("s3cret") && a.seal(message, purpose: "export-request") != sealed, "a fresh nonce each time")
        #expect(a.open(sealed, purpose: "export-request") == message)
        #expect(a.open(sealed, purpose: "another purpose") == nil)
        #expect(other.open(sealed, purpose: "export-request") == nil)
        var bytes = try #require(Data(base64Encoded: sealed))
        for i in [0, 12, bytes.count - 1] {
            bytes[i] ^= 1
            #expect(a.open(bytes.base64EncodedString(), purpose: "export-request") == nil, "byte \(i) changed")
            bytes[i] ^= 1
        }
        #expect(a.open("", purpose: "export-request") == nil && a.open("not base64", purpose: "export-request") == nil)
        #expect(a.open(try #require(a.seal([], purpose: "p")), purpose: "p") == [])
    }
}
