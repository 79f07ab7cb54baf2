import Foundation
import Testing
@testable import Host

/// `GET /openapi.json` stays true to the router: a route without a description, or a
/// description of a route that does not exist, fails here. (schemathesis, run by
/// `scripts/api-conformance.sh` in CI, checks the answers against the schemas.)
@Suite struct OpenAPITests {
    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]

    /// "GET /admin/tokens/{id}" for every operation of the description.
    static func described(_ document: [String: Any]) -> Set<String> {
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        return Set(
            paths.flatMap { path, item in
                item.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
            })
    }

    static func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(PackageResources.openapi_json)) as? [String: Any])
    }

    @Test func everyRouteIsDescribedAndEveryDescriptionIsARoute() throws {
        let gateway = try TestSupport.gateway()
        let routes = Set(GatewayServer.router(gateway).routes.map { "\($0.method.rawValue) \($0.path.description)" })
        let described = Self.described(try Self.document())
        #expect(routes.subtracting(described).sorted() == [], "routes the description lacks")
        #expect(described.subtracting(routes).sorted() == [], "described operations no route serves")
        #expect(routes.count > 40)
    }

    @Test func everyOperationSaysWhatItDoesAndHowItFails() throws {
        let document = try Self.document()
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        for (path, item) in paths {
            for (method, value) in item where Self.methods.contains(method) {
                let operation = value as? [String: Any] ?? [:]
                let name = "\(method.uppercased()) \(path)"
                #expect(!((operation["summary"] as? String) ?? (operation["description"] as? String) ?? "").isEmpty, "\(name) has no summary")
                #expect(operation["operationId"] is String, "\(name) has no operationId")
                let responses = operation["responses"] as? [String: Any] ?? [:]
                #expect(responses.keys.contains { $0.hasPrefix("2") }, "\(name) has no success answer")
            }
        }
    }

    @Test func theGatewayServesTheDescription() async throws {
        let gateway = try TestSupport.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, "/openapi.json")
            #expect(reply.status == 200 && reply.headers.first(name: "content-type")?.hasPrefix("application/json") == true)
            #expect(reply.body == PackageResources.openapi_json)
        }
    }
}
