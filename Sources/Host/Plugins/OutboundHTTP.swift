import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PluginABI
import PluginKit
import Synchronization

/// The hosts outbound requests may reach. Entries are exact host names or addresses
/// (compared case-insensitively) or `*.example.com`, which matches subdomains of
/// example.com but not example.com itself.
public struct HostAllowList: Sendable, Equatable {
    public let entries: [String]

    public init(_ entries: [String]) {
        self.entries = entries.map { $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]")) }
    }

    public func allows(host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return entries.contains { entry in
            if entry.hasPrefix("*.") { return h.hasSuffix(entry.dropFirst(1)) && h.count > entry.count - 1 }
            return h == entry
        }
    }

    /// Checks an absolute http(s) URL; the error says what to configure.
    public func check(url: String) throws(PluginError) -> URL {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = parsed.host, !host.isEmpty
        else {
            throw PluginError(status: GW_INVALID_ARGUMENT, "not an absolute http(s) URL: \(OutboundHTTP.shown(url))")
        }
        guard allows(host: host) else {
            throw PluginError(
                status: GW_DENIED,
                "host '\(host)' is not in the allow-list (http.allowHosts / GATEWAY_HTTP_ALLOW_HOSTS)")
        }
        return parsed
    }
}

/// The gateway's own demo page (seed 002's `/demo/page`) on the port it listens on: the one
/// address reachable without an allow-list entry, so the seed's demo export works on the
/// embedded defaults, which allow no other host (loopback services included).
public final class OwnDemoPage: Sendable {
    private let port = Atomic<Int>(0)

    public init() {}

    /// Called once the server listens.
    public func listening(on port: Int) { self.port.store(port, ordering: .relaxed) }

    public func matches(_ url: URL) -> Bool {
        let port = port.load(ordering: .relaxed)
        guard port > 0, url.scheme?.lowercased() == "http", url.port == port, url.path == "/demo/page",
            let host = url.host?.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        else { return false }
        return host == "127.0.0.1" || host == "localhost" || host == "::1"
    }
}

/// HTTP requests performed by the host for plugins: allow-list, timeouts, a cap on
/// concurrent requests, a cap on response size, and cancellation.
///
/// `perform` blocks its thread until the answer is complete: plugin code calls it from the
/// host's worker threads, never from an event loop.
public final class OutboundHTTP: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
    }

    public let allowList: HostAllowList
    public let ownDemoPage = OwnDemoPage()
    let client: HTTPClient
    let defaultTimeout: TimeAmount
    let maxTimeout: TimeAmount
    let maxResponseBytes: Int
    let slots: DispatchSemaphore

    public init(config: GatewayConfig.Outbound) {
        allowList = HostAllowList(config.allowHosts)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow  // a redirect could leave the allow-list
        configuration.timeout.connect = .seconds(10)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defaultTimeout = .seconds(Int64(max(1, config.timeoutSeconds)))
        maxTimeout = .seconds(Int64(max(1, config.maxTimeoutSeconds)))
        maxResponseBytes = max(1024, config.maxResponseBytes)
        // Start at 0 and signal (libdispatch traps on freeing a semaphore below its start value).
        slots = DispatchSemaphore(value: 0)
        for _ in 0..<max(1, config.maxConcurrent) { slots.signal() }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    // The client must be shut down before it goes; this one is owned by nobody else.
    // (A second shutdown after `shutdown()` only fails quietly.)
    deinit { _ = client.shutdown() }

    /// Performs one request on behalf of `context` (for cancellation).
    public func perform(
        method: String, url: String, headers: [(String, String)], body: [UInt8],
        timeoutMilliseconds: UInt32, context: InstanceContext?
    ) throws(PluginError) -> Response {
        _ = try check(url: url)
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(
                url: url, method: HTTPMethod(rawValue: method.uppercased()),
                headers: HTTPHeaders(headers), body: body.isEmpty ? nil : .bytes(body))
        } catch {
            throw PluginError(status: GW_INVALID_ARGUMENT, "bad request for \(Self.shown(url)): \(error)")
        }
        let timeout =
            timeoutMilliseconds == 0
            ? defaultTimeout : min(.milliseconds(Int64(timeoutMilliseconds)), maxTimeout)

        try acquireSlot(context: context)
        defer { slots.signal() }
        if context?.isCancelled == true { throw PluginError.cancelled }

        let task = client.execute(
            request: request, delegate: ResponseAccumulator(request: request, maxBodySize: maxResponseBytes),
            deadline: .now() + timeout)
        let started = Date()
        var status = "error"
        defer { GatewayMetrics.outbound(host: request.host, status: status, seconds: Date().timeIntervalSince(started)) }
        do {
            let response: HTTPClient.Response
            if let context {
                response = try context.whileRunning(onCancel: { task.cancel() }) { try task.futureResult.wait() }
            } else {
                response = try task.futureResult.wait()
            }
            status = String(response.status.code)
            var bytes: [UInt8] = []
            if var buffer = response.body { bytes = buffer.readBytes(length: buffer.readableBytes) ?? [] }
            return Response(
                status: Int(response.status.code),
                headers: response.headers.map { ($0.name.lowercased(), $0.value) }, body: bytes)
        } catch {
            if context?.isCancelled == true { throw PluginError.cancelled }
            // The detail (refused, reset, timed out) stays in the log: told to a client it
            // would map which ports of a host are open.
            context?.logger.info("outbound request failed", metadata: ["url": "\(Self.shown(url))", "error": "\(error)"])
            throw Self.describe(error, url: url)
        }
    }

    /// The URL if the allow-list (or the gateway's own demo page) admits it.
    public func check(url: String) throws(PluginError) -> URL {
        if let parsed = URL(string: url), ownDemoPage.matches(parsed) { return parsed }
        return try allowList.check(url: url)
    }

    /// Waits for one of the concurrent-request slots, giving up when cancelled.
    private func acquireSlot(context: InstanceContext?) throws(PluginError) {
        while slots.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
            if context?.isCancelled == true { throw PluginError.cancelled }
        }
    }

    private static func describe(_ error: Error, url: String) -> PluginError {
        if let e = error as? HTTPClientError, e == .cancelled { return PluginError.cancelled }
        let shown = shown(url)
        if error is ResponseAccumulator.ResponseTooBigError {
            return PluginError(status: GW_UNAVAILABLE, "response from \(shown) is larger than http.maxResponseBytes")
        }
        return PluginError(status: GW_UNAVAILABLE, "request to \(shown) failed: no answer (unreachable, refused or timed out)")
    }

    /// A URL as errors and logs may show it: without its query, fragment and user info, where
    /// plugins put credentials (an API key, a signature, a token) that a client must not read.
    static func shown(_ url: String) -> String {
        guard var parts = URLComponents(string: url) else { return "(a URL)" }
        let hadQuery = parts.percentEncodedQuery != nil
        parts.percentEncodedQuery = nil
        parts.fragment = nil
        parts.user = nil
        parts.password = nil
        return (parts.string ?? "(a URL)") + (hadQuery ? "?…" : "")
    }
}
