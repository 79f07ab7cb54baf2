import Foundation
import Hummingbird

/// Seed 001: `GET|POST /api/v1/{dataset,datasource,datamodel}/{id}/query`, rows as JSON
/// (default) or through a format plugin (`format=arrow`). A token reads only what its
/// scopes allow: `query:dataset/ID`, `query:datasource/ID` (or `query` for everything).
enum QueryRoutes {
    static func register(on routes: GuardedRoutes, styles: EnvelopeStyles, gateway: Gateway) {
        styles.register("/api/v1", .gateway)
        for kind in SourceOpener.Kind.allCases {
            let family = routes.group(
                "/api/v1/\(kind.rawValue)/:id/query",
                access: .scopeOf { context in
                    "query:\(kind.rawValue)/\(try context.pathParameter("id"))"
                })
            let handler: GuardedRoutes.Handler = { request, context in
                try await handle(request, context: context, kind: kind, gateway: gateway)
            }
            family.get(use: handler)
            family.post(use: handler)
        }
    }

    static func handle(_ request: Request, context: GatewayRequestContext, kind: SourceOpener.Kind, gateway: Gateway) async throws -> Response {
        let id = try context.pathParameter("id")
        // Counted from here: reading the body is work too.
        let permit = try await gateway.limiter.acquire(client: context.limiterClient)
        let query = try await QueryRequest.parse(
            request, bodyLimit: min(gateway.config.server.maxBodyBytes, QueryRequest.maxBodyBytes), identity: context.identity)
        let format = try OutputFormat.named(query.format, registry: gateway.registry, configs: gateway.config.plugins.config)
        let limits = gateway.config.limits
        let control = RunControl(timeBudgetSeconds: limits.queryTimeoutSeconds)
        let opener = SourceOpener(gateway: gateway, control: control, services: gateway.services.logging(to: context.logger))
        let ends = QueryStreaming.Ends(format: format, sinks: gateway.sinks(services: opener.services), control: control, rowLimit: query.rowLimit) { error in
            SourceOpener.describe(error, control: control, maxValueBytes: limits.maxValueBytes)
        }
        return try await QueryStreaming.response(ends, connection: context.channel, permit: permit, requestId: context.requestId, logger: context.logger) {
            try opener.open(.query(kind, id: id, query))
        }
    }
}
