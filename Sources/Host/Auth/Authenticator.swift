import Foundation
import Hummingbird

/// Where a request is authenticated: the bearer credential it presents
/// (`Authorization: Bearer <token>`, or `token=<token>` in the query string, the form seed
/// 001's clients use) made an `Identity`. A gateway token is looked up in the store; a JWT
/// from the identity provider (`auth.jwt`) is verified by `JWTVerifier`. Only
/// `GuardedRoutes` calls this; routes read the result from `context.identity`.
public struct Authenticator: Sendable {
    let tokens: ApiTokens
    /// Nil while `auth.jwt.issuer` is empty.
    let jwt: JWTVerifier?

    /// The request's identity, if it carries `scope`; else 401 or 403.
    func authorize(_ request: Request, scope: String) async throws -> Identity {
        let identity = try await authenticate(request)
        guard identity.allows(scope) else {
            let who = identity.kind == .token ? "token '\(identity.name)'" : "the identity '\(identity.name)'"
            throw GatewayError.forbidden("\(who) lacks the scope '\(scope)'")
        }
        return identity
    }

    /// The request's identity, whatever its scopes; else 401.
    func authenticate(_ request: Request) async throws -> Identity {
        guard let credential = Self.presented(request) else {
            throw GatewayError.unauthorized("missing token: send 'Authorization: Bearer <token>' or '?token=<token>' (create one with 'gateway tokens create')")
        }
        return try await identity(credential)
    }

    /// The presented credential's identity if it is valid, else nil: for routes a token
    /// only widens.
    func ifValid(_ request: Request) async -> Identity? {
        guard let credential = Self.presented(request) else { return nil }
        return try? await identity(credential)
    }

    private func identity(_ credential: String) async throws -> Identity {
        if JWTVerifier.looksLikeJWT(credential) {
            guard let jwt else {
                throw GatewayError.unauthorized("this gateway takes no identity-provider tokens (auth.jwt is not configured): use a gateway token")
            }
            return try await jwt.identity(credential)
        }
        let tokens = self.tokens
        guard let token = try await Self.lookUp(credential, tokens) else {
            throw GatewayError.unauthorized("unknown or revoked token")
        }
        return Identity(token)
    }

    /// A token seen a moment ago is answered from memory; otherwise the store is asked on a
    /// thread of its own (a blocking call).
    private static func lookUp(_ secret: String, _ tokens: ApiTokens) async throws -> ApiToken? {
        if let known = tokens.recentlySeen(secret) { return known }
        return try await Workers.run { try tokens.authenticate(secret) }
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
