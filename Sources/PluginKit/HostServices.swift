import Glibc
import PluginABI

/// Typed access to the host's service table on behalf of one plugin instance.
///
/// @unchecked Sendable: it holds two pointers owned by the host, the table (valid for the
/// whole process) and the instance context (valid until close); the ABI makes every
/// service thread-safe, so the value may be used from any thread while the instance lives.
public struct HostServices: @unchecked Sendable {
    public let api: UnsafePointer<gw_host_api>
    public let ctx: OpaquePointer?

    public init(api: UnsafePointer<gw_host_api>, ctx: OpaquePointer?) {
        self.api = api
        self.ctx = ctx
    }

    public enum LogLevel: Int32, Sendable {
        case debug = 0, info = 1, warning = 2, error = 3
    }

    public func log(_ level: LogLevel, _ message: String) {
        api.pointee.log?(ctx, level.rawValue, message)
    }

    public var isCancelled: Bool { (api.pointee.is_cancelled?(ctx) ?? 0) != 0 }

    /// Throws `PluginError.cancelled` once the host wants the work stopped.
    public func checkCancelled() throws {
        if isCancelled { throw PluginError.cancelled }
    }

    public func progress(done: Int64, total: Int64 = -1, message: String? = nil) {
        guard let report = api.pointee.progress else { return }
        if let message {
            report(ctx, done, total, message)
        } else {
            report(ctx, done, total, nil)
        }
    }

    // MARK: HTTP

