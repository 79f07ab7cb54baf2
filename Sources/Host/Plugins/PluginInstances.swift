import Foundation
import PluginABI
import PluginKit

/// Calls a plugin function with a fresh gw_error and turns a failure into PluginError.
/// Every call is timed and its failures counted in the metrics, by plugin, kind and call.
func call(
    _ what: String, _ plugin: LoadedPlugin, _ kind: LoadedPlugin.Kind,
    _ body: (UnsafeMutablePointer<gw_error>) -> gw_status
) throws(PluginError) {
    var err = gw_error()
    let started = DispatchTime.now().uptimeNanoseconds
    let status = body(&err)
    GatewayMetrics.pluginCall(
        plugin: plugin.id, kind: kind.rawValue, call: what,
        seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
        failedStatus: status == GW_OK ? nil : PluginError.name(of: status))
    guard status != GW_OK else { return }
    let message = readError(&err)
    throw PluginError(status: status, message.isEmpty ? "\(plugin.id): \(what) failed without a message" : message)
}

/// An open source instance. The ABI says one instance is never called from two threads at
/// once: a lock serializes the calls, and `close` runs exactly once, when the last
/// reference (the handle, or a stream still being read) goes away.
///
/// @unchecked Sendable: the instance pointer is only used under `lock`.
public final class SourceHandle: @unchecked Sendable {
    public let plugin: LoadedPlugin
    public let context: InstanceContext
    private let vtable: gw_source_vtable
    private let instance: UnsafeMutableRawPointer
    private let lock = NSLock()

    public init(plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) {
        guard let table = plugin.source else { throw PluginError(status: GW_UNSUPPORTED, "\(plugin.id) is not a source") }
        self.plugin = plugin
        self.context = context
        vtable = table.pointee
        var handle: UnsafeMutableRawPointer?
        let open = vtable.open!
        try call("open", plugin, .source) { err in
            config.withCString { open(context.opaque, $0, strlen($0), &handle, err) }
        }
        guard let handle else { throw PluginError(status: GW_INTERNAL, "\(plugin.id): open returned no instance") }
        instance = handle
    }

    deinit { vtable.close!(instance) }

    /// Starts a read; the stream keeps this instance open until it is dropped.
    public func read(requestJSON: String) throws -> SourceStream {
        try lock.withLock {
            let stream = UnsafeMutablePointer<ArrowArrayStream>.allocate(capacity: 1)
            stream.initialize(to: ArrowArrayStream())
            defer { stream.deallocate() }
            let read = vtable.read!
            try call("read", plugin, .source) { err in
                requestJSON.withCString { read(instance, $0, strlen($0), stream, err) }
            }
            do {
                return SourceStream(reader: try StreamReader(moving: stream), source: self)
            } catch let error as ArrowError {
                throw SourceHandle.unreadable(plugin, error)
            }
        }
    }

    /// A stream the source produced that breaks the Arrow contract (a column type the ABI
    /// does not name, a buffer missing): the plugin's fault, said with its id so that the
    /// client and the administrator both see what to fix.
    static func unreadable(_ plugin: LoadedPlugin, _ error: ArrowError) -> PluginError {
        PluginError(status: GW_INTERNAL, "source plugin '\(plugin.id)' produced data the gateway cannot read: \(error.description)")
    }

    /// Tells the source its last read was delivered (it may commit cursors).
    public func finish() throws {
        try lock.withLock {
            let finish = vtable.finish!
            try call("finish", plugin, .source) { finish(instance, $0) }
        }
    }
}

/// A stream being read from a source; holds the source open until the stream is gone.
/// @unchecked Sendable: read by one thread at a time, as the Arrow stream spec requires.
public final class SourceStream: @unchecked Sendable {
    private var reader: StreamReader?
    public let source: SourceHandle
    public let fields: [ArrowField]
    public let schema: OwnedSchema
    /// True once the source said it had no more batches.
    private var ended = false

    init(reader: StreamReader, source: SourceHandle) {
        self.reader = reader
        self.source = source
        fields = reader.fields
        schema = reader.schema
    }

