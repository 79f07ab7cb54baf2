import Glibc
import PluginABI
import Synchronization

/// A source instance written in Swift. PluginKit wraps it in the C vtable.
public protocol SourceInstance: AnyObject, SendableMetatype {
    init(config: PluginConfig, host: HostServices) throws
    /// Starts one read. The producer is exported as an ArrowArrayStream; it may keep using
    /// `host` until the stream is released.
    func read(_ request: ReadRequest) throws -> BatchProducer
    /// Everything the last read produced has been delivered: commit cursors now.
    func finish() throws
}

extension SourceInstance {
    public func finish() throws {}
}

/// What format and exporter instances share: they consume batches.
public protocol BatchConsumer: AnyObject {
    func begin(fields: [ArrowField]) throws
    func write(_ batch: BatchView) throws
    func finish() throws
}

/// A format instance: writes what it serializes to `sink`.
public protocol FormatInstance: BatchConsumer, SendableMetatype {
    init(config: PluginConfig, host: HostServices, sink: ByteSink) throws
    /// ABI 1.3: the stream failed after its first bytes were sent; write what tells a reader
    /// of this format why the data stops (called instead of `finish`). The default writes
    /// nothing.
    func writeError(_ message: String) throws
}

extension FormatInstance {
    public func writeError(_ message: String) throws {}
}

/// An exporter instance: writes files into `outputDirectory`.
public protocol ExporterInstance: BatchConsumer, SendableMetatype {
    init(config: PluginConfig, host: HostServices, outputDirectory: String, baseName: String) throws
}

/// A sink instance (ABI 1.2): writes rows into a destination. `commit` returns only when
/// every row written since `begin` was durably accepted (or reported with
/// `HostServices.rejectRow`); `abort` drops what is buffered and cannot fail.
public protocol SinkInstance: AnyObject, SendableMetatype {
    init(config: PluginConfig, host: HostServices) throws
    func begin(fields: [ArrowField]) throws
    func write(_ batch: BatchView) throws
    func commit() throws
    func abort()
}

