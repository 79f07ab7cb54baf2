import Glibc
import PluginABI

/// Something that produces rows batch by batch: what a Swift source plugin implements,
/// and what `exportStream` turns into an ArrowArrayStream.
public protocol BatchProducer: AnyObject {
    var fields: [ArrowField] { get }
    /// Appends the next rows to `batch` (empty on entry). Return true when more may follow,
    /// false when this was the last batch (it may still hold rows, or none).
    func next(into batch: BatchBuilder) throws -> Bool
}

/// Exports `producer` as an ArrowArrayStream in `out` (caller-allocated; owned by the
/// consumer from then on, which calls its release callback).
public func exportStream(_ producer: BatchProducer, into out: UnsafeMutablePointer<ArrowArrayStream>) {
    let holder = StreamExport(producer)
    out.pointee = ArrowArrayStream(
        get_schema: streamGetSchema, get_next: streamGetNext, get_last_error: streamLastError,
        release: streamRelease, private_data: Unmanaged.passRetained(holder).toOpaque())
}

private final class StreamExport {
    let producer: BatchProducer
    let builder: BatchBuilder
    var lastError: UnsafeMutablePointer<CChar>?
    var finished = false

    init(_ producer: BatchProducer) {
        self.producer = producer
        builder = BatchBuilder(fields: producer.fields)
    }

    deinit { free(lastError) }

    func fail(_ error: Error) -> Int32 {
        free(lastError)
        lastError = strdup(PluginError(error).message)
        return PluginError(error).errnoCode
    }

    static func from(_ stream: UnsafeMutablePointer<ArrowArrayStream>?) -> StreamExport? {
        guard let raw = stream?.pointee.private_data else { return nil }
        return Unmanaged<StreamExport>.fromOpaque(raw).takeUnretainedValue()
    }
}

private func streamGetSchema(_ stream: UnsafeMutablePointer<ArrowArrayStream>?, _ out: UnsafeMutablePointer<ArrowSchema>?) -> Int32 {
    guard let holder = StreamExport.from(stream), let out else { return EINVAL }
    holder.builder.exportSchema(into: out)
    return 0
}

private func streamGetNext(_ stream: UnsafeMutablePointer<ArrowArrayStream>?, _ out: UnsafeMutablePointer<ArrowArray>?) -> Int32 {
    guard let holder = StreamExport.from(stream), let out else { return EINVAL }
    // Per the stream spec, the end is an array whose release callback is NULL.
    if holder.finished {
        out.pointee = ArrowArray()
        return 0
    }
    do {
        let more = try holder.producer.next(into: holder.builder)
        if !more && holder.builder.rowCount == 0 {
            holder.finished = true
            out.pointee = ArrowArray()
            return 0
        }
        if !more { holder.finished = true }
        try holder.builder.export(into: out)
        return 0
    } catch {
        return holder.fail(error)
    }
}

private func streamLastError(_ stream: UnsafeMutablePointer<ArrowArrayStream>?) -> UnsafePointer<CChar>? {
    guard let holder = StreamExport.from(stream), let message = holder.lastError else { return nil }
    return UnsafePointer(message)
}

private func streamRelease(_ stream: UnsafeMutablePointer<ArrowArrayStream>?) {
    guard let stream, let raw = stream.pointee.private_data else { return }
    stream.pointee.release = nil
    stream.pointee.private_data = nil
    Unmanaged<StreamExport>.fromOpaque(raw).release()
}

/// An ArrowSchema this side owns; released when dropped.
public final class OwnedSchema {
    public let pointer: UnsafeMutablePointer<ArrowSchema>
    public let fields: [ArrowField]

    /// Takes ownership of a schema someone filled for us (moved into our storage).
    public init(moving schema: UnsafeMutablePointer<ArrowSchema>) throws {
        pointer = .allocate(capacity: 1)
        pointer.moveInitialize(from: schema, count: 1)
        schema.initialize(to: ArrowSchema())
        do {
            fields = try readFields(pointer)
        } catch {
            OwnedSchema.release(pointer)
            throw error
        }
    }

    public convenience init(fields: [ArrowField]) {
        let temp = UnsafeMutablePointer<ArrowSchema>.allocate(capacity: 1)
        defer { temp.deallocate() }
        exportSchema(fields, into: temp)
        try! self.init(moving: temp)  // our own export always reads back
    }

    deinit { OwnedSchema.release(pointer) }

