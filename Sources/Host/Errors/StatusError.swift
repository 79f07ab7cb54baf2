import Foundation
import Hummingbird
import PluginKit

/// An error that knows what its client is told: the HTTP status and a message that says
/// what was wrong (never a stack trace). Domain errors conform where they are defined or
/// beside them in this folder; `EnvelopeMiddleware` only renders them in the route's
/// envelope, and services that record a failure for people (a run's message, a task's
/// reason) take the same message through `failureMessage`.
public protocol StatusError: HTTPResponseError, CustomStringConvertible {
    var message: String { get }
    /// Sent as `Retry-After` (429 and 503 answers that will pass).
    var retryAfterSeconds: Int? { get }
}

extension StatusError {
    public var message: String { description }
    public var retryAfterSeconds: Int? { nil }
}

/// An error whose message says what went wrong, without a status of its own (a failed
/// SQLite statement: the status depends on who ran it).
public protocol MessageError: Error {
    var message: String { get }
}

/// What a failure says to people, wherever it is recorded: the message of an error that
/// knows its status, else the error as it describes itself.
func failureMessage(_ error: Error) -> String {
    switch error {
    case let known as any StatusError: known.message
    case let plugin as PluginError: pluginMessage(plugin)
    case let plain as any MessageError: plain.message
    default: "\(error)"
    }
}
