import Metrics
import NIOCore
import PluginABI
import PluginKit

/// Rows serialized into an HTTP response body as they come, by the host's JSON writer or
/// a format plugin (its instance made by `SinkOpener`), through a ByteChannel that the response writer drains. For a
/// source that commits a cursor, committed when the response writer has written the last
/// chunk: only then may the source commit it.
final class ResponseBodySink: BatchSink {
    struct ClientGone: Error {}

    private let channel: ByteChannel
    /// What the client is told of a failure (the route's mapping, in the gateway's envelope).
    private let describe: @Sendable (Error) -> GatewayError
    private var json: JSONRowWriter?
    private var jsonBytes: Metrics.Counter?
    /// The format plugin's instance; nil for the host's JSON.
    private var formatter: (any FormatInstance)?
    /// Bytes went out: the response's status is sent, a failure can only be told in the body.
    private let started: Flag
    /// Commit only once the response writer has taken the last bytes, whatever the size (the
    /// source commits a cursor when the sink has committed).
    private let awaitDelivery: Bool

    init(
        formatter: (any FormatInstance)?, channel: ByteChannel, awaitDelivery: Bool, started: Flag,
        describe: @escaping @Sendable (Error) -> GatewayError
    ) {
        self.formatter = formatter
        self.channel = channel
        self.awaitDelivery = awaitDelivery
        self.started = started
        self.describe = describe
    }

    func begin(_ schema: OwnedSchema) throws {
        if let formatter { return try formatter.begin(schema) }
        let channel = channel, started = started
        let bytes = GatewayMetrics.responseBytes(format: "json")
        jsonBytes = bytes
        json = JSONRowWriter { chunk in
            bytes.increment(by: chunk.readableBytes)
            guard channel.send(chunk) else { throw ClientGone() }
            started.set()
        }
        json?.begin(schema.fields)
    }

    func write(_ batch: OwnedBatch) throws {
        if channel.isCancelled { throw ClientGone() }
        if let formatter { return try formatter.write(batch) }
        try json?.write(batch.view)
    }

    func commit() throws {
        try formatter?.finish()
        let last = json?.end() ?? ByteBuffer()
        jsonBytes?.increment(by: last.readableBytes)
        if !awaitDelivery {
            // The JSON's last bytes go with the end: a small result is then whole the moment
            // the response writer first looks, and leaves as one fixed-length response;
            // nothing is left to wait for (a larger one is a stream, and waits as streams do,
            // holding its request's slot until it is written).
            switch channel.endIfWhole(last: last, wholeLimit: Self.wholeLimit) {
            case .whole:
                started.set()
                return
            case .gone: throw ClientGone()
            case .streaming: break
            }
        }
        if last.readableBytes > 0 {
            guard channel.send(last) else { throw ClientGone() }
            started.set()
        }
        guard channel.finishAndWaitForDelivery() else { throw ClientGone() }
    }

    /// The largest result answered whole, without its worker waiting for it to be written.
    static let wholeLimit = 1 << 20

    /// A format plugin that can (ABI 1.3) writes the reason into its own stream, where its
    /// readers find it (the Arrow format: a last empty batch whose message metadata holds it).
    /// The JSON body's error line is written by the response writer, which sees every
    /// failure, this one and a run given up on alike (QueryStreaming).
    func failed(_ error: Error) {
        guard started.isSet, !channel.isCancelled, let formatter else { return }
        formatter.writeError(describe(error).message)
    }

    func abort() {
        json = nil
        formatter = nil
    }
}
