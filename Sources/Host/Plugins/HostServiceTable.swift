import Glibc
import Logging
import PluginABI
import PluginKit

/// The `gw_host_api` table handed to every plugin: one per process, never freed.
enum HostServiceTable {
    /// @unchecked Sendable: the table is written once, here, and only read afterwards.
    struct Pointer: @unchecked Sendable {
        let value: UnsafePointer<gw_host_api>
    }

    static let shared: Pointer = {
        let table = UnsafeMutablePointer<gw_host_api>.allocate(capacity: 1)
        table.initialize(
            to: gw_host_api(
                struct_size: UInt32(MemoryLayout<gw_host_api>.size),
                abi_major: UInt16(GW_ABI_MAJOR), abi_minor: UInt16(GW_ABI_MINOR),
                log: hostLog, http_request: hostHTTPRequest, http_response_release: hostHTTPResponseRelease,
                state_get: hostStateGet, state_set: hostStateSet, state_delete: hostStateDelete,
                bytes_release: hostBytesRelease, progress: hostProgress, is_cancelled: hostIsCancelled,
                shared_lock: hostSharedLock, shared_unlock: hostSharedUnlock,
                shared_state_get: hostSharedStateGet, shared_state_set: hostSharedStateSet, pace: hostPace,
                reject_row: hostRejectRow))
        return Pointer(value: UnsafePointer(table))
    }()
}

private func hostLog(_ ctx: OpaquePointer?, _ level: Int32, _ message: UnsafePointer<CChar>?) {
    guard let context = InstanceContext.from(ctx), let message else { return }
    let line = String(cString: message)
    let text = Logger.Message(stringLiteral: line)
    if level >= GW_LOG_INFO { context.logged(level: level, line) }
    switch level {
    case GW_LOG_DEBUG: context.logger.debug(text)
    case GW_LOG_WARNING: context.logger.warning(text)
    case GW_LOG_ERROR: context.logger.error(text)
    default: context.logger.info(text)
    }
}

private func hostIsCancelled(_ ctx: OpaquePointer?) -> Int32 {
    (InstanceContext.from(ctx)?.isCancelled ?? false) ? 1 : 0
}

private func hostProgress(_ ctx: OpaquePointer?, _ done: Int64, _ total: Int64, _ message: UnsafePointer<CChar>?) {
    InstanceContext.from(ctx)?.report(.init(done: done, total: total, message: message.map { String(cString: $0) }))
}

private func hostRejectRow(_ ctx: OpaquePointer?, _ row: Int64, _ reason: UnsafePointer<CChar>?) {
    guard let context = InstanceContext.from(ctx) else { return }
    // A reason is one log line: bounded, whatever the destination answered.
    let text = (reason.map { String(cString: $0) } ?? "(no reason given)").bounded(toUTF8Bytes: 1_000)
    context.rejected(row: row, reason: text)
}

// MARK: HTTP

/// Owns the C copies of one response until the plugin releases it.
private final class ResponseHolder {
    let headers: UnsafeMutablePointer<gw_http_header>
    let strings: [UnsafeMutablePointer<CChar>]
    let body: UnsafeMutablePointer<UInt8>

    init(_ response: OutboundHTTP.Response) {
        headers = .allocate(capacity: max(1, response.headers.count))
        var strings: [UnsafeMutablePointer<CChar>] = []
        for (i, h) in response.headers.enumerated() {
            let name = strdup(h.name)!
            let value = strdup(h.value)!
            strings += [name, value]
            headers[i] = gw_http_header(name: name, value: value)
        }
        self.strings = strings
        body = .allocate(capacity: max(1, response.body.count))
        response.body.withUnsafeBufferPointer { body.update(from: $0.baseAddress!, count: $0.count) }
    }

    deinit {
        strings.forEach { free($0) }
        headers.deallocate()
        body.deallocate()
    }
}

