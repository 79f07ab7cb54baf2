import Foundation
import Hummingbird

/// A problem with input that a person typed (a command-line value, a config entry, a
/// request field): a 400 when a request carried it.
public struct InvalidInput: StatusError, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
    public var status: HTTPResponse.Status { .badRequest }
}

/// A client's mistake in a flow's fields: a 400 in seed 004's words.
struct FlowInputError: StatusError {
    let description: String
    init(_ message: String) { description = message }
    var status: HTTPResponse.Status { .badRequest }
}