/// The host's byte sink for a format instance.
/// @unchecked Sendable: a pointer to a host-owned sink that is valid until the instance's
/// close() and only used by the thread the host is calling the instance on.
public struct ByteSink: @unchecked Sendable {
    let sink: UnsafePointer<gw_byte_sink>

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0, let base = bytes.baseAddress else { return }
        guard let write = sink.pointee.write else { throw PluginError.internalError("sink has no write") }
        let status = write(sink.pointee.sink_private, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        guard status == GW_OK else {
            throw PluginError(status: status, status == GW_CANCELLED ? "the client went away" : "writing the output failed")
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Everything a Swift plugin declares; `PluginExport.initialize` turns it into a C
/// descriptor with static lifetime.
public struct PluginDefinition: Sendable {
    public struct Format: Sendable {
        public var type: any FormatInstance.Type
        public var name: String
        public var mediaType: String
        public init(_ type: any FormatInstance.Type, name: String, mediaType: String) {
            self.type = type; self.name = name; self.mediaType = mediaType
        }
    }
    public struct Exporter: Sendable {
        public var type: any ExporterInstance.Type
        public var name: String
        public var fileExtension: String
        public init(_ type: any ExporterInstance.Type, name: String, fileExtension: String) {
            self.type = type; self.name = name; self.fileExtension = fileExtension
        }
    }

    public var id: String
    public var version: String
    public var description: String
    public var configSchema: String
    public var exampleConfig: String?
    public var source: (any SourceInstance.Type)?
    public var sourceFileExtensions: String?
    public var format: Format?
    public var exporter: Exporter?
    public var sink: (any SinkInstance.Type)?

    public init(
        id: String, version: String, description: String, configSchema: String,
        exampleConfig: String? = nil, source: (any SourceInstance.Type)? = nil,
        sourceFileExtensions: String? = nil, format: Format? = nil, exporter: Exporter? = nil,
        sink: (any SinkInstance.Type)? = nil
    ) {
        self.sink = sink
        self.id = id
        self.version = version
        self.description = description
        self.configSchema = configSchema
        self.exampleConfig = exampleConfig
        self.source = source
        self.sourceFileExtensions = sourceFileExtensions
        self.format = format
        self.exporter = exporter
    }
}

/// Builds the C descriptor of a Swift plugin. Call it from your `gw_plugin_init_v1`:
///
///     @_cdecl("gw_plugin_init_v1")
///     public func pluginInit(_ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?)
///         -> UnsafePointer<gw_plugin_descriptor>? {
///         PluginExport.initialize(host, err) { PluginDefinition(id: "acme.thing", ...) }
///     }
public enum PluginExport {
    /// The one plugin this image defines. Each plugin image links its own copy of
    /// PluginKit, so this is per plugin, and it is immutable once set: it holds the
    /// definition, never instance state.
    static let registered = Mutex<Registered?>(nil)

    struct Registered: @unchecked Sendable {  // pointers to static, never-freed memory
        let definition: PluginDefinition
        let host: UnsafePointer<gw_host_api>
        let descriptor: UnsafePointer<gw_plugin_descriptor>
    }

    /// `requiringMinor`: the host must speak at least ABI 1.N, for what `because` says (a
    /// plugin using shared locks, state and pacing needs 1.1); an older host is refused at load.
    public static func initialize(
        _ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?,
        requiringMinor minor: UInt32 = 0, because: String = "",
        _ define: () throws -> PluginDefinition
    ) -> UnsafePointer<gw_plugin_descriptor>? {
        guard let host else {
            writeError("no host service table", into: err)
            return nil
        }
        guard host.pointee.abi_minor >= minor else {
            writeError("needs a gateway speaking ABI 1.\(minor) (\(because)); this one speaks 1.\(host.pointee.abi_minor)", into: err)
            return nil
        }
        if let existing = registered.withLock({ $0 }) { return existing.descriptor }
        do {
            let definition = try define()
            let descriptor = makeDescriptor(definition)
            registered.withLock { $0 = Registered(definition: definition, host: host, descriptor: descriptor) }
            return descriptor
        } catch {
            writeError(PluginError(error).message, into: err)
            return nil
        }
    }

    static var current: Registered? { registered.withLock { $0 } }

    /// Copies a string into memory that lives for the process (descriptors are static).
    private static func forever(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s else { return nil }
        return UnsafePointer(strdup(s))
    }

    private static func forever<T>(_ value: T) -> UnsafePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        p.initialize(to: value)
        return UnsafePointer(p)
    }

    private static func makeDescriptor(_ d: PluginDefinition) -> UnsafePointer<gw_plugin_descriptor> {
        var kinds: UInt32 = 0
        var source: UnsafePointer<gw_source_vtable>?
        var format: UnsafePointer<gw_format_vtable>?
        var exporter: UnsafePointer<gw_exporter_vtable>?
        if d.source != nil {
            kinds |= GW_KIND_SOURCE
            source = forever(
                gw_source_vtable(
                    struct_size: UInt32(MemoryLayout<gw_source_vtable>.size),
                    file_extensions: forever(d.sourceFileExtensions),
                    open: sourceOpen, read: sourceRead, finish: sourceFinish, close: instanceClose))
        }
        if let f = d.format {
            kinds |= GW_KIND_FORMAT
            format = forever(
                gw_format_vtable(
                    struct_size: UInt32(MemoryLayout<gw_format_vtable>.size),
                    name: forever(f.name), media_type: forever(f.mediaType),
                    open: formatOpen, begin: consumerBegin, write_batch: consumerWrite,
                    finish: consumerFinish, close: instanceClose, write_error: formatWriteError))
        }
        if let e = d.exporter {
            kinds |= GW_KIND_EXPORTER
            exporter = forever(
                gw_exporter_vtable(
                    struct_size: UInt32(MemoryLayout<gw_exporter_vtable>.size),
                    name: forever(e.name), file_extension: forever(e.fileExtension),
                    open: exporterOpen, begin: consumerBegin, write_batch: consumerWrite,
                    finish: consumerFinish, close: instanceClose))
        }
        var sink: UnsafePointer<gw_sink_vtable>?
        if d.sink != nil {
            kinds |= GW_KIND_SINK
            sink = forever(
                gw_sink_vtable(
                    struct_size: UInt32(MemoryLayout<gw_sink_vtable>.size),
                    open: sinkOpen, begin: sinkBegin, write_batch: sinkWrite, commit: sinkCommit,
                    abort: sinkAbort, close: instanceClose))
        }
        return forever(
            gw_plugin_descriptor(
                struct_size: UInt32(MemoryLayout<gw_plugin_descriptor>.size),
                abi_major: UInt16(GW_ABI_MAJOR), abi_minor: UInt16(GW_ABI_MINOR),
                id: forever(d.id), version: forever(d.version), description: forever(d.description),
                kinds: kinds, config_schema_json: forever(d.configSchema),
                example_config_json: forever(d.exampleConfig),
                source: source, format: format, exporter: exporter, sink: sink))
    }
}

// MARK: - the C thunks. Each instance handle is a retained InstanceBox.

/// What an instance handle points to: the Swift instance, plus the schema a consumer was
/// given in begin() (write_batch receives only the array).
private final class InstanceBox {
    let source: (any SourceInstance)?
    let consumer: (any BatchConsumer)?
    let sink: (any SinkInstance)?
    var fields: [ArrowField] = []

    init(source: any SourceInstance) { self.source = source; consumer = nil; sink = nil }
    init(consumer: any BatchConsumer) { self.consumer = consumer; source = nil; sink = nil }
    init(sink: any SinkInstance) { self.sink = sink; source = nil; consumer = nil }

    static func sink(_ instance: UnsafeMutableRawPointer?) throws -> (any SinkInstance, InstanceBox) {
        let box = try from(instance)
        guard let s = box.sink else { throw PluginError.internalError("not a sink instance") }
        return (s, box)
    }

    func retained(into instance: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) {
        instance?.pointee = Unmanaged.passRetained(self).toOpaque()
    }

    static func from(_ instance: UnsafeMutableRawPointer?) throws -> InstanceBox {
        guard let instance else { throw PluginError.internalError("no instance handle") }
        return Unmanaged<InstanceBox>.fromOpaque(instance).takeUnretainedValue()
    }

    static func source(_ instance: UnsafeMutableRawPointer?) throws -> any SourceInstance {
        guard let s = try from(instance).source else { throw PluginError.internalError("not a source instance") }
        return s
    }

    static func consumer(_ instance: UnsafeMutableRawPointer?) throws -> (any BatchConsumer, InstanceBox) {
        let box = try from(instance)
        guard let c = box.consumer else { throw PluginError.internalError("not a format or exporter instance") }
        return (c, box)
    }
}

private func registeredPlugin() throws -> PluginExport.Registered {
    guard let r = PluginExport.current else { throw PluginError.internalError("plugin not initialized") }
    return r
}

private func sourceOpen(
    _ ctx: OpaquePointer?, _ config: UnsafePointer<CChar>?, _ len: Int,
    _ instance: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        let r = try registeredPlugin()
        guard let type = r.definition.source else { throw PluginError(status: GW_UNSUPPORTED, "not a source") }
        let made = try type.init(config: PluginConfig(config, length: len), host: HostServices(api: r.host, ctx: ctx))
        InstanceBox(source: made).retained(into: instance)
    }
}

private func sourceRead(
    _ instance: UnsafeMutableRawPointer?, _ request: UnsafePointer<CChar>?, _ len: Int,
    _ out: UnsafeMutablePointer<ArrowArrayStream>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        let source = try InstanceBox.source(instance)
        guard let out else { throw PluginError.invalidArgument("no output stream") }
        let parsed = try PluginConfig(request, length: len).decode(ReadRequest.self, status: GW_INVALID_ARGUMENT)
        exportStream(try source.read(parsed), into: out)
    }
}

