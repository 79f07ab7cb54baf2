import Foundation
import Hummingbird
import NIOCore

/// What every request carries through the host: its id, its connection and, once
/// authenticated, its identity.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// From `x-request-id` / `x-b3-traceid` when the client sent a sane one, else generated.
    public var requestId: String = ""
    /// Who the request comes from, once `GuardedRoutes` admitted it with a credential.
    public var identity: Identity?
    /// The client's connection: its close stops work done for the request.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The client's address without the port, for limits on clients that show no credential.
    public var clientAddress: String {
        channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Who the request limiter counts this request against: its identity when it was
    /// admitted with one, else its address (pushes and uploads carry their credential in the
    /// body).
    public var limiterClient: String {
        identity.map { "\($0.kind == .token ? "token" : "user"):\($0.id)" } ?? "address:\(clientAddress)"
    }

    /// Bodies are read with `Request.collectBody(limit:)`, which applies the configured
    /// limit; this is the ceiling for anything read another way.
    public var maxUploadSize: Int { 64 * 1024 * 1024 }

    /// A path parameter as the client meant it: percent-decoded, so that
    /// `/api/v1/dataset/%E9%94%80%E5%94%AE/query` names the dataset 销售 that a push of
    /// `type=销售` wrote. A malformed escape is a 400.
    public func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        guard raw.utf8.contains(UInt8(ascii: "%")) else { return raw }
        guard let decoded = raw.removingPercentEncoding else {
            throw GatewayError.badRequest("the path segment '\(raw.prefix(80))' has a malformed %-escape")
        }
        return decoded
    }
}
