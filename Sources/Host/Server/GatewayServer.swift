import CLinuxExtras
import Foundation
import Hummingbird
import Logging
import Synchronization
import NIOCore
import ServiceLifecycle

/// Builds the HTTP application: the envelope middleware around every route family.
public enum GatewayServer {
    public static func application(
        _ gateway: Gateway, host: String? = nil, port: Int? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = router(gateway)
        let server = gateway.config.server
        let connections = ProcessLimits.connectionCap(
            configured: server.maxConnections, descriptorLimit: ProcessLimits.raiseDescriptorLimit())
        let stall = TimeAmount.seconds(Int64(server.writeStallSeconds))
        let perAddress = AddressConnections(maxPerAddress: server.maxConnectionsPerAddress)
        return Application(
            router: router,
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [AddressConnectionCap(perAddress), ClientCloseHandler(), WriteStallHandler(timeout: stall)],
                    idleTimeout: .seconds(Int64(server.idleTimeoutSeconds)),
                    // Request heads are small: a URL or header past 16 KB, or 100 headers, is refused.
                    httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 << 10, maxHeaderListSize: 64 << 10, maxHeaderFieldCount: 100))),
            configuration: .init(
                address: .hostname(host ?? server.host, port: port ?? server.port),
                serverName: "gateway",
                // Beyond the cap, new connections wait in the listen queue (no accept, no spin).
                availableConnectionsDelegate: .maximum(connections, logger: gateway.logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                gateway.services.http.ownDemoPage.listening(on: port)
                await onRunning(port)
            },
            logger: gateway.logger)
    }

    /// Every route, behind the middleware every request passes.
    static func router(_ gateway: Gateway) -> Router<GatewayRequestContext> {
        guardedRoutes(gateway).router
    }

    /// The router with the access rule of each of its routes.
    static func guardedRoutes(_ gateway: Gateway) -> GuardedRoutes {
        let styles = EnvelopeStyles(fallback: .gateway)
        let router = Router(context: GatewayRequestContext.self)
        // First: Hummingbird applies middleware only to the routes registered after it.
        // Metrics outermost: they see every response with its final status (errors already
        // turned into envelopes), by route pattern.
        router.middlewares.add(RequestMetricsMiddleware())
        router.middlewares.add(EnvelopeMiddleware(styles: styles))
        let routes = GuardedRoutes(router, authenticator: gateway.authenticator)
        AdminRoutes.register(on: routes, styles: styles, gateway: gateway)
        DatasetPushRoutes.register(on: routes, styles: styles, gateway: gateway)
        QueryRoutes.register(on: routes, styles: styles, gateway: gateway)
        FileUploadRoutes.register(on: routes, styles: styles, gateway: gateway)
        ExportRoutes.register(on: routes, styles: styles, gateway: gateway)
        DataFlowRoutes.register(on: routes, styles: styles, gateway: gateway)
        ConsoleRoutes.register(on: routes)
        OpenAPIRoutes.register(on: routes)
        return routes
    }

    /// Serves until SIGTERM or SIGINT, then shuts down within `server.shutdownGraceSeconds`:
    /// no new connection or job from the signal on; requests in flight and running jobs get
    /// the grace to finish; what is still running then is stopped (an export ends
    /// "interrupted by restart", with its callback made) and the process exits.
    ///
    /// ServiceGroup shuts its services down one at a time, last declared first: the signal
    /// is heard first (no new job), then the server stops, then maintenance, then the jobs
    /// drain until the grace has passed since the signal.
    public static func serve(_ gateway: Gateway, onRunning: @escaping @Sendable (Int) async -> Void) async throws {
        gw_tune_malloc_for_serving()
        let grace = Duration.seconds(gateway.config.server.shutdownGraceSeconds)
        let signalled = ShutdownClock()
        let heard = ClosureService {
            try? await gracefulShutdown()
            signalled.mark()
            gateway.exports.beginShutdown()
            gateway.dataflows.beginShutdown()
        }
        let jobs = ClosureService {
            // Cancelled rather than shut down (SIGQUIT): no drain, the process ends now.
            do { try await gracefulShutdown() } catch { return }
            async let exports: Void = gateway.exports.drain(until: signalled.time + grace)
            async let dataflows: Void = gateway.dataflows.drain(until: signalled.time + grace)
            _ = await (exports, dataflows)
        }
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: jobs, successTerminationBehavior: .ignore),
                .init(service: Maintenance(gateway), successTerminationBehavior: .ignore),
                .init(service: application(gateway, onRunning: onRunning)),
                .init(service: heard, successTerminationBehavior: .ignore),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [.sigquit], logger: gateway.logger)
        // The grace, then the few seconds stopped jobs take to unwind and make their callbacks.
        configuration.maximumGracefulShutdownDuration = grace + .seconds(15)
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
        await gateway.shutdown()
    }
}

/// When shutdown began (or now, if it was never marked).
final class ShutdownClock: Sendable {
    private let marked = Mutex<ContinuousClock.Instant?>(nil)
    func mark() { marked.withLock { if $0 == nil { $0 = .now } } }
    var time: ContinuousClock.Instant { marked.withLock { $0 } ?? .now }
}