private func sourceFinish(_ instance: UnsafeMutableRawPointer?, _ err: UnsafeMutablePointer<gw_error>?) -> gw_status {
    barrier(err) { try InstanceBox.source(instance).finish() }
}

private func formatOpen(
    _ ctx: OpaquePointer?, _ config: UnsafePointer<CChar>?, _ len: Int, _ sink: UnsafePointer<gw_byte_sink>?,
    _ instance: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        let r = try registeredPlugin()
        guard let f = r.definition.format, let sink else { throw PluginError(status: GW_UNSUPPORTED, "not a format") }
        let made = try f.type.init(
            config: PluginConfig(config, length: len), host: HostServices(api: r.host, ctx: ctx), sink: ByteSink(sink: sink))
        InstanceBox(consumer: made).retained(into: instance)
    }
}

private func formatWriteError(_ instance: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?, _ err: UnsafeMutablePointer<gw_error>?) -> gw_status {
    barrier(err) {
        let (consumer, _) = try InstanceBox.consumer(instance)
        guard let format = consumer as? any FormatInstance else { throw PluginError.internalError("not a format instance") }
        try format.writeError(message.map { String(cString: $0) } ?? "")
    }
}

private func exporterOpen(
    _ ctx: OpaquePointer?, _ config: UnsafePointer<CChar>?, _ len: Int, _ dir: UnsafePointer<CChar>?,
    _ base: UnsafePointer<CChar>?, _ instance: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        let r = try registeredPlugin()
        guard let e = r.definition.exporter, let dir, let base else {
            throw PluginError(status: GW_UNSUPPORTED, "not an exporter")
        }
        let made = try e.type.init(
            config: PluginConfig(config, length: len), host: HostServices(api: r.host, ctx: ctx),
            outputDirectory: String(cString: dir), baseName: String(cString: base))
        InstanceBox(consumer: made).retained(into: instance)
    }
}

