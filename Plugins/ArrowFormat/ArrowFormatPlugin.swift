// arrow.ipc: the format plugin behind `format=arrow`. It serializes the host's batches as
// the Arrow IPC streaming format (application/vnd.apache.arrow.stream), batch by batch,
// so a response of any size streams in constant memory.
import PluginABI
import PluginKit

final class ArrowStreamFormat: FormatInstance {
    private let sink: ByteSink
    private var writer: ArrowIPCWriter?

    init(config: PluginConfig, host: HostServices, sink: ByteSink) throws {
        _ = try config.decode(ArrowFormatConfig.self)
        self.sink = sink
    }

    func begin(fields: [ArrowField]) throws {
        let writer = ArrowIPCWriter(fields: fields)
        self.writer = writer
        try sink.write(writer.schemaMessage())
    }

    func write(_ batch: BatchView) throws {
        guard let writer else { throw PluginError.invalidArgument("write_batch before begin") }
        guard ArrowIPCWriter.isUnsliced(batch) else {
            // A sliced batch: copy it to fresh buffers that start at element 0.
            let copy = BatchBuilder(fields: batch.fields)
            try copy.append(batch, rows: batch.length)
            let owned = try OwnedBatch(exporting: copy)
            return try writer.recordBatch(owned.view) { try sink.write($0) }
        }
        try writer.recordBatch(batch) { try sink.write($0) }
    }

    func finish() throws {
        guard writer != nil else { throw PluginError.invalidArgument("finish before begin") }
        try sink.write(ArrowIPCWriter.endOfStream)
    }

    /// The stream failed after it started (ABI 1.3): a last, empty record batch whose
    /// message carries the reason as custom metadata (`gateway.error`), which pyarrow shows
    /// with `read_next_batch_with_custom_metadata`. No end-of-stream marker follows: the
    /// host cuts the response, and readers report the stream as incomplete.
    func writeError(_ message: String) throws {
        guard let writer else { return }
        try sink.write(writer.errorMessage(message))
    }
}

/// No settings yet; unknown ones are refused so that a typo does not pass silently.
struct ArrowFormatConfig: Decodable {
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        if let key = c.allKeys.first { throw PluginError.invalidConfig("unknown setting '\(key.stringValue)'") }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

@_cdecl("gw_plugin_init_v1")
public func arrowFormatPluginInit(
    _ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?
) -> UnsafePointer<gw_plugin_descriptor>? {
    PluginExport.initialize(host, err) {
        PluginDefinition(
            id: "arrow.ipc", version: "1.0.0",
            description: "Arrow IPC streaming format (application/vnd.apache.arrow.stream).",
            configSchema: #"{"type":"object","properties":{},"additionalProperties":false}"#,
            exampleConfig: "{}",
            format: .init(ArrowStreamFormat.self, name: "arrow", mediaType: "application/vnd.apache.arrow.stream"))
    }
}
