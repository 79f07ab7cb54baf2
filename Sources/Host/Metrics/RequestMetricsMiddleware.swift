import Dispatch
import HTTPTypes
import Hummingbird
import Metrics
import Synchronization

/// Request metrics with the names and dimensions of Hummingbird's `MetricsMiddleware`
/// (`hb_requests`, `http_server_request_duration`, `http_server_active_requests`,
/// `hb_request_errors`), written here because that one wraps every response body in a
/// closure to record after the write: a fixed-length response (head, body and end, which
/// Hummingbird writes in one go) then went out as the head alone and the rest after it, two
/// writes and flushes instead of one, about 10 of a /healthz's 40 µs of CPU (perf,
/// bench/small_requests.py). A small fixed body is recorded when the handler returns; a
/// streamed or large one is still wrapped, so its duration ends when it is written.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Bodies up to this size are recorded without waiting for their write.
    static var smallBody: Int { 64 << 10 }

    private let cache: RequestMetricsCache

    /// `factory`: where the metrics go (the process's, as bootstrapped, unless a test says).
    init(factory: any MetricsFactory = MetricsSystem.factory) {
        cache = RequestMetricsCache(factory: factory)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let active = cache.active(request.method)
        active.increment()
        do {
            var response = try await next(request, context)
            let endpoint = cache.endpoint(route: context.endpointPath ?? "Unknown", method: request.method, status: response.status)
            let record: @Sendable () -> Void = {
                endpoint.counter.increment()
                endpoint.timer.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - started)
                active.decrement()
            }
            if let length = response.body.contentLength, length <= Self.smallBody {
                record()
                return response
            }
            let body = response.body
            response.body = ResponseBody(contentLength: body.contentLength) { writer in
                defer { record() }
                try await body.write(writer)
            }
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let endpoint = cache.endpoint(route: context.endpointPath ?? "NotFound", method: request.method, status: status)
            endpoint.counter.increment()
            endpoint.errorCounter.increment()
            active.decrement()
            throw error
        }
    }
}

/// The metrics of each method and endpoint, made once: a metrics factory's lookup by label
/// and dimensions on every request would cost more than the recording.
final class RequestMetricsCache: Sendable {
    struct Endpoint: Sendable {
        let counter: Counter
        let timer: Timer
        let errorCounter: Counter
    }

    private struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: HTTPResponse.Status
    }

    private let factory: any MetricsFactory
    private let methods = Mutex<[HTTPRequest.Method: Meter]>([:])
    private let endpoints = Mutex<[Key: Endpoint]>([:])

    init(factory: any MetricsFactory) { self.factory = factory }

    func active(_ method: HTTPRequest.Method) -> Meter {
        methods.withLock { known in
            if let meter = known[method] { return meter }
            let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.description)], factory: factory)
            known[method] = meter
            return meter
        }
    }

    func endpoint(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status) -> Endpoint {
        endpoints.withLock { known in
            let key = Key(route: route, method: method, status: status)
            if let endpoint = known[key] { return endpoint }
            let dimensions = [("http.route", route), ("http.request.method", method.description), ("http.response.status_code", status.code.description)]
            let endpoint = Endpoint(
                counter: Counter(label: "hb.requests", dimensions: dimensions, factory: factory),
                timer: Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory),
                errorCounter: Counter(
                    label: "hb.request.errors",
                    dimensions: [("http.route", route), ("http.request.method", method.description), ("error.type", status.code.description)],
                    factory: factory))
            known[key] = endpoint
            return endpoint
        }
    }
}
