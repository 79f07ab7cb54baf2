import Foundation

/// A bearer API token as kept: its id, name, scopes and claims (the secret itself is never
/// kept, only its SHA-256).
public struct ApiToken: Sendable, Equatable {
    public let id: String
    public let name: String
    public let scopes: [String]
    /// Attributes set at creation (`--claim region=east`), read as the identity's claims by
    /// context parameters and row filters, as a JWT's are.
    public let claims: [String: [String]]
    public let createdAt: Date
    public let revokedAt: Date?

    public init(id: String, name: String, scopes: [String], claims: [String: [String]] = [:], createdAt: Date, revokedAt: Date?) {
        self.id = id
        self.name = name
        self.scopes = scopes
        self.claims = claims
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// See `Scopes.grant`.
    public func allows(_ scope: String) -> Bool { Scopes.grant(scopes, scope) }
}
