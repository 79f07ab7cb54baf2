import Foundation

/// Who a request comes from, however it proved it: a gateway token (`gateway tokens create`)
/// or an identity provider's JWT (`auth.jwt`). Routes read it from `context.identity`; a
/// query reads its claims for context parameters (seed 001: values the client cannot set).
public struct Identity: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case token, jwt }

    public let kind: Kind
    /// A gateway token's id (`tok_…`), or `jwt:` and the subject: what owns an export task.
    public let id: String
    /// The token's name, or the JWT's `auth.jwt.nameClaim` (its subject by default).
    public let name: String
    public let scopes: [String]
    /// Claims by flat name, each with one or several values: a JWT's nested objects are
    /// flattened with dots (`{"org": {"id": "acme"}}` is `org.id`), its arrays are several
    /// values; a gateway token's are those given at creation.
    public let claims: [String: [String]]

    public init(kind: Kind, id: String, name: String, scopes: [String], claims: [String: [String]]) {
        self.kind = kind
        self.id = id
        self.name = name
        self.scopes = scopes
        self.claims = claims
    }

    public func allows(_ scope: String) -> Bool { Scopes.grant(scopes, scope) }

    /// The values a context name reads (`user.region` → claim `region`, `org.id` → claim
    /// `org.id`); nil when the identity has no such claim.
    public func values(ofContext name: String) -> [String]? {
        guard let claim = ContextName(name)?.claim, let values = claims[claim], !values.isEmpty else { return nil }
        return values
    }
}
