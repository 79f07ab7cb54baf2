import Foundation
import PluginABI
import PluginKit

/// A source plugin's instance, run in the gateway's process (`SourceHandle`) or in a worker
/// process (`WorkerSourceHandle`), per `plugins.isolation`: the pipeline's source end opens
/// one and never knows which.
public protocol SourceInstance: AnyObject {
    var plugin: LoadedPlugin { get }
    var context: InstanceContext { get }
    /// Starts a read; its rows keep the instance open until they are dropped.
    func rows(requestJSON: String) throws -> any SourceRows
    /// Tells the source its last read was delivered (it may commit cursors).
    func finish() throws
}

/// The rows of one read, batch by batch.
public protocol SourceRows: AnyObject {
    var schema: OwnedSchema { get }
    func next() throws -> OwnedBatch?
    func finish() throws
    /// See `BatchSource.willBeReadAhead`.
    func willBeReadAhead()
}

extension SourceRows {
    public func willBeReadAhead() {}
}

extension SourceHandle: SourceInstance {
    public func rows(requestJSON: String) throws -> any SourceRows { try read(requestJSON: requestJSON) }
}

extension SourceStream: SourceRows {}

/// A sink plugin's instance, in the gateway's process (`SinkHandle`) or in a worker process
/// (`WorkerSinkHandle`), per `plugins.isolation`: begin → write* → commit, or abort.
public protocol SinkInstance: AnyObject {
    var plugin: LoadedPlugin { get }
    var context: InstanceContext { get }
    func begin(_ schema: OwnedSchema) throws
    func write(_ batch: OwnedBatch) throws
    func commit() throws
    func abort()
}

extension SinkHandle: SinkInstance {}

/// A format or exporter instance, in process (`FormatHandle`, `ExporterHandle`) or in a
/// worker process: begin → write* → finish.
public protocol ConsumerInstance: AnyObject {
    var plugin: LoadedPlugin { get }
    var context: InstanceContext { get }
    func begin(_ schema: OwnedSchema) throws
    func write(_ batch: OwnedBatch) throws
    func finish() throws
}

/// A format instance: after a failure mid-stream it may write the reason where its readers
/// find it (ABI 1.3); false when it has no way to, or failed.
public protocol FormatInstance: ConsumerInstance {
    @discardableResult func writeError(_ message: String) -> Bool
}

/// An exporter instance, writing its files into `outputDirectory`.
public protocol ExporterInstance: ConsumerInstance {
    var outputDirectory: String { get }
}

extension FormatHandle: FormatInstance {}
extension ExporterHandle: ExporterInstance {}

/// Opens plugin instances where `plugins.isolation` says: the gateway's
/// `PluginInstanceOpener` (in `Worker/`), seen from code that must not depend on workers.
public protocol InstanceOpening: Sendable {
    /// Throws while the plugin's workers wait out their backoff (a 503 saying when).
    func mayStart(_ plugin: LoadedPlugin) throws
    func source(_ plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) -> any SourceInstance
    func sink(_ plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) -> any SinkInstance
    /// `write` gets each chunk the format emits and returns GW_OK, or GW_CANCELLED when the
    /// client has gone.
    func format(
        _ plugin: LoadedPlugin, config: String, context: InstanceContext, write: @escaping (UnsafeRawBufferPointer) -> gw_status
    ) throws(PluginError) -> any FormatInstance
    func exporter(
        _ plugin: LoadedPlugin, config: String, context: InstanceContext, outputDirectory: String, baseName: String
    ) throws(PluginError) -> any ExporterInstance
}
