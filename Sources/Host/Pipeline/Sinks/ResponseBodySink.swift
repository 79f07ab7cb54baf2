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
    private var json: JSONRowWriter?
    private var formatter: FormatHandle?

    init(format: OutputFormat, channel: ByteChannel, services: HostServiceProvider, control: RunControl) {
        self.format = format
        self.channel = channel
        self.services = services
        self.control = control
    }

    func begin(_ schema: OwnedSchema) throws {
        let channel = channel
        switch format {
        case .json:
            let bytes = GatewayMetrics.responseBytes(format: "json")
            json = JSONRowWriter { chunk in
                bytes.increment(by: chunk.readableBytes)
                guard channel.send(chunk) else { throw ClientGone() }
            }
            json?.begin(schema.fields)
        case .plugin(let plugin, let config):
            let context = InstanceContext(pluginId: plugin.id, instanceName: "query", services: services)
            control.onStop { context.cancel() }
            let counted = GatewayMetrics.responseBytes(format: plugin.formatName ?? plugin.id)
            let handle = try PluginUseCheck.openingConfigured("format '\(plugin.formatName ?? plugin.id)'") { () throws(PluginError) in
                try FormatHandle(plugin: plugin, config: config, context: context) { bytes in
                    counted.increment(by: bytes.count)
                    return channel.send(ByteBuffer(bytes: bytes)) ? GW_OK : GW_CANCELLED
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

    func abort() {
        json = nil
        formatter = nil
    }
}
