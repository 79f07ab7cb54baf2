import Foundation
import Metrics
import Prometheus
import Synchronization

/// The gateway's metrics: recorded through swift-metrics everywhere (so the code that
/// counts never knows the backend), kept in one Prometheus registry, and served as text by
/// `GET /metrics`. Names follow Prometheus' conventions: `_total` counters, `_seconds`
/// histograms.
public enum GatewayMetrics {
    /// swift-metrics takes one backend per process, so every gateway in a process (the tests
    /// start many) shares this registry; it is bootstrapped on first use.
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
            .seconds(60), .seconds(300),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Makes sure the backend is in place before the first metric is created.
    static func start() { _ = registry }

    /// The Prometheus text exposition of every metric.
    public static func text() -> [UInt8] { registry.emitToBuffer() }

    /// One call into a plugin (open, read, write_batch, commit, …): its duration, and an
    /// error counted by status when it failed.
    static func pluginCall(plugin: String, kind: String, call: String, seconds: Double, failedStatus: String?) {
        let dimensions = [("plugin", plugin), ("kind", kind), ("call", call)]
        Timer(label: "gateway_plugin_call_duration_seconds", dimensions: dimensions).recordSeconds(seconds)
        if let failedStatus {
            Counter(label: "gateway_plugin_call_errors_total", dimensions: dimensions + [("status", failedStatus)]).increment()
        }
    }

    /// How long an admitted request waited for its slot (see RequestLimiter).
    static func admissionWait(seconds: Double) {
        admissionWaits.recordSeconds(seconds)
    }

    /// Made once: under a burst every request beyond a client's share records a wait.
    private static let admissionWaits = Timer(label: "gateway_admission_wait_seconds")

    /// A worker or run thread given up on: its work (a plugin call) did not return when
    /// told to stop. The thread stays blocked in the plugin; the gateway goes on without it.
    static func abandonedThread(kind: String) {
        Counter(label: "gateway_abandoned_threads_total", dimensions: [("kind", kind)]).increment()
    }

    /// A plugin worker process started (a kept idle one serves the next instance instead).
    static func workerStarted(plugin: String) {
        Counter(label: "gateway_plugin_worker_starts_total", dimensions: [("plugin", plugin)]).increment()
    }

    /// A plugin worker process that died on its own (a signal, an abort, an exit).
    static func workerCrashed(plugin: String) {
        Counter(label: "gateway_plugin_worker_crashes_total", dimensions: [("plugin", plugin)]).increment()
    }

    /// A plugin worker process killed because its call did not return after a cancel.
    static func workerKilled(plugin: String) {
        Counter(label: "gateway_plugin_worker_kills_total", dimensions: [("plugin", plugin)]).increment()
    }

    /// The two row counters of runs from one source type into one sink type.
    struct PipelineCounters: Sendable {
        let read: Metrics.Counter
        let written: Metrics.Counter

        /// Rows that went through one run of the pump, at each end.
        func record(read rows: Int64, written: Int64) {
            read.increment(by: Int(rows))
            self.written.increment(by: Int(written))
        }
    }

    /// Counters are made once per set of dimensions and kept: a registry lookup (its lock,
    /// the dimensions hashed, the type's name printed) cost a few percent of a small query.
    private static let pipelineCounters = Mutex<[PipelineKey: PipelineCounters]>([:])
    private static let responseCounters = Mutex<[String: Metrics.Counter]>([:])

    private struct PipelineKey: Hashable {
        let source: ObjectIdentifier
        let sink: ObjectIdentifier
    }

    static func pipeline(source: Any.Type, sink: Any.Type) -> PipelineCounters {
        let key = PipelineKey(source: ObjectIdentifier(source), sink: ObjectIdentifier(sink))
        if let known = pipelineCounters.withLock({ $0[key] }) { return known }
        let made = PipelineCounters(
            read: Metrics.Counter(label: "gateway_pipeline_rows_total", dimensions: [("end", "source"), ("type", String(describing: source))]),
            written: Metrics.Counter(label: "gateway_pipeline_rows_total", dimensions: [("end", "sink"), ("type", String(describing: sink))]))
        pipelineCounters.withLock { $0[key] = made }
        return made
    }

    /// Bytes of response bodies the pipeline serialized, by format: incremented per chunk.
    static func responseBytes(format: String) -> Metrics.Counter {
        if let known = responseCounters.withLock({ $0[format] }) { return known }
        let made = Metrics.Counter(label: "gateway_response_body_bytes_total", dimensions: [("format", format)])
        responseCounters.withLock { $0[format] = made }
        return made
    }

    /// An export task or a dataflow run that ended: `kind` "export" or "dataflow".
    static func runEnded(kind: String, outcome: String, seconds: Double) {
        Counter(label: "gateway_runs_total", dimensions: [("kind", kind), ("outcome", outcome)]).increment()
        Timer(label: "gateway_run_duration_seconds", dimensions: [("kind", kind), ("outcome", outcome)]).recordSeconds(seconds)
    }

    /// A request a plugin or a callback made: by host and status (a number, or "error" when
    /// there was no answer).
    static func outbound(host: String, status: String, seconds: Double) {
        Counter(label: "gateway_outbound_requests_total", dimensions: [("host", host), ("status", status)]).increment()
        Timer(label: "gateway_outbound_request_duration_seconds", dimensions: [("host", host)]).recordSeconds(seconds)
    }

    /// A plugin waited under a remote API's rate limit (host->pace()).
    static func rateLimitWait(plugin: String, seconds: Double) {
        Counter(label: "gateway_rate_limit_waits_total", dimensions: [("plugin", plugin)]).increment()
        Timer(label: "gateway_rate_limit_wait_seconds", dimensions: [("plugin", plugin)]).recordSeconds(seconds)
    }

    /// The store's PostgreSQL connections now open (set when one opens or closes, not per call).
    static func storeConnections(open: Int) {
        Gauge(label: "gateway_store_connections").record(open)
    }

    /// A connection to the store that could not be made (the server down, refused, slow).
    static func storeConnectFailed() {
        Counter(label: "gateway_store_connect_failures_total").increment()
    }

    /// Tasks or runs of a gateway that stopped, ended here when their claims ran out.
    static func claimsExpired(kind: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: "gateway_claims_expired_total", dimensions: [("kind", kind)]).increment(by: count)
    }

    /// A request refused because too many ran at once ("total" or "client").
    static func requestRefused(limit: String) {
        Counter(label: "gateway_requests_refused_total", dimensions: [("limit", limit)]).increment()
    }
}

extension Timer {
    /// Bounded before the conversion: a NaN or a clock jump must not trap the server.
    func recordSeconds(_ seconds: Double) {
        guard seconds.isFinite else { return }
        recordNanoseconds(Int64(max(0, min(seconds, 1e9)) * 1e9))
    }
}
