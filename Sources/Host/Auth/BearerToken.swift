import Foundation
import Hummingbird

/// A bearer API token as a request presents it: `Authorization: Bearer <token>`, or
/// `token=<token>` in the query string (the form seed 001's clients use). Only
/// `GuardedRoutes` calls this; routes read the result from `context.token`.
enum BearerToken {
    /// The request's token, if it is active and carries `scope`; else 401 or 403.
    static func authorize(_ request: Request, scope: String, tokens: ApiTokens) throws -> ApiTokens.Token {
        let token = try authenticate(request, tokens: tokens)
        guard token.allows(scope) else {
            throw GatewayError.forbidden("token '\(token.name)' lacks the scope '\(scope)'")
        }
        return token
    }

    /// The request's active token, whatever its scopes; else 401.
    static func authenticate(_ request: Request, tokens: ApiTokens) throws -> ApiTokens.Token {
        guard let secret = presented(request) else {
            throw GatewayError.unauthorized("missing token: send 'Authorization: Bearer <token>' or '?token=<token>' (create one with 'gateway tokens create')")
        }
        guard let token = try tokens.authenticate(secret) else {
            throw GatewayError.unauthorized("unknown or revoked token")
        }
        return token
    }

    /// The presented token if it is active, else nil: for routes a token only widens.
    static func ifValid(_ request: Request, tokens: ApiTokens) throws -> ApiTokens.Token? {
        try presented(request).flatMap { try tokens.authenticate($0) }
    }

    static func presented(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
        }
        if let query = request.query["token"], !query.isEmpty { return query }
        return nil
    }
}
