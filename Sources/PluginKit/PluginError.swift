import Glibc
import PluginABI

/// A status code of the ABI with its message: what crosses the boundary when something
/// fails. Swift code throws it; `barrier` turns any thrown error into one.
public struct PluginError: Error, CustomStringConvertible, Sendable {
    public let status: gw_status
    public let message: String

    public init(status: gw_status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// Wraps any error: a PluginError keeps its status, an Arrow error is an invalid
    /// argument, anything else is internal.
    public init(_ error: Error) {
        switch error {
        case let e as PluginError: self = e
        case let e as ArrowError: self.init(status: GW_INVALID_ARGUMENT, e.description)
        default: self.init(status: GW_INTERNAL, String(describing: error))
        }
    }

    public static func invalidConfig(_ m: String) -> PluginError { .init(status: GW_INVALID_CONFIG, m) }
    public static func invalidArgument(_ m: String) -> PluginError { .init(status: GW_INVALID_ARGUMENT, m) }
    public static func unavailable(_ m: String) -> PluginError { .init(status: GW_UNAVAILABLE, m) }
    public static func internalError(_ m: String) -> PluginError { .init(status: GW_INTERNAL, m) }
    public static let cancelled = PluginError(status: GW_CANCELLED, "cancelled")

    public var description: String { "\(PluginError.name(of: status)): \(message)" }

    /// The stable name of a status code, as the docs and the host's messages spell it.
    public static func name(of status: gw_status) -> String {
        switch status {
        case GW_OK: "ok"
        case GW_INVALID_ARGUMENT: "invalid argument"
        case GW_INVALID_CONFIG: "invalid config"
        case GW_AUTH: "auth"
        case GW_RATE_LIMITED: "rate limited"
        case GW_UNAVAILABLE: "unavailable"
        case GW_NOT_FOUND: "not found"
        case GW_CANCELLED: "cancelled"
        case GW_UNSUPPORTED: "unsupported"
        case GW_DENIED: "denied"
        case GW_IO: "io"
        case GW_INTERNAL: "internal"
        default: "status \(status)"
        }
    }

    /// An ArrowArrayStream reports failures as errno values; these two maps keep the
    /// status across that hop.
    public var errnoCode: Int32 {
        switch status {
        case GW_CANCELLED: ECANCELED
        case GW_INVALID_ARGUMENT, GW_INVALID_CONFIG: EINVAL
        case GW_UNAVAILABLE, GW_RATE_LIMITED: EAGAIN
        case GW_AUTH, GW_DENIED: EACCES
        case GW_NOT_FOUND: ENOENT
        case GW_UNSUPPORTED: ENOTSUP
        default: EIO
        }
    }

    public static func status(forErrno code: Int32) -> gw_status {
        switch code {
        case ECANCELED: GW_CANCELLED
        case EINVAL: GW_INVALID_ARGUMENT
        case EAGAIN: GW_UNAVAILABLE
        case EACCES: GW_DENIED
        case ENOENT: GW_NOT_FOUND
        case ENOTSUP: GW_UNSUPPORTED
        case EIO: GW_IO
        default: GW_INTERNAL
        }
    }
}

/// Writes `message` into a caller-allocated gw_error, truncated at a UTF-8 boundary.
public func writeError(_ message: String, into err: UnsafeMutablePointer<gw_error>?) {
    guard let err else { return }
    let capacity = Int(GW_ERROR_MESSAGE_SIZE) - 1
    var bytes = Array(message.utf8.prefix(capacity))
    // Never cut a multi-byte character in half.
    if bytes.count == capacity {
        while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }
        if let last = bytes.last, last >= 0xC0 { bytes.removeLast() }
    }
    withUnsafeMutableBytes(of: &err.pointee.message) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
}

/// Reads the message a callee wrote into a gw_error.
public func readError(_ err: UnsafePointer<gw_error>) -> String {
    withUnsafeBytes(of: err.pointee.message) { raw in
        let bytes = raw.prefix(while: { $0 != 0 })
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The barrier every C entry point of a Swift plugin goes through: runs `body` and turns a
/// thrown error into its status code plus message, so no Swift error crosses the ABI.
public func barrier(_ err: UnsafeMutablePointer<gw_error>?, _ body: () throws -> Void) -> gw_status {
    do {
        try body()
        return GW_OK
    } catch {
        let e = PluginError(error)
        writeError(e.message, into: err)
        return e.status == GW_OK ? GW_INTERNAL : e.status
    }
}
