import Foundation
import PluginKit

/// Everything the pipeline can write into, said once. Routes, the dataflow runner and the
/// export service each name their end as one of these and hand it to `SinkOpener.open`.
enum SinkSpec {
    /// A query's response body: JSON by the host, or a format plugin's bytes, sent through
    /// `channel`; with `awaitDelivery` (a source that commits a cursor), committed only once
    /// the response writer took the last bytes; `describe` is what the client is told of a failure.
    case responseBody(
        OutputFormat, channel: ByteChannel, control: RunControl, awaitDelivery: Bool,
        describe: @Sendable (Error) -> GatewayError)
    /// A dataset's table, appended to or upserted, in one transaction.
    case datasetTable(Dataset, mode: DatasetWriteMode)
    /// An export's files (`ext_type` CSV built in, else its exporter plugin's, with
    /// `options` over the plugin's config), zipped at `archivePath` when committed; `task`
    /// is the export's instance (its name and cancel reach the exporter).
    case exportFiles(
        extType: String, options: [String: JSONValue], workDirectory: String, baseName: String,
        archivePath: String, task: InstanceContext)
    /// A sink plugin opened with `config`, its state under `instance`; `onLog` hears its
    /// log lines and `onRejected` each row it refuses.
    case plugin(
        id: String, config: String, instance: String, control: RunControl,
        onLog: @Sendable (Int32, String) -> Void, onRejected: @Sendable (Int64, String) -> Void)
}
