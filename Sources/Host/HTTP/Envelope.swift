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

extension HTTPResponse.Status {
    /// 507: the server cannot store what the request carries (its disk is full).
    static var insufficientStorage: Self { .init(code: 507, reasonPhrase: "Insufficient Storage") }
}

/// Writes the envelopes with their keys in the seeds' order (`status` before `msg`, …):
/// JSONEncoder does not keep key order on Linux, so the envelope is assembled here and only
/// the `data` payload is encoded (sorted, for stable output).
enum Envelope {
    static func success<T: Encodable>(_ style: EnvelopeStyle, data: T?, message: String = "success", requestId: String) -> Response {
        successRaw(style, data: encode(data), message: message, requestId: requestId)
    }

    /// `data` is JSON text already, for payloads whose key order matters (seed 002's header row).
    static func successRaw(_ style: EnvelopeStyle, data: String, message: String = "success", requestId: String) -> Response {
        let body: String =
            switch style {
            case .statusMsg: #"{"status":200,"msg":\#(quote(message))}"#
            case .dataResult: #"{"data":\#(quote(message)),"result":"success"}"#
            case .errcode: #"{"errcode":0,"msg":"","data":\#(data),"request_id":\#(quote(requestId))}"#
            case .codeMessage: #"{"code":200,"message":\#(quote(message)),"data":\#(data)}"#
            case .gateway: #"{"data":\#(data),"request_id":\#(quote(requestId))}"#
            }
        return json(.ok, body)
    }

    static func error(_ style: EnvelopeStyle, _ error: GatewayError, requestId: String) -> Response {
        var response = json(error.status, errorBody(style, error, requestId: requestId))
        if let seconds = error.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
        return response
    }

    /// The JSON text of an error in `style`'s envelope.
    static func errorBody(_ style: EnvelopeStyle, _ error: GatewayError, requestId: String) -> String {
        let code = Int(error.status.code), message = quote(error.message), id = quote(requestId)
        return switch style {
        case .statusMsg: #"{"status":\#(code),"msg":\#(message)}"#
        case .dataResult: #"{"data":\#(message),"result":"error"}"#
        case .errcode: #"{"errcode":\#(code),"msg":\#(message),"data":null,"request_id":\#(id)}"#
        case .codeMessage: #"{"code":\#(code),"message":\#(message),"data":null}"#
        case .gateway: #"{"error":{"status":\#(code),"message":\#(message)},"request_id":\#(id)}"#
        }
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return e
    }()

    private static func encode<T: Encodable>(_ value: T?) -> String {
        guard let value, let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    static func quote(_ s: String) -> String {
        encode(s)
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

extension StatusError {
    /// Outside the gateway's middleware (which renders the route family's envelope),
    /// Hummingbird renders the gateway's own style.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Envelope.error(.gateway, GatewayError(status, message, retryAfterSeconds: retryAfterSeconds), requestId: "")
    }
}
