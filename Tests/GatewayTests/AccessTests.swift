import Foundation
import Hummingbird
import NIOHTTP1
import Testing
@testable import Host

/// Every route declares who may call it where it is registered (`GuardedRoutes`), and the
/// rule is enforced before its handler runs.
@Suite struct AccessTests {
    /// The routes of the router without a declared access.
    static func undeclared(_ routes: GuardedRoutes) -> [String] {
        routes.router.routes.filter { routes.rules.rule($0.method, $0.path) == nil }.map(\.description).sorted()
    }

    @Test func everyRouteOfTheRouterDeclaresItsAccess() throws {
        let routes = GatewayServer.guardedRoutes(try TestSupport.gateway())
        #expect(Self.undeclared(routes) == [])
        #expect(routes.router.routes.count > 40)
    }

    /// The walk is not vacuous: a route added to the router beside the guard is found.
    @Test func aRouteAddedBesideTheGuardIsFound() throws {
        let routes = GatewayServer.guardedRoutes(try TestSupport.gateway())
        routes.router.get("/sneaky") { _, _ in "no rule" }
        #expect(Self.undeclared(routes) == ["GET /sneaky"])
    }

    /// With the shipped defaults, only these need no credential at all.
    @Test func onlyTheMeantRoutesAreOpen() throws {
        let routes = GatewayServer.guardedRoutes(try TestSupport.gateway())
        let open = routes.router.routes.filter {
            if case .open = routes.rules.rule($0.method, $0.path) { return true }
            return false
        }
        #expect(open.map(\.description).sorted() == ["GET /console", "GET /demo/page", "GET /healthz", "GET /openapi.json"])
    }

    /// Every route that needs a token answers a request without one with 401 in its own
    /// envelope, and one with a token lacking the scope with 403, before doing any work.
    @Test func everyTokenRouteRefusesMissingAndNarrowTokens() async throws {
        let gateway = try TestSupport.gateway()
        let (_, narrow) = try gateway.tokens.create(name: "narrow", scopes: ["nothing-here"])
        let routes = GatewayServer.guardedRoutes(gateway)
        try await TestServer.with(gateway) { server in
            var checked = 0
            for route in routes.router.routes {
                guard let rule = routes.rules.rule(route.method, route.path) else { continue }
                let path = route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "x" : String($0) }.joined(separator: "/")
                let method = HTTPMethod(rawValue: route.method.rawValue)
                switch rule {
                case .scope, .scopeOf, .anyToken:
                    let missing = try await server.request(method, "/" + path, body: "{}")
                    #expect(missing.status == 401, "\(route) without a token: \(missing.status) \(missing.text)")
                    #expect(missing.text.contains("missing token"), "\(route): \(missing.text)")
                    if case .anyToken = rule { break }
                    let refused = try await server.request(method, "/" + path, headers: [("Authorization", "Bearer \(narrow)")], body: "{}")
                    #expect(refused.status == 403, "\(route) with a narrow token: \(refused.status) \(refused.text)")
                    checked += 1
                default:
                    continue
                }
            }
            #expect(checked > 30)
        }
    }
}
