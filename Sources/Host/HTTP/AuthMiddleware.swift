import Foundation
import Hummingbird

/// Requires a bearer API token carrying `scope`: `Authorization: Bearer <token>`, or
/// `token=<token>` in the query string (the form seed 001's clients use).
struct RequireScope: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let scope: String
    let tokens: ApiTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let secret = Self.presentedToken(request) else {
            throw APIError.unauthorized("missing token: send 'Authorization: Bearer <token>' (create one with 'gateway tokens create')")
        }
        guard let token = try tokens.authenticate(secret) else {
            throw APIError.unauthorized("unknown or revoked token")
        }
        guard token.allows(scope) else {
            throw APIError.forbidden("token '\(token.name)' lacks the scope '\(scope)'")
        }
        var context = context
        context.token = token
        return try await next(request, context)
    }

    static func presentedToken(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
        }
        if let query = request.uri.queryParameters.get("token"), !query.isEmpty { return query }
        return nil
    }
}
