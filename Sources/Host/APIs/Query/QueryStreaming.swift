import Foundation
import Hummingbird
import Logging
import NIOCore
import PluginABI
import PluginKit

/// A batch source handed from one worker thread to the next.
/// @unchecked Sendable: it is used by one thread at a time, in sequence.
final class SourceBox: @unchecked Sendable {
    let source: BatchSource
    init(_ source: BatchSource) { self.source = source }
}

/// The output end of the one data path: batches from a source, serialized as they come,
/// streamed to the client with back-pressure. Constant memory whatever the row count.
///
/// The response head waits for the first bytes: a failure before them (opening the source,
/// its first batch) is answered with its real status. A failure after them ends the
/// response without its last chunk (an aborted chunked body), so every HTTP client reports
/// an error instead of reading a short body as a whole one; a JSON body first gets one more
/// line, the error in the gateway's envelope, where a person reading what arrived finds why
/// it stops. (An HTTP trailer cannot carry it: trailers travel with the last chunk, which
/// would make the cut body look whole.)
enum QueryStreaming {
    struct Ends: Sendable {
        let format: OutputFormat
        let sinks: SinkOpener
        let control: RunControl
        /// At most this many rows (the query's RowLimit).
        let rowLimit: Int?
        /// Tells the client's error for a failure (the route's own mapping).
        let describe: @Sendable (Error) -> Error
    }

    static func response(
        _ ends: Ends, connection: any Channel, permit: RequestLimiter.Permit, requestId: String, logger: Logger,
        open: @escaping @Sendable () throws -> BatchSource
    ) async throws -> Response {
        let channel = ByteChannel()
        let control = ends.control
        control.onStop { channel.cancel() }
        // The client hanging up stops the work done for it, wherever it is.
        let watch = ConnectionWatch.shared.onClose(connection) { control.stop(.clientGone) }
        // The request's slot is held until the work returns, or is given up on.
        let held = HeldForWork(permit, watch)
        let job = Workers.submit {
            defer { held.release() }
            do {
                produce(try open(), ends, into: channel, requestId: requestId, logger: logger)
            } catch {
                channel.finish(error: ends.describe(error))
            }
        }
        // Stopped (deadline, client gone, shutdown) and still not back: a plugin deaf to
        // cancel. The client gets its answer now, and the slot and the worker are freed.
        StuckWork.watch(control, job: job, on: Workers.pool, kind: "query") { [weak control] in
            let reason = control?.error ?? GatewayError(.gatewayTimeout, "the query was stopped")
            channel.finish(error: reason)
            held.release()
            logger.warning(
                "the query's work had not returned \(StuckWork.grace) after it was stopped (\(reason.message)): given up on (a plugin call that ignores cancel?)"
            )
        }
        let first: ByteBuffer?
        do {
            first = try await channel.next()
        } catch {
            channel.cancel()
            throw error
        }
        let headers: HTTPFields = [.contentType: ends.format.contentType]
        // The whole result already made (a small one, most often): one fixed-length response,
        // written with its head in one go, instead of a chunked stream of head, chunk and end.
        if let rest = channel.takeRestIfEnded() {
            var whole = first ?? ByteBuffer()
            for var chunk in rest { whole.writeBuffer(&chunk) }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: whole))
        }
        let body = ResponseBody { writer in
            do {
                if let first { try await writer.write(first) }
                while let chunk = try await channel.next() { try await writer.write(chunk) }
            } catch {
                channel.cancel()
                logger.error("query stream ended early, the response is cut: \(error)")
                if case .json = ends.format {
                    let reason = EnvelopeMiddleware.apiError(from: error, requestId: requestId)
                    try? await writer.write(ByteBuffer(string: "\n" + Envelope.errorBody(.gateway, reason, requestId: requestId) + "\n"))
                }
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Runs on a worker: the pump reads every batch and the sink writes it out through the
    /// channel. A failure before the first byte becomes the response's status; after it,
    /// the cut body.
    private static func produce(_ source: BatchSource, _ ends: Ends, into channel: ByteChannel, requestId: String, logger: Logger) {
        let control = ends.control
        do {
            let sink = try ends.sinks.open(
                .responseBody(ends.format, channel: channel, control: control, awaitDelivery: source.commitsOnFinish) { error in
                    EnvelopeMiddleware.apiError(from: ends.describe(error), requestId: requestId)
                })
            let result = try Pump.run(
                source, into: sink,
                .init(
                    rowLimit: ends.rowLimit,
                    checkStop: {
                        if let stopped = control.error { throw stopped }
                    }))
            if let failure = result.finishFailure {
                logger.warning("the rows were delivered but the source could not commit its position; its next read repeats them: \(failure)")
            }
        } catch {
            channel.finish(error: ends.describe(error))
        }
    }
}
