import Foundation
import Hummingbird

/// Who may call a route. Every route declares one where it is registered (through
/// `GuardedRoutes`, the only way routes are added), and `GuardedRoutes` enforces it before
/// the handler runs; `AccessTests` walks the router and fails for a route without one.
enum Access: Sendable {
    /// Anyone: health, the console page, the OpenAPI document, the demo pages.
    case open
    /// Any valid identity (a gateway token or an identity provider's JWT), whatever its
    /// scopes (`/whoami`).
    case anyToken
    /// A bearer token carrying this scope (`admin` carries every scope).
    case scope(String)
    /// A bearer token carrying the scope the request's path names (seed 001's per-dataset
    /// and per-datasource scopes).
    case scopeOf(@Sendable (GatewayRequestContext) throws -> String)
    /// Seed 000's signed fields (`visitor`, `stamp`, `token`, `type`). They travel in the
    /// body, so the route's body reader checks them (`DatasetWriteRequest.authorize`, which
    /// calls `SignedTokenVerifier`) as soon as they have arrived, before the rows or the
    /// file are stored. Nothing is checked before the handler.
    case signedFields
    /// A signed link (checked by the route: the link names the thing it opens) or, without
    /// one, a token: `context.identity` is set when a valid one is presented, else nil.
    case signedLinkOrToken

    /// `scope(name)` when `required`, else `open`: routes an administrator may open to
    /// anyone (`exports.requireToken`, `dataflows.requireToken`).
    static func scope(_ name: String, required: Bool) -> Access {
        required ? .scope(name) : .open
    }

    /// The identity the request is let in with (nil where none is needed), or a 401/403.
    func admit(_ request: Request, context: GatewayRequestContext, authenticator: Authenticator) async throws -> Identity? {
        switch self {
        case .open, .signedFields: nil
        case .anyToken: try await authenticator.authenticate(request)
        case .scope(let name): try await authenticator.authorize(request, scope: name)
        case .scopeOf(let name): try await authenticator.authorize(request, scope: try name(context))
        case .signedLinkOrToken: await authenticator.ifValid(request)
        }
    }

    /// How the rule reads in a listing (and in the router test's failure messages).
    var summary: String {
        switch self {
        case .open: "open"
        case .anyToken: "any token"
        case .scope(let name): "scope \(name)"
        case .scopeOf: "scope named by the path"
        case .signedFields: "seed-000 signed fields"
        case .signedLinkOrToken: "signed link or token"
        }
    }
}
