import Hummingbird

/// `GET /openapi.json`: the OpenAPI 3.1 description of every route, embedded in the binary.
/// `OpenAPITests` keeps it true: a route the router has and the description lacks (or the
/// reverse) fails the tests, and schemathesis checks the answers against it in CI.
enum OpenAPIRoutes {
    static func register(on routes: GuardedRoutes) {
        let document = ByteBuffer(bytes: PackageResources.openapi_json)
        routes.get("/openapi.json", access: .open) { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: document))
        }
    }
}
