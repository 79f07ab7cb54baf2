import Foundation
import Hummingbird

/// Bearer tokens over HTTP, so that an administrator (and the console) manages them without
/// a shell on the gateway's machine: `GET /whoami` for any valid token, and
/// `/admin/tokens` (scope `admin`) to list, create and revoke. The same store as
/// `gateway tokens`; a secret is returned once, by the create call.
enum TokenRoutes {
    static func register(on routes: GuardedRoutes, admin: GuardedRoutes, gateway: Gateway) {
        let tokens = gateway.tokens
        // Who the presented credential is and what it may do: the console shows only the
        // views its scopes open, and its claims.
        routes.get("/whoami", access: .anyToken) { _, context -> Response in
            guard let identity = context.identity else { throw GatewayError.unauthorized("missing token") }
            return Envelope.success(.gateway, data: WhoAmI(identity), requestId: context.requestId)
        }
        admin.get("/tokens") { _, context -> Response in
            let list = try await Workers.run { try tokens.list() }
            return Envelope.success(.gateway, data: list.map { TokenInfo($0, secret: nil) }, requestId: context.requestId)
        }
        admin.post("/tokens") { request, context -> Response in
            let body = try await request.decodeJSON(NewToken.self, limit: 64 << 10)
            let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...200).contains(name.count) else { throw GatewayError.badRequest("name must be 1 to 200 characters") }
            let claims = try body.claimLists()
            let (token, secret) = try await Workers.run { try tokens.create(name: name, scopes: body.scopes, claims: claims) }
            return Envelope.success(.gateway, data: TokenInfo(token, secret: secret), requestId: context.requestId)
        }
        admin.delete("/tokens/:id") { _, context -> Response in
            let id = try context.pathParameter("id")
            guard try await Workers.run({ try tokens.revoke(id: id) }) else {
                throw GatewayError.notFound("no active token '\(id)'")
            }
            return Envelope.success(.gateway, data: ["revoked": id], requestId: context.requestId)
        }
    }

    struct NewToken: Decodable {
        let name: String
        let scopes: [String]
        /// Claim name → a value or a list of values.
        let claims: [String: JSONValue]?

        func claimLists() throws -> [String: [String]] {
            var lists: [String: [String]] = [:]
            for (name, value) in claims ?? [:] {
                switch value {
                case .string(let one): lists[name] = [one]
                case .array(let items):
                    lists[name] = try items.map { item in
                        guard case .string(let text) = item else { throw GatewayError.badRequest("claim '\(name)': give text values") }
                        return text
                    }
                default: throw GatewayError.badRequest("claim '\(name)': give a text value or a list of them")
                }
            }
            try ApiTokens.checkClaims(lists)  // a 400 naming the claim
            return lists
        }
    }

    struct WhoAmI: Encodable {
        let id: String, name: String, kind: String, scopes: [String], claims: [String: [String]]
        init(_ i: Identity) { id = i.id; name = i.name; kind = i.kind.rawValue; scopes = i.scopes; claims = i.claims }
    }

    /// A token as the admin API shows it: never its hash; its secret only when just created.
    struct TokenInfo: Encodable {
        let id: String, name: String, scopes: [String], claims: [String: [String]], created_at: String, revoked_at: String?
        let secret: String?

        init(_ t: ApiTokens.Token, secret: String?) {
            id = t.id
            name = t.name
            scopes = t.scopes
            claims = t.claims
            created_at = t.createdAt.formatted(.iso8601)
            revoked_at = t.revokedAt?.formatted(.iso8601)
            self.secret = secret
        }

        // `revoked_at` is always present (null while active); `secret` only on creation.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(name, forKey: .name)
            try c.encode(scopes, forKey: .scopes)
            try c.encode(claims, forKey: .claims)
            try c.encode(created_at, forKey: .created_at)
            try c.encode(revoked_at, forKey: .revoked_at)
            try c.encodeIfPresent(secret, forKey: .secret)
        }

        enum CodingKeys: String, CodingKey { case id, name, scopes, claims, created_at, revoked_at, secret }
    }
}