    public func next() throws -> OwnedBatch? {
        let batch: OwnedBatch?
        do {
            batch = try reader?.next()
        } catch let error as ArrowError {
            throw SourceHandle.unreadable(source.plugin, error)
        }
        if batch == nil { ended = true }
        return batch
    }

    deinit {
        // A stream dropped before its end (an error, a cancel, a client gone) means the
        // work is abandoned: the instance is told at once, so that its pending requests
        // are aborted and the threads it may have started wind down before it closes.
        if !ended { source.context.cancel() }
        // The stream must be released before the instance is closed.
        reader = nil
    }
}

/// The function pointers that format and exporter tables share.
struct ConsumerTable {
    let begin: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<ArrowSchema>?, UnsafeMutablePointer<gw_error>?) -> gw_status
    let write: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<ArrowArray>?, UnsafeMutablePointer<gw_error>?) -> gw_status
    let finish: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<gw_error>?) -> gw_status
    let close: @convention(c) (UnsafeMutableRawPointer?) -> Void
}

/// An open format or exporter instance: begin → write* → finish, then closed when dropped.
/// @unchecked Sendable: calls are serialized by `lock`.
public class ConsumerHandle: @unchecked Sendable {
    public let plugin: LoadedPlugin
    public let context: InstanceContext
    let table: ConsumerTable
    /// .format or .exporter: what the metrics count its calls as.
    let kind: LoadedPlugin.Kind
    var instance: UnsafeMutableRawPointer?
    fileprivate let lock = NSLock()

    init(plugin: LoadedPlugin, context: InstanceContext, table: ConsumerTable, kind: LoadedPlugin.Kind) {
        self.plugin = plugin
        self.context = context
        self.table = table
        self.kind = kind
    }

    deinit { if let instance { table.close(instance) } }

    public func begin(_ schema: OwnedSchema) throws {
        try lock.withLock {
            try call("begin", plugin, kind) { table.begin(instance, schema.pointer, $0) }
        }
    }

    public func write(_ batch: OwnedBatch) throws {
        try lock.withLock {
            try call("write_batch", plugin, kind) { table.write(instance, batch.pointer, $0) }
        }
    }

    public func finish() throws {
        try lock.withLock {
            try call("finish", plugin, kind) { table.finish(instance, $0) }
        }
    }
}

/// A format instance writing to `write` (which receives each chunk the plugin emits and
/// returns GW_OK, or GW_CANCELLED when the client has gone).
public final class FormatHandle: ConsumerHandle, @unchecked Sendable {
    final class SinkBox {
        let write: (UnsafeRawBufferPointer) -> gw_status
        init(_ write: @escaping (UnsafeRawBufferPointer) -> gw_status) { self.write = write }
    }

    private let sink: UnsafeMutablePointer<gw_byte_sink>
    private let sinkBox: SinkBox
    /// ABI 1.3's `write_error`, when the plugin has it.
    private let writeError: (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafeMutablePointer<gw_error>?) -> gw_status)?

    public init(
        plugin: LoadedPlugin, config: String, context: InstanceContext,
        write: @escaping (UnsafeRawBufferPointer) -> gw_status
    ) throws(PluginError) {
        guard let t = plugin.format else { throw PluginError(status: GW_UNSUPPORTED, "\(plugin.id) is not a format") }
        writeError = t.write_error
        sinkBox = SinkBox(write)
        sink = .allocate(capacity: 1)
        sink.initialize(to: gw_byte_sink(sink_private: Unmanaged.passUnretained(sinkBox).toOpaque(), write: sinkWrite))
        super.init(
            plugin: plugin, context: context,
            table: ConsumerTable(begin: t.begin!, write: t.write_batch!, finish: t.finish!, close: t.close!), kind: .format)
        var handle: UnsafeMutableRawPointer?
        let open = t.open!
        try call("open", plugin, .format) { err in
            config.withCString { open(context.opaque, $0, strlen($0), sink, &handle, err) }
        }
        guard let handle else { throw PluginError(status: GW_INTERNAL, "\(plugin.id): open returned no instance") }
        instance = handle
    }

    /// After a failure mid-stream (instead of finish): the format writes the reason where its
    /// readers find it (ABI 1.3). False when it has no `write_error`, or it failed.
    @discardableResult
    public func writeError(_ message: String) -> Bool {
        guard let writeError, let instance else { return false }
        return lock.withLock {
            (try? call("write_error", plugin, .format) { err in message.withCString { writeError(instance, $0, err) } }) != nil
        }
    }

    deinit {
        // Close before the sink goes: the plugin may hold the sink until close returns.
        if let instance { table.close(instance) }
        instance = nil
        sink.deallocate()
    }
}

