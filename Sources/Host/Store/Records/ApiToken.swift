import Foundation

/// A bearer API token as kept: its id, name and scopes (the secret itself is never kept,
/// only its SHA-256).
public struct ApiToken: Sendable, Equatable {
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
