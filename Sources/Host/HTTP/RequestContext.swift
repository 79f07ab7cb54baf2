import Hummingbird

/// What every request carries through the host: its id and, once authenticated, its token.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// From `x-request-id` / `x-b3-traceid` when the client sent a sane one, else generated.
    public var requestId: String = ""
    public var token: ApiTokens.Token?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Bodies are read with `Request.collectBody(limit:)`, which applies the configured
    /// limit; this is the ceiling for anything read another way.
    public var maxUploadSize: Int { 64 * 1024 * 1024 }
}
