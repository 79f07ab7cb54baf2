import Foundation
import Hummingbird
import PluginABI
import PluginKit
import Synchronization

/// The response envelopes of the seeds. Each route family declares its style; errors on
/// those routes come back in the same style, with the matching HTTP status.
public enum EnvelopeStyle: String, Sendable {
    /// Seed 000: `{"status": 200, "msg": "success"}`.
    case statusMsg
    /// Seed 000's file upload: `{"data": "message", "result": "success" | "error"}`.
    case dataResult
    /// Seed 002: `{"errcode": 0, "msg": "", "data": …, "request_id": "…"}`.
    case errcode
    /// Seed 004: `{"code": 200, "message": "…", "data": …}`.
    case codeMessage
    /// The gateway's own routes (admin, health): `{"data": …, "request_id": "…"}` or
    /// `{"error": {"status": 404, "message": "…"}, "request_id": "…"}`.
    case gateway
}

/// An error a route reports to its client: HTTP status plus a message that says what was
/// wrong, never a stack trace.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public let status: HTTPResponse.Status
    public let message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.code) \(message)" }

    public static func badRequest(_ m: String) -> APIError { APIError(.badRequest, m) }
    public static func notFound(_ m: String) -> APIError { APIError(.notFound, m) }
    public static func unauthorized(_ m: String) -> APIError { APIError(.unauthorized, m) }
    public static func forbidden(_ m: String) -> APIError { APIError(.forbidden, m) }

    /// The HTTP status for a plugin failure.
    public static func from(_ e: PluginError) -> APIError {
        let status: HTTPResponse.Status = switch e.status {
        case GW_INVALID_ARGUMENT, GW_INVALID_CONFIG: .badRequest
        case GW_NOT_FOUND: .notFound
        case GW_DENIED: .forbidden
        case GW_RATE_LIMITED: .tooManyRequests
        case GW_AUTH, GW_UNAVAILABLE: .badGateway
        case GW_UNSUPPORTED: .notImplemented
        case GW_CANCELLED: .serviceUnavailable
        default: .internalServerError
        }
        return APIError(status, e.message)
    }
}

enum Envelope {
    static func success<T: Encodable>(_ style: EnvelopeStyle, data: T?, message: String = "success", requestId: String) -> Response {
        switch style {
        case .statusMsg: json(.ok, StatusMsg(status: 200, msg: message))
        case .dataResult: json(.ok, DataResult(data: message, result: "success"))
        case .errcode: json(.ok, Errcode(errcode: 0, msg: "", data: data, request_id: requestId))
        case .codeMessage: json(.ok, CodeMessage(code: 200, message: message, data: data))
        case .gateway: json(.ok, GatewayData(data: data, request_id: requestId))
        }
    }

    static func error(_ style: EnvelopeStyle, _ error: APIError, requestId: String) -> Response {
        let code = Int(error.status.code)
        return switch style {
        case .statusMsg: json(error.status, StatusMsg(status: code, msg: error.message))
        case .dataResult: json(error.status, DataResult(data: error.message, result: "error"))
        case .errcode: json(error.status, Errcode<Int>(errcode: code, msg: error.message, data: nil, request_id: requestId))
        case .codeMessage: json(error.status, CodeMessage<Int>(code: code, message: error.message, data: nil))
        case .gateway: json(error.status, GatewayError(error: .init(status: code, message: error.message), request_id: requestId))
        }
    }

    static func json<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
        let encoder = JSONEncoder()
        // Keys in the order they are encoded: the seeds' envelopes list status before msg,
        // and a seed-002 header row's key order is its column order.
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"response encoding failed"}"#.utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private struct StatusMsg: Encodable { let status: Int; let msg: String }
    private struct DataResult: Encodable { let data: String; let result: String }
    private struct Errcode<T: Encodable>: Encodable {
        let errcode: Int; let msg: String; let data: T?; let request_id: String
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(errcode, forKey: .errcode)
            try c.encode(msg, forKey: .msg)
            try c.encode(data, forKey: .data)  // null rather than absent, as the seed shows
            try c.encode(request_id, forKey: .request_id)
        }
        enum CodingKeys: String, CodingKey { case errcode, msg, data, request_id }
    }
    private struct CodeMessage<T: Encodable>: Encodable {
        let code: Int; let message: String; let data: T?
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(code, forKey: .code)
            try c.encode(message, forKey: .message)
            try c.encode(data, forKey: .data)
        }
        enum CodingKeys: String, CodingKey { case code, message, data }
    }
    private struct GatewayData<T: Encodable>: Encodable { let data: T?; let request_id: String }
    private struct GatewayError: Encodable {
        struct Body: Encodable { let status: Int; let message: String }
        let error: Body; let request_id: String
    }
}

/// Which envelope a path uses, by the longest registered prefix. A reference type: the
/// envelope middleware is installed before the routes (Hummingbird applies middleware to
/// routes added after it) and sees the prefixes they register.
public final class EnvelopeStyles: Sendable {
    private let prefixes = Mutex<[(String, EnvelopeStyle)]>([])
    public let fallback: EnvelopeStyle

    public init(fallback: EnvelopeStyle = .gateway) { self.fallback = fallback }

    public func register(_ prefix: String, _ style: EnvelopeStyle) {
        prefixes.withLock {
            $0.append((prefix, style))
            $0.sort { $0.0.count > $1.0.count }
        }
    }

    public func style(for path: String) -> EnvelopeStyle {
        prefixes.withLock { list in
            list.first { path == $0.0 || path.hasPrefix($0.0.hasSuffix("/") ? $0.0 : $0.0 + "/") }?.1 ?? fallback
        }
    }
}
