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

    init(_ token: ApiToken) {
        self.init(kind: .token, id: token.id, name: token.name, scopes: token.scopes, claims: token.claims)
    }

    public func allows(_ scope: String) -> Bool { Scopes.grant(scopes, scope) }

    /// The values a context name reads (`user.region` → claim `region`, `org.id` → claim
    /// `org.id`); nil when the identity has no such claim.
    public func values(ofContext name: String) -> [String]? {
        guard let claim = ContextName(name)?.claim, let values = claims[claim], !values.isEmpty else { return nil }
        return values
    }
}

/// A context parameter's source, as a named query or a data model declares it:
/// `user.<claim>` (any claim of the caller) or `org.<name>` (the claim `org.<name>`, where
/// identity providers put the organization: `{"org": {"id": …}}`).
struct ContextName: Sendable, Equatable {
    let claim: String

    init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty, parts[1].allSatisfy({ $0.isLetter || $0.isNumber || "_-.:".contains($0) }) else { return nil }
        switch parts[0] {
        case "user": claim = String(parts[1])
        case "org": claim = "org." + parts[1]
        default: return nil
        }
    }
}

/// What a list of scopes grants. Scopes follow their separators: a bare word grants its
/// family (`query` grants `query:dataset/sales`), a resource grants what lies below it after
/// a `/` (`query:dataset` grants `query:dataset/sales`), and nothing grants a longer id
/// (`query:dataset/sales` does not grant `query:dataset/sales:private`). A trailing `*`
/// grants every scope it is a prefix of; `admin` grants everything.
enum Scopes {
    static func grant(_ granted: [String], _ scope: String) -> Bool {
        granted.contains { granted in
            if granted == "admin" || granted == scope { return true }
            if granted.hasSuffix("*") { return scope.hasPrefix(granted.dropLast()) }
            if !granted.contains(":") { return scope.hasPrefix(granted + ":") }
            return scope.hasPrefix(granted + "/")
        }
    }

    /// A scope is a lower-case word, optionally `:` and a resource (letters, digits, `-_/.*`).
    static func isValid(_ scope: String) -> Bool {
        let parts = scope.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let word = parts.first, let first = word.first, first.isLetter, first.isLowercase,
            word.allSatisfy({ ($0.isLowercase && $0.isLetter) || $0.isNumber || "_-*".contains($0) })
        else { return false }
        guard parts.count == 2 else { return true }
        return !parts[1].isEmpty && parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_/.*".contains($0)) }
    }
}