private func consumerBegin(
    _ instance: UnsafeMutableRawPointer?, _ schema: UnsafePointer<ArrowSchema>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        guard let schema else { throw PluginError.invalidArgument("no schema") }
        let (consumer, box) = try InstanceBox.consumer(instance)
        box.fields = try readFields(schema)
        try consumer.begin(fields: box.fields)
    }
}

private func consumerWrite(
    _ instance: UnsafeMutableRawPointer?, _ batch: UnsafePointer<ArrowArray>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        guard let batch else { throw PluginError.invalidArgument("no batch") }
        let (consumer, box) = try InstanceBox.consumer(instance)
        try consumer.write(try BatchView(fields: box.fields, array: batch))
    }
}

private func consumerFinish(_ instance: UnsafeMutableRawPointer?, _ err: UnsafeMutablePointer<gw_error>?) -> gw_status {
    barrier(err) { try InstanceBox.consumer(instance).0.finish() }
}

private func sinkOpen(
    _ ctx: OpaquePointer?, _ config: UnsafePointer<CChar>?, _ len: Int,
    _ instance: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        let r = try registeredPlugin()
        guard let type = r.definition.sink else { throw PluginError(status: GW_UNSUPPORTED, "not a sink") }
        let made = try type.init(config: PluginConfig(config, length: len), host: HostServices(api: r.host, ctx: ctx))
        InstanceBox(sink: made).retained(into: instance)
    }
}

private func sinkBegin(
    _ instance: UnsafeMutableRawPointer?, _ schema: UnsafePointer<ArrowSchema>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        guard let schema else { throw PluginError.invalidArgument("no schema") }
        let (sink, box) = try InstanceBox.sink(instance)
        box.fields = try readFields(schema)
        try sink.begin(fields: box.fields)
    }
}

private func sinkWrite(
    _ instance: UnsafeMutableRawPointer?, _ batch: UnsafePointer<ArrowArray>?, _ err: UnsafeMutablePointer<gw_error>?
) -> gw_status {
    barrier(err) {
        guard let batch else { throw PluginError.invalidArgument("no batch") }
        let (sink, box) = try InstanceBox.sink(instance)
        try sink.write(try BatchView(fields: box.fields, array: batch))
    }
}

private func sinkCommit(_ instance: UnsafeMutableRawPointer?, _ err: UnsafeMutablePointer<gw_error>?) -> gw_status {
    barrier(err) { try InstanceBox.sink(instance).0.commit() }
}

private func sinkAbort(_ instance: UnsafeMutableRawPointer?) {
    (try? InstanceBox.sink(instance))?.0.abort()
}

private func instanceClose(_ instance: UnsafeMutableRawPointer?) {
    guard let instance else { return }
    Unmanaged<InstanceBox>.fromOpaque(instance).release()
}
