import Foundation
import Hummingbird

/// The seed-000 signed token: token = SHA1(key + stamp + visitor + type), stamp in
/// milliseconds since the epoch. A token is accepted once, within the freshness window.
public struct SignedTokenVerifier: Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case missingField(String)
        case badStamp
        case staleStamp(windowSeconds: Int)
        case unknownVisitor
        case badToken
        case replayed

        public var description: String {
            switch self {
            case .missingField(let f): "missing field '\(f)'"
            case .badStamp: "stamp must be milliseconds since 1970 as an integer"
            case .staleStamp(let w): "stamp is more than \(w) seconds away from the server's clock; make a new token"
            case .unknownVisitor: "token does not match (unknown visitor or wrong key)"
            case .badToken: "token does not match SHA1(key + stamp + visitor + type)"
            case .replayed: "token was already used; make a new one for each request"
            }
        }
    }

    public let windowSeconds: Int
    let store: any TokenRepository

    public init(store: any TokenRepository, windowSeconds: Int) {
        self.store = store
        self.windowSeconds = windowSeconds
    }

    /// Checks the token against `key` (the secret shared with `visitor`), then records it
    /// so that it cannot be used again.
    public func verify(
        visitor: String, type: String, stamp: String, token: String, key: String?,
        now: Date? = nil
    ) throws {
        let now = now ?? store.clock.now
        for (name, value) in [("visitor", visitor), ("type", type), ("stamp", stamp), ("token", token)] where value.isEmpty {
            throw Failure.missingField(name)
        }
        guard let millis = Int64(stamp) else { throw Failure.badStamp }
        let nowMillis = Int64(now.timeIntervalSince1970 * 1000)
        // The stamp is the client's: compare without arithmetic that can overflow
        // (Int64.min - now traps, and so would abs of it).
        let windowMillis = Int64(clamping: windowSeconds).multipliedReportingOverflow(by: 1000)
        let window = windowMillis.overflow ? Int64.max : windowMillis.partialValue
        let (distance, overflow) = nowMillis.subtractingReportingOverflow(millis)
        guard !overflow, distance.magnitude <= UInt64(clamping: window) else {
            throw Failure.staleStamp(windowSeconds: windowSeconds)
        }
        // An unknown visitor is checked against a random key so that both failures take
        // the same time and say the same thing.
        let secret = key ?? Crypto.hex(Crypto.randomBytes(16))
        let expected = Array(Crypto.hex(Crypto.sha1(Array("\(secret)\(stamp)\(visitor)\(type)".utf8))).utf8)
        let given = Array(token.lowercased().utf8)
        guard Crypto.constantTimeEquals(expected, given), key != nil else {
            throw key == nil ? Failure.unknownVisitor : Failure.badToken
        }
        try recordUse(
            token: given, expiresAtMillis: millis.addingReportingOverflow(window).overflow ? Int64.max : millis + window,
            nowMillis: nowMillis)
    }

    private func recordUse(token: [UInt8], expiresAtMillis: Int64, nowMillis: Int64) throws {
        guard try store.recordSignedToken(hash: Crypto.sha256(token), expiresAtMillis: expiresAtMillis, nowMillis: nowMillis) else {
            throw Failure.replayed
        }
    }
}

/// A signed field missing or malformed is the client's mistake (400); a signature that
/// does not match, is stale or replayed is not a credential (401).
extension SignedTokenVerifier.Failure: StatusError {
    public var status: HTTPResponse.Status {
        switch self {
        case .missingField, .badStamp: .badRequest
        default: .unauthorized
        }
    }
}
