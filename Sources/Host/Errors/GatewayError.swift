import Foundation
import Hummingbird

/// A failure with its status chosen where it happens ("no export task 'x'" is a 404 where
/// the task is looked up), for the cases no more specific error type names.
public struct GatewayError: StatusError, Sendable {
    public let status: HTTPResponse.Status
    public let message: String
    public let retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(status.code) \(message)" }

    public static func badRequest(_ m: String) -> GatewayError { GatewayError(.badRequest, m) }
    public static func notFound(_ m: String) -> GatewayError { GatewayError(.notFound, m) }
    public static func unauthorized(_ m: String) -> GatewayError { GatewayError(.unauthorized, m) }
    public static func forbidden(_ m: String) -> GatewayError { GatewayError(.forbidden, m) }
}
