import Foundation
import Hummingbird
import Logging
import NIOCore

/// Builds the HTTP application: the envelope middleware around every route family.
public enum GatewayServer {
    public static func application(
        _ gateway: Gateway, host: String? = nil, port: Int? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let styles = EnvelopeStyles(fallback: .gateway)
        let router = Router(context: GatewayRequestContext.self)
        // First: Hummingbird applies middleware only to the routes registered after it.
        router.middlewares.add(EnvelopeMiddleware(styles: styles))
        AdminRoutes.register(on: router, styles: styles, gateway: gateway)
        DatasetPushRoutes.register(on: router, styles: styles, gateway: gateway)
        QueryRoutes.register(on: router, styles: styles, gateway: gateway)
        FileUploadRoutes.register(on: router, styles: styles, gateway: gateway)
        ExportRoutes.register(on: router, styles: styles, gateway: gateway)
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(host ?? gateway.config.server.host, port: port ?? gateway.config.server.port),
                serverName: "gateway"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: gateway.logger)
    }
}
