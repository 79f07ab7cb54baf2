import Foundation
import Hummingbird
import PluginABI
import PluginKit

// The statuses of errors defined where HTTP is not known (PluginKit, the parsers), given
// here so that each is decided once.

extension GatewayError {
    /// The one place a plugin's status becomes a client's status.
    init(_ plugin: PluginError) {
        let status: HTTPResponse.Status =
            switch plugin.status {
            case GW_INVALID_ARGUMENT, GW_INVALID_CONFIG: .badRequest
            case GW_NOT_FOUND: .notFound
            case GW_DENIED: .forbidden
            case GW_RATE_LIMITED: .tooManyRequests
            case GW_AUTH, GW_UNAVAILABLE: .badGateway
            case GW_UNSUPPORTED: .notImplemented
            case GW_CANCELLED: .serviceUnavailable
            default: .internalServerError
            }
        self.init(status, pluginMessage(plugin))
    }
}

/// A plugin that gave no message is described by its status's name.
func pluginMessage(_ plugin: PluginError) -> String {
    plugin.message.isEmpty ? PluginError.name(of: plugin.status) : plugin.message
}

/// Data a source produced that the output cannot hold: the server's failure, said plainly.
extension TimeOutOfRange: StatusError {
    public var status: HTTPResponse.Status { .internalServerError }
    public var message: String { "the data cannot be written: \(description)" }
}

extension ArrowError: StatusError {
    public var status: HTTPResponse.Status { .internalServerError }
    public var message: String { "the data cannot be written: \(description)" }
}