private func sinkWrite(_ sinkPrivate: UnsafeMutableRawPointer?, _ data: UnsafePointer<UInt8>?, _ len: Int) -> gw_status {
    guard let sinkPrivate else { return GW_INVALID_ARGUMENT }
    guard len > 0 else { return GW_OK }
    guard let data else { return GW_INVALID_ARGUMENT }
    let box = Unmanaged<FormatHandle.SinkBox>.fromOpaque(sinkPrivate).takeUnretainedValue()
    return box.write(UnsafeRawBufferPointer(start: data, count: len))
}

/// An exporter instance writing files into `outputDirectory`.
public final class ExporterHandle: ConsumerHandle, @unchecked Sendable {
    public let outputDirectory: String

    public init(
        plugin: LoadedPlugin, config: String, context: InstanceContext,
        outputDirectory: String, baseName: String
    ) throws(PluginError) {
        guard let t = plugin.exporter?.pointee else { throw PluginError(status: GW_UNSUPPORTED, "\(plugin.id) is not an exporter") }
        self.outputDirectory = outputDirectory
        super.init(
            plugin: plugin, context: context,
            table: ConsumerTable(begin: t.begin!, write: t.write_batch!, finish: t.finish!, close: t.close!), kind: .exporter)
        var handle: UnsafeMutableRawPointer?
        let open = t.open!
        try call("open", plugin, .exporter) { err in
            config.withCString { cfg in
                outputDirectory.withCString { dir in
                    baseName.withCString { base in open(context.opaque, cfg, strlen(cfg), dir, base, &handle, err) }
                }
            }
        }
        guard let handle else { throw PluginError(status: GW_INTERNAL, "\(plugin.id): open returned no instance") }
        instance = handle
    }

    /// The files the export produced (regular files in the output directory), sorted.
    public func outputFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)) ?? []
        return names.sorted().map { "\(outputDirectory)/\($0)" }.filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue
        }
    }
}

/// An open sink instance (ABI 1.2): begin → write* → commit, or abort; closed when dropped.
/// Every row written is counted, so a row the destination refuses can be named by its
/// position in the stream.
/// @unchecked Sendable: calls are serialized by `lock`.
public final class SinkHandle: @unchecked Sendable {
    public let plugin: LoadedPlugin
    public let context: InstanceContext
    private let table: gw_sink_vtable
    private let instance: UnsafeMutableRawPointer
    private let lock = NSLock()

    public init(plugin: LoadedPlugin, config: String, context: InstanceContext) throws(PluginError) {
        guard let t = plugin.sink?.pointee else { throw PluginError(status: GW_UNSUPPORTED, "\(plugin.id) is not a sink") }
        self.plugin = plugin
        self.context = context
        table = t
        var handle: UnsafeMutableRawPointer?
        let open = t.open!
        try call("open", plugin, .sink) { err in
            config.withCString { open(context.opaque, $0, strlen($0), &handle, err) }
        }
        guard let handle else { throw PluginError(status: GW_INTERNAL, "\(plugin.id): open returned no instance") }
        instance = handle
    }

    deinit { table.close!(instance) }

    public func begin(_ schema: OwnedSchema) throws {
        try lock.withLock { try call("begin", plugin, .sink) { table.begin!(instance, schema.pointer, $0) } }
    }

    public func write(_ batch: OwnedBatch) throws {
        try lock.withLock { try call("write_batch", plugin, .sink) { table.write_batch!(instance, batch.pointer, $0) } }
    }

    public func commit() throws {
        try lock.withLock { try call("commit", plugin, .sink) { table.commit!(instance, $0) } }
    }

    public func abort() {
        lock.withLock { table.abort!(instance) }
    }
}