    public struct HTTPResponse: Sendable {
        public var status: Int
        /// Header names in lower case.
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            let lower = name.lowercased()
            return headers.first(where: { $0.name == lower })?.value
        }
    }

    /// Performs an HTTP request through the host (which enforces its allow-list, timeouts
    /// and cancellation). Any HTTP status returns normally; transport failures throw.
    public func http(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeoutMilliseconds: UInt32 = 0
    ) throws -> HTTPResponse {
        guard let perform = api.pointee.http_request else {
            throw PluginError(status: GW_UNSUPPORTED, "the host offers no HTTP service")
        }
        var err = gw_error()
        var response = gw_http_response()
        let status: gw_status = withCStrings(headers.flatMap { [$0.0, $0.1] } + [method, url]) { cStrings in
            let headerList = (0..<headers.count).map {
                gw_http_header(name: cStrings[2 * $0], value: cStrings[2 * $0 + 1])
            }
            return headerList.withUnsafeBufferPointer { headerBuffer in
                body.withUnsafeBufferPointer { bodyBuffer in
                    var request = gw_http_request(
                        struct_size: UInt32(MemoryLayout<gw_http_request>.size),
                        method: cStrings[cStrings.count - 2], url: cStrings[cStrings.count - 1],
                        headers: headerBuffer.baseAddress, n_headers: headers.count,
                        body: bodyBuffer.baseAddress, body_len: body.count, timeout_ms: timeoutMilliseconds)
                    return perform(ctx, &request, &response, &err)
                }
            }
        }
        guard status == GW_OK else { throw PluginError(status: status, readError(&err)) }
        defer { api.pointee.http_response_release?(&response) }
        var out = HTTPResponse(status: Int(response.status_code), headers: [], body: [])
        for i in 0..<response.n_headers {
            let h = response.headers[i]
            out.headers.append((String(cString: h.name), String(cString: h.value)))
        }
        if response.body_len > 0, let bytes = response.body {
            out.body = Array(UnsafeBufferPointer(start: bytes, count: response.body_len))
        }
        return out
    }

    // MARK: shared by all instances of the plugin (ABI 1.1)

    /// True when the host's table reaches the field (a host of an older minor version has
    /// a shorter table).
    private func offers<T>(_ field: KeyPath<gw_host_api, T>) -> Bool {
        guard let offset = MemoryLayout<gw_host_api>.offset(of: field) else { return false }
        return offset + MemoryLayout<T>.size <= Int(api.pointee.struct_size)
    }

    private func requireABI11() throws {
        guard offers(\.pace) else {
            throw PluginError(status: GW_UNSUPPORTED, "this gateway speaks ABI 1.\(api.pointee.abi_minor); shared locks, state and pacing need 1.1")
        }
    }

    /// Runs `body` holding the lock `name`, shared by every instance of this plugin.
    public func withSharedLock<T>(_ name: String, timeoutMilliseconds: UInt32 = 60_000, _ body: () throws -> T) throws -> T {
        try requireABI11()
        var err = gw_error()
        let status = api.pointee.shared_lock!(ctx, name, timeoutMilliseconds, &err)
        guard status == GW_OK else { throw PluginError(status: status, readError(&err)) }
        defer { api.pointee.shared_unlock!(ctx, name) }
        return try body()
    }

    /// State shared by every instance of this plugin, or nil when absent.
    public func sharedState(_ key: String) throws -> [UInt8]? {
        try requireABI11()
        var err = gw_error()
        var bytes = gw_bytes()
        let status = api.pointee.shared_state_get!(ctx, key, &bytes, &err)
        if status == GW_NOT_FOUND { return nil }
        guard status == GW_OK else { throw PluginError(status: status, readError(&err)) }
        defer { api.pointee.bytes_release?(&bytes) }
        guard bytes.len > 0, let data = bytes.data else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: bytes.len))
    }

    public func setSharedState(_ key: String, _ value: [UInt8]) throws {
        try requireABI11()
        var err = gw_error()
        let status = value.withUnsafeBufferPointer { api.pointee.shared_state_set!(ctx, key, $0.baseAddress, $0.count, &err) }
        guard status == GW_OK else { throw PluginError(status: status, readError(&err)) }
    }

    /// Waits until one more call to a remote API fits its rate limits (counted across every
    /// instance of this plugin pacing on `bucket`).
    public func pace(bucket: String, perSecond: UInt32, perMinute: UInt32) throws {
        try requireABI11()
        var err = gw_error()
        let status = api.pointee.pace!(ctx, bucket, perSecond, perMinute, &err)
        guard status == GW_OK else { throw PluginError(status: status, readError(&err)) }
    }

    // MARK: sinks (ABI 1.2)

    /// Tells the host the destination refused one row (its position in the stream since
    /// begin, 0-based) while it took the others. On a host older than 1.2 the refusal is
    /// logged as a warning instead.
    public func rejectRow(_ row: Int64, reason: String) {
        guard offers(\.reject_row), let reject = api.pointee.reject_row else {
            log(.warning, "row \(row) refused by the destination: \(reason)")
            return
        }
        reject(ctx, row, reason)
    }

    // MARK: state

    /// The instance's persistent value for `key`, or nil when absent.
    public func state(_ key: String) throws -> [UInt8]? {
        guard let get = api.pointee.state_get else { return nil }
        var err = gw_error()
        var bytes = gw_bytes()
        let status = get(ctx, key, &bytes, &err)
        if status == GW_NOT_FOUND { return nil }
        guard status == GW_OK else { throw PluginError(status: status, readError(&err)) }
        defer { api.pointee.bytes_release?(&bytes) }
        guard bytes.len > 0, let data = bytes.data else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: bytes.len))
    }

    public func setState(_ key: String, _ value: [UInt8]) throws {
        guard let set = api.pointee.state_set else {
            throw PluginError(status: GW_UNSUPPORTED, "the host offers no state service")
        }
        var err = gw_error()
        let status = value.withUnsafeBufferPointer { set(ctx, key, $0.baseAddress, $0.count, &err) }
        guard status == GW_OK else { throw PluginError(status: status, readError(&err)) }
    }

    public func deleteState(_ key: String) throws {
        guard let delete = api.pointee.state_delete else { return }
        var err = gw_error()
        let status = delete(ctx, key, &err)
        guard status == GW_OK || status == GW_NOT_FOUND else { throw PluginError(status: status, readError(&err)) }
    }
}

/// Runs `body` with NUL-terminated copies of `strings` that live for the call.
func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>]) throws -> R) rethrows -> R {
    let copies = strings.map { strdup($0)! }
    defer { copies.forEach { free($0) } }
    return try body(copies.map { UnsafePointer($0) })
}