private func hostHTTPRequest(
    _ ctx: OpaquePointer?, _ request: UnsafePointer<gw_http_request>?,
    _ out: UnsafeMutablePointer<gw_http_response>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    guard let context = InstanceContext.from(ctx), let request, let out else {
        writeError("http_request needs a context, a request and an output", into: err)
        return GW_INVALID_ARGUMENT
    }
    let r = request.pointee
    guard r.struct_size >= UInt32(MemoryLayout<gw_http_request>.size), let method = r.method, let url = r.url else {
        writeError("http_request: request without method or url, or struct_size too small", into: err)
        return GW_INVALID_ARGUMENT
    }
    // size_t arrives as Int: a plugin's garbage count must not make a trapping range.
    guard r.n_headers >= 0, r.n_headers <= 10_000, r.n_headers == 0 || r.headers != nil, r.body_len >= 0 else {
        writeError("http_request: n_headers must be 0 to 10000 with a headers array, body_len not negative", into: err)
        return GW_INVALID_ARGUMENT
    }
    var headers: [(String, String)] = []
    for i in 0..<r.n_headers {
        guard let h = r.headers?[i], let name = h.name, let value = h.value else { continue }
        headers.append((String(cString: name), String(cString: value)))
    }
    let body = r.body_len > 0 && r.body != nil ? Array(UnsafeBufferPointer(start: r.body, count: r.body_len)) : []
    do {
        let response = try context.services.http.perform(
            method: String(cString: method), url: String(cString: url), headers: headers, body: body,
            timeoutMilliseconds: r.timeout_ms, context: context)
        let holder = ResponseHolder(response)
        out.pointee = gw_http_response(
            status_code: Int32(response.status), headers: UnsafePointer(holder.headers),
            n_headers: response.headers.count, body: UnsafePointer(holder.body), body_len: response.body.count,
            host_private: Unmanaged.passRetained(holder).toOpaque())
        return GW_OK
    } catch {
        writeError(error.message, into: err)
        return error.status
    }
}

private func hostHTTPResponseRelease(_ response: UnsafeMutablePointer<gw_http_response>?) {
    guard let response, let holder = response.pointee.host_private else { return }
    response.pointee = gw_http_response()
    Unmanaged<ResponseHolder>.fromOpaque(holder).release()
}

// MARK: state

final class BytesHolder {
    let bytes: UnsafeMutablePointer<UInt8>
    init(_ value: [UInt8]) {
        bytes = .allocate(capacity: max(1, value.count))
        value.withUnsafeBufferPointer { if let b = $0.baseAddress { bytes.update(from: b, count: $0.count) } }
    }
    deinit { bytes.deallocate() }
}

/// Validates the key and runs a state operation, turning failures into a status.
func withStateKey(
    _ ctx: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ err: UnsafeMutablePointer<gw_error>?,
    _ body: (InstanceContext, String) throws -> gw_status
) -> gw_status {
    guard let context = InstanceContext.from(ctx), let key else {
        writeError("state: no context or key", into: err)
        return GW_INVALID_ARGUMENT
    }
    let k = String(cString: key)
    guard !k.isEmpty, k.utf8.count <= 255 else {
        writeError("state keys are 1 to 255 bytes", into: err)
        return GW_INVALID_ARGUMENT
    }
    do {
        return try body(context, k)
    } catch {
        writeError("state store failed: \(error)", into: err)
        return GW_IO
    }
}

private func hostStateGet(
    _ ctx: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<gw_bytes>?,
    _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    withStateKey(ctx, key, err) { context, k in
        guard let out else { return GW_INVALID_ARGUMENT }
        guard let value = try context.services.store.pluginState(plugin: context.pluginId, instance: context.instanceName, key: k) else {
            return GW_NOT_FOUND
        }
        let holder = BytesHolder(value)
        out.pointee = gw_bytes(
            data: UnsafePointer(holder.bytes), len: value.count,
            host_private: Unmanaged.passRetained(holder).toOpaque())
        return GW_OK
    }
}

private func hostStateSet(
    _ ctx: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafePointer<UInt8>?, _ len: Int,
    _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    withStateKey(ctx, key, err) { context, k in
        let bytes = len > 0 && value != nil ? Array(UnsafeBufferPointer(start: value, count: len)) : []
        try context.services.store.setPluginState(plugin: context.pluginId, instance: context.instanceName, key: k, value: bytes)
        return GW_OK
    }
}

