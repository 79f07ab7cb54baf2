import NIOCore
import PluginABI
import PluginKit

/// Rows serialized into an HTTP response body as they come, by the host's JSON writer or
/// a format plugin, through a ByteChannel that the response writer drains. Committed when
/// the response writer has written the last chunk: only then may a source commit its cursor.
final class ResponseBodySink: BatchSink {
    struct ClientGone: Error {}

    private let format: OutputFormat
    private let channel: ByteChannel
    private let services: HostServiceProvider
    private let control: RunControl
    /// What the client is told of a failure (the route's mapping, in the gateway's envelope).
    private let describe: @Sendable (Error) -> GatewayError
    private var json: JSONRowWriter?
    private var formatter: FormatHandle?
    /// Bytes went out: the response's status is sent, a failure can only be told in the body.
    private let started = Flag()

    init(format: OutputFormat, channel: ByteChannel, services: HostServiceProvider, control: RunControl,
         describe: @escaping @Sendable (Error) -> GatewayError) {
        self.format = format
        self.channel = channel
        self.services = services
        self.control = control
        self.describe = describe
    }

    func begin(_ schema: OwnedSchema) throws {
        let channel = channel, started = started
        switch format {
        case .json:
            let bytes = GatewayMetrics.responseBytes(format: "json")
            json = JSONRowWriter { chunk in
                bytes.increment(by: chunk.readableBytes)
                guard channel.send(chunk) else { throw ClientGone() }
                started.set()
            }
            json?.begin(schema.fields)
        case .plugin(let plugin, let config):
            let context = InstanceContext(pluginId: plugin.id, instanceName: "query", services: services)
            control.onStop { context.cancel() }
            let counted = GatewayMetrics.responseBytes(format: plugin.formatName ?? plugin.id)
            let handle = try PluginUseCheck.openingConfigured("format '\(plugin.formatName ?? plugin.id)'") { () throws(PluginError) in
                try FormatHandle(plugin: plugin, config: config, context: context) { bytes in
                    counted.increment(by: bytes.count)
                    guard channel.send(ByteBuffer(bytes: bytes)) else { return GW_CANCELLED }
                    started.set()
                    return GW_OK
                }
            }
            try handle.begin(schema)
            formatter = handle
        }
    }

    func write(_ batch: OwnedBatch) throws {
        if channel.isCancelled { throw ClientGone() }
        if let formatter { return try formatter.write(batch) }
        try json?.write(batch.view)
    }

    func commit() throws {
        try formatter?.finish()
        try json?.finish()
        guard channel.finishAndWaitForDelivery() else { throw ClientGone() }
    }

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