    private static func release(_ p: UnsafeMutablePointer<ArrowSchema>) {
        if let release = p.pointee.release { release(p) }
        p.deallocate()
    }
}

/// An ArrowArray (a record batch) this side owns; released when dropped.
public final class OwnedBatch {
    public let pointer: UnsafeMutablePointer<ArrowArray>
    private let checked: BatchView

    /// The batch's columns; the view keeps this batch alive while it is used.
    public var view: BatchView { checked.retaining(self) }

    /// Takes a batch someone produced (checked in full before it is used: see ColumnView).
    public convenience init(moving array: UnsafeMutablePointer<ArrowArray>, fields: [ArrowField]) throws {
        try self.init(moving: array, fields: fields, probe: true)
    }

    /// `probe` false only for batches this process built (their buffers' sizes are known).
    init(moving array: UnsafeMutablePointer<ArrowArray>, fields: [ArrowField], probe: Bool) throws {
        pointer = .allocate(capacity: 1)
        pointer.moveInitialize(from: array, count: 1)
        array.initialize(to: ArrowArray())
        do {
            checked = try BatchView(fields: fields, array: pointer, probe: probe)
        } catch {
            OwnedBatch.release(pointer)
            throw error
        }
    }

    /// Exports `builder`'s current rows into a batch we own.
    public convenience init(exporting builder: BatchBuilder) throws {
        let temp = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
        defer { temp.deallocate() }
        try builder.export(into: temp)
        try self.init(moving: temp, fields: builder.fields, probe: false)
    }

    public var length: Int { checked.length }

    /// The same rows under `fields` (other names, the same types), without copying a value:
    /// an array carries no column names, so it moves as it is into the batch returned. This
    /// batch is left empty (no rows, nothing to release) and must not be used again.
    public func relabeled(_ fields: [ArrowField]) throws -> OwnedBatch {
        try OwnedBatch(moving: pointer, fields: fields, probe: false)  // checked when it came in
    }

    deinit { OwnedBatch.release(pointer) }

    private static func release(_ p: UnsafeMutablePointer<ArrowArray>) {
        if let release = p.pointee.release { release(p) }
        p.deallocate()
    }
}

/// Reads an ArrowArrayStream someone produced for us, owning (and finally releasing) it.
/// Every batch is checked against the schema before it is handed out.
public final class StreamReader {
    private let stream: UnsafeMutablePointer<ArrowArrayStream>
    public let schema: OwnedSchema

    public init(moving source: UnsafeMutablePointer<ArrowArrayStream>) throws {
        stream = .allocate(capacity: 1)
        stream.moveInitialize(from: source, count: 1)
        source.initialize(to: ArrowArrayStream())
        guard stream.pointee.release != nil, let getSchema = stream.pointee.get_schema else {
            stream.deallocate()
            throw ArrowError.invalid("the stream is released or has no get_schema")
        }
        let temp = UnsafeMutablePointer<ArrowSchema>.allocate(capacity: 1)
        temp.initialize(to: ArrowSchema())
        defer { temp.deallocate() }
        let code = getSchema(stream, temp)
        do {
            guard code == 0 else { throw StreamReader.streamError(stream, code) }
            schema = try OwnedSchema(moving: temp)
        } catch {
            StreamReader.release(stream)
            throw error
        }
    }

    public var fields: [ArrowField] { schema.fields }

    /// The next batch, or nil at the end of the stream.
    public func next() throws -> OwnedBatch? {
        guard let getNext = stream.pointee.get_next else { throw ArrowError.invalid("stream has no get_next") }
        let temp = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
        temp.initialize(to: ArrowArray())
        defer { temp.deallocate() }
        let code = getNext(stream, temp)
        guard code == 0 else { throw StreamReader.streamError(stream, code) }
        guard temp.pointee.release != nil else { return nil }
        return try OwnedBatch(moving: temp, fields: schema.fields)
    }

    deinit { StreamReader.release(stream) }

    private static func release(_ s: UnsafeMutablePointer<ArrowArrayStream>) {
        if let release = s.pointee.release { release(s) }
        s.deallocate()
    }

    private static func streamError(_ s: UnsafeMutablePointer<ArrowArrayStream>, _ code: Int32) -> PluginError {
        let message = s.pointee.get_last_error?(s).map { String(cString: $0) } ?? "stream error (errno \(code))"
        return PluginError(status: PluginError.status(forErrno: code), message)
    }
}
