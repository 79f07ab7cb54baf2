import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import PluginKit
import Synchronization

/// The outermost middleware: gives every request its id (echoed as `x-request-id`) and
/// turns every error, from any route or from routing itself, into the envelope of the
/// route family it belongs to.
struct EnvelopeMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let styles: EnvelopeStyles

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.requestId = Self.requestId(from: request)
        // Every line logged for this request carries the id the client sees.
        context.logger[metadataKey: "request_id"] = "\(context.requestId)"
        let started = DispatchTime.now().uptimeNanoseconds
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let apiError = Self.apiError(from: error, requestId: context.requestId)
            if apiError.status.code >= 500, !(error is HTTPParserError) {
                context.logger.error("\(request.method) \(request.uri.path) failed: \(error)", metadata: ["request_id": "\(context.requestId)"])
            }
            response = Envelope.error(styles.style(for: request.uri.path), apiError, requestId: context.requestId)
        }
        response.headers[.init("x-request-id")!] = context.requestId
        Self.logAccess(request, response, context: context, started: started)
        return response
    }

    /// One access-log line per request: the path without its query (a `?token=` never
    /// reaches the log), status, time to the response head, and the body's size when known.
    static func logAccess(_ request: Request, _ response: Response, context: Context, started: UInt64) {
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        let bytes = response.body.contentLength.map(String.init) ?? "streamed"
        context.logger.info(
            "\(request.method) \(request.uri.path) \(response.status.code)",
            metadata: [
                "duration_ms": "\(String(format: "%.1f", milliseconds))", "bytes": "\(bytes)",
            ])
    }

    /// Honours a client's id if it is short and plain, so it can be logged safely.
    static func requestId(from request: Request) -> String {
        for name in ["x-request-id", "x-b3-traceid"] {
            if let value = request.headers.first(where: { $0.name.canonicalName == name })?.value, (1...128).contains(value.count),
                value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) })
            {
                return value
            }
        }
        return newRequestId()
    }

    /// 32 lower-case hex digits, built in place (the UUID string with its dashes replaced,
    /// through Foundation's NSString, took a tenth of a `/healthz` request). The first half
    /// is random once per process, the second a counter through a bijective mix: unique
    /// within the process and unlike any other process's, without the two `getrandom`
    /// system calls per request that SystemRandomNumberGenerator makes.
    static func newRequestId() -> String {
        let high = processRandom.high
        let low = mix(requestCounter.wrappingAdd(1, ordering: .relaxed).newValue &+ processRandom.low)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            for i in 0..<32 {
                let word = i < 16 ? high : low
                let nibble = Int((word >> UInt64(60 - 4 * (i % 16))) & 0xF)
                buffer[i] = digits.utf8Start[nibble]
            }
            return 32
        }
    }

    private static let processRandom: (high: UInt64, low: UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()
    private static let requestCounter = Atomic<UInt64>(0)

    /// SplitMix64's finalizer: a bijection on 64 bits, so distinct counters stay distinct.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// What the client is told for `error`. Errors of our own say it themselves
    /// (`StatusError`); this only translates the framework's and the standard library's.
    static func apiError(from error: Error, requestId: String) -> GatewayError {
        switch error {
        case let e as GatewayError: return e
        case let e as any StatusError: return GatewayError(e.status, e.message, retryAfterSeconds: e.retryAfterSeconds)
        case let e as PluginError: return GatewayError(e)
        case let e as HTTPError:
            if e.status == .contentTooLarge { return GatewayError(.contentTooLarge, e.body ?? "request body is too large") }
            if e.status == .notFound { return GatewayError(.notFound, e.body ?? "no such route") }
            return GatewayError(e.status, e.body ?? e.status.reasonPhrase)
        case is NIOTooManyBytesError: return GatewayError(.contentTooLarge, "request body is too large")
        // A body the HTTP parser refused (a bad chunk size, say): the client's fault.
        case let e as HTTPParserError: return .badRequest("the request is malformed: \(e)")
        case let e as HTTPResponseError: return GatewayError(e.status, e.status.reasonPhrase)
        case let e as DecodingError: return .badRequest(PluginConfig.describe(e))
        default: return GatewayError(.internalServerError, "internal error (request id \(requestId))")
        }
    }
}

extension Request {
    /// The whole body, refused with 413 beyond `limit` bytes (at once when its
    /// Content-Length says so, before any of it is read).
    public func collectBody(limit: Int) async throws -> ByteBuffer {
        if let declared = headers[.contentLength].flatMap(Int.init), declared > limit {
            throw GatewayError(.contentTooLarge, "request body is larger than \(limit) bytes")
        }
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw GatewayError(.contentTooLarge, "request body is larger than \(limit) bytes")
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw GatewayError(.contentTooLarge, "request body is larger than \(limit) bytes")
        }
    }

    /// The body parsed as a JSON object of type T; bad JSON and missing fields are 400s
    /// that say what is wrong.
    public func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        let buffer = try await collectBody(limit: limit)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let e as DecodingError {
            throw GatewayError.badRequest(PluginConfig.describe(e))
        }
    }
}