private func hostStateDelete(_ ctx: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ err: UnsafeMutablePointer<gw_error>?) -> gw_status {
    withStateKey(ctx, key, err) { context, k in
        try context.services.store.deletePluginState(plugin: context.pluginId, instance: context.instanceName, key: k) ? GW_OK : GW_NOT_FOUND
    }
}

private func hostBytesRelease(_ bytes: UnsafeMutablePointer<gw_bytes>?) {
    guard let bytes, let holder = bytes.pointee.host_private else { return }
    bytes.pointee = gw_bytes()
    Unmanaged<BytesHolder>.fromOpaque(holder).release()
}

// MARK: shared by the instances of one plugin (ABI 1.1)

/// The instance name under which state shared by all of a plugin's instances is kept.
let sharedStateInstance = "*shared*"

private func hostSharedLock(_ ctx: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ timeoutMs: UInt32, _ err: UnsafeMutablePointer<gw_error>?) -> gw_status {
    guard let context = InstanceContext.from(ctx), let name else {
        writeError("shared_lock: no context or name", into: err)
        return GW_INVALID_ARGUMENT
    }
    let lockName = String(cString: name)
    switch context.services.coordination.lock(
        plugin: context.pluginId, name: lockName, timeout: Double(timeoutMs) / 1000,
        cancelled: { context.isCancelled })
    {
    case .acquired: return GW_OK
    case .cancelled:
        writeError("cancelled while waiting for the lock '\(lockName)'", into: err)
        return GW_CANCELLED
    case .timedOut:
        writeError("the lock '\(lockName)' stayed taken for \(timeoutMs) ms", into: err)
        return GW_UNAVAILABLE
    case .failed(let reason):
        writeError(reason, into: err)
        return GW_UNAVAILABLE
    }
}

private func hostSharedUnlock(_ ctx: OpaquePointer?, _ name: UnsafePointer<CChar>?) {
    guard let context = InstanceContext.from(ctx), let name else { return }
    context.services.coordination.unlock(plugin: context.pluginId, name: String(cString: name))
}

private func hostSharedStateGet(
    _ ctx: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<gw_bytes>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    withStateKey(ctx, key, err) { context, k in
        guard let out else { return GW_INVALID_ARGUMENT }
        guard let value = try context.services.store.pluginState(plugin: context.pluginId, instance: sharedStateInstance, key: k) else {
            return GW_NOT_FOUND
        }
        let holder = BytesHolder(value)
        out.pointee = gw_bytes(data: UnsafePointer(holder.bytes), len: value.count, host_private: Unmanaged.passRetained(holder).toOpaque())
        return GW_OK
    }
}

private func hostSharedStateSet(
    _ ctx: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafePointer<UInt8>?, _ len: Int, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    withStateKey(ctx, key, err) { context, k in
        let bytes = len > 0 && value != nil ? Array(UnsafeBufferPointer(start: value, count: len)) : []
        try context.services.store.setPluginState(plugin: context.pluginId, instance: sharedStateInstance, key: k, value: bytes)
        return GW_OK
    }
}

private func hostPace(
    _ ctx: OpaquePointer?, _ bucket: UnsafePointer<CChar>?, _ perSecond: UInt32, _ perMinute: UInt32, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    guard let context = InstanceContext.from(ctx), let bucket else {
        writeError("pace: no context or bucket", into: err)
        return GW_INVALID_ARGUMENT
    }
    switch context.services.coordination.pace(
        plugin: context.pluginId, bucket: String(cString: bucket),
        perSecond: Int(perSecond), perMinute: Int(perMinute), cancelled: { context.isCancelled })
    {
    case .counted: return GW_OK
    case .cancelled:
        writeError("cancelled while pacing", into: err)
        return GW_CANCELLED
    case .failed(let reason):
        writeError(reason, into: err)
        return GW_UNAVAILABLE
    }
}
