import Foundation
import Hummingbird
import Synchronization

/// The one way routes are added: each with its `Access`, enforced here before the handler
/// runs (the admitted identity is in `context.identity`). A group carries a path prefix and a
/// default access its routes inherit, so a route family states its rule once where it is
/// registered. Every rule is recorded, by method and path, for `AccessTests` to check that
/// no route of the router lacks one.
struct GuardedRoutes {
    typealias Handler = @Sendable (Request, GatewayRequestContext) async throws -> Response

    let router: Router<GatewayRequestContext>
    let authenticator: Authenticator
    let rules: AccessRules
    private let prefix: String
    private let access: Access?

    init(_ router: Router<GatewayRequestContext>, authenticator: Authenticator) {
        self.init(router: router, authenticator: authenticator, rules: AccessRules(), prefix: "", access: nil)
    }

    private init(router: Router<GatewayRequestContext>, authenticator: Authenticator, rules: AccessRules, prefix: String, access: Access?) {
        self.router = router
        self.authenticator = authenticator
        self.rules = rules
        self.prefix = prefix
        self.access = access
    }

    /// Routes under `prefix`, with `access` unless a route says otherwise.
    func group(_ prefix: String, access: Access? = nil) -> GuardedRoutes {
        GuardedRoutes(router: router, authenticator: authenticator, rules: rules, prefix: self.prefix + prefix, access: access ?? self.access)
    }

    /// Adds a route. A route without an access of its own and outside a group that has one
    /// is a programming error, caught at start (every test builds the router).
    func on(_ method: HTTPRequest.Method, _ path: String = "", access: Access? = nil, use handler: @escaping Handler) {
        guard let access = access ?? self.access else {
            preconditionFailure("route \(method) \(prefix + path) declares no access")
        }
        let routerPath = RouterPath(prefix + path)
        rules.record(method, routerPath, access)
        let authenticator = self.authenticator
        router.on(routerPath, method: method) { request, context -> Response in
            var context = context
            context.identity = try await access.admit(request, context: context, authenticator: authenticator)
            return try await handler(request, context)
        }
    }

    func get(_ path: String = "", access: Access? = nil, use handler: @escaping Handler) { on(.get, path, access: access, use: handler) }
    func post(_ path: String = "", access: Access? = nil, use handler: @escaping Handler) { on(.post, path, access: access, use: handler) }
    func put(_ path: String = "", access: Access? = nil, use handler: @escaping Handler) { on(.put, path, access: access, use: handler) }
    func delete(_ path: String = "", access: Access? = nil, use handler: @escaping Handler) { on(.delete, path, access: access, use: handler) }
}

/// The declared access of every route, by "METHOD /path/:param".
final class AccessRules: Sendable {
    private let rules = Mutex<[String: Access]>([:])

    func record(_ method: HTTPRequest.Method, _ path: RouterPath, _ access: Access) {
        rules.withLock { $0[Self.key(method, path)] = access }
    }

    func rule(_ method: HTTPRequest.Method, _ path: RouterPath) -> Access? {
        rules.withLock { $0[Self.key(method, path)] }
    }

    static func key(_ method: HTTPRequest.Method, _ path: RouterPath) -> String { "\(method.rawValue) \(path.description)" }
}
