import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PluginABI
import PluginKit

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
            throw PluginError(status: GW_INVALID_ARGUMENT, "not an absolute http(s) URL: \(url)")
        }
        guard allows(host: host) else {
            throw PluginError(status: GW_DENIED,
                "host '\(host)' is not in the allow-list (http.allowHosts / GATEWAY_HTTP_ALLOW_HOSTS)")
        }
        return parsed
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
    let client: HTTPClient
    let defaultTimeout: TimeAmount
    let maxTimeout: TimeAmount
    let maxResponseBytes: Int
    let slots: DispatchSemaphore

    public init(config: GatewayConfig.OutboundHTTP) {
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
        _ = try allowList.check(url: url)
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(
                url: url, method: HTTPMethod(rawValue: method.uppercased()),
                headers: HTTPHeaders(headers), body: body.isEmpty ? nil : .bytes(body))
        } catch {
            throw PluginError(status: GW_INVALID_ARGUMENT, "bad request for \(url): \(error)")
        }
        let timeout = timeoutMilliseconds == 0
            ? defaultTimeout : min(.milliseconds(Int64(timeoutMilliseconds)), maxTimeout)

        try acquireSlot(context: context)
        defer { slots.signal() }
        if context?.isCancelled == true { throw PluginError.cancelled }

        let task = client.execute(
            request: request, delegate: ResponseAccumulator(request: request, maxBodySize: maxResponseBytes),
            deadline: .now() + timeout)
        do {
            let response: HTTPClient.Response
            if let context {
                response = try context.whileRunning(onCancel: { task.cancel() }) { try task.futureResult.wait() }
            } else {
                response = try task.futureResult.wait()
            }
            var bytes: [UInt8] = []
            if var buffer = response.body { bytes = buffer.readBytes(length: buffer.readableBytes) ?? [] }
            return Response(
                status: Int(response.status.code),
                headers: response.headers.map { ($0.name.lowercased(), $0.value) }, body: bytes)
        } catch {
            if context?.isCancelled == true { throw PluginError.cancelled }
            throw Self.describe(error, url: url)
        }
    }

    /// Waits for one of the concurrent-request slots, giving up when cancelled.
    private func acquireSlot(context: InstanceContext?) throws(PluginError) {
        while slots.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
            if context?.isCancelled == true { throw PluginError.cancelled }
        }
    }

    private static func describe(_ error: Error, url: String) -> PluginError {
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .connectTimeout:
                return PluginError(status: GW_UNAVAILABLE, "timed out: \(url)")
            case .cancelled:
                return PluginError.cancelled
            default:
                return PluginError(status: GW_UNAVAILABLE, "request to \(url) failed: \(e)")
            }
        }
        if error is ResponseAccumulator.ResponseTooBigError {
            return PluginError(status: GW_UNAVAILABLE, "response from \(url) is larger than http.maxResponseBytes")
        }
        return PluginError(status: GW_UNAVAILABLE, "request to \(url) failed: \(error)")
    }
}
