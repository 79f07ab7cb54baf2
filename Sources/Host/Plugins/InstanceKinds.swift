import Foundation
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

/// Opens source and sink instances where `plugins.isolation` says: the gateway's
/// `PluginInstanceOpener` (in `Worker/`), seen from code that must not depend on workers.
public protocol InstanceOpening: Sendable {
    func source(_ plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) -> any SourceInstance
    func sink(_ plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) -> any SinkInstance
}
