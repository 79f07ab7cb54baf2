import Glibc
import PluginABI

/// Owns the memory behind one exported ArrowArray: its buffers (malloc'd) and its children.
/// Retained through `private_data`; the release callback drops it.
final class ExportedArray {
    private let buffers: [UnsafeMutableRawPointer?]
    private let bufferList: UnsafeMutablePointer<UnsafeRawPointer?>
    private let childList: UnsafeMutablePointer<UnsafeMutablePointer<ArrowArray>?>?
    private let childCount: Int

    private init(buffers: [UnsafeMutableRawPointer?], children: [UnsafeMutablePointer<ArrowArray>]) {
        self.buffers = buffers
        bufferList = .allocate(capacity: Swift.max(1, buffers.count))
        for (i, b) in buffers.enumerated() { bufferList[i] = UnsafeRawPointer(b) }
        childCount = children.count
        if children.isEmpty {
            childList = nil
        } else {
            let list = UnsafeMutablePointer<UnsafeMutablePointer<ArrowArray>?>.allocate(capacity: children.count)
            for (i, c) in children.enumerated() { list[i] = c }
            childList = list
        }
    }

    deinit {
        for b in buffers { free(b) }
        bufferList.deallocate()
        if let childList {
            for i in 0..<childCount {
                guard let child = childList[i] else { continue }
                // A consumer may have moved a child out (and nulled its release).
                if let release = child.pointee.release { release(child) }
                child.deallocate()
            }
            childList.deallocate()
        }
    }

    /// Fills `out` so that it owns `buffers` (freed with `free`) and `children` (each an
    /// exported array allocated with UnsafeMutablePointer.allocate).
    static func fill(
        _ out: UnsafeMutablePointer<ArrowArray>, length: Int, nullCount: Int,
        buffers: [UnsafeMutableRawPointer?], children: [UnsafeMutablePointer<ArrowArray>]
    ) {
        let holder = ExportedArray(buffers: buffers, children: children)
        out.pointee = ArrowArray(
            length: Int64(length), null_count: Int64(nullCount), offset: 0,
            n_buffers: Int64(buffers.count), n_children: Int64(children.count),
            buffers: holder.bufferList,
            children: holder.childList, dictionary: nil,
            release: releaseExportedArray,
            private_data: Unmanaged.passRetained(holder).toOpaque())
    }
}

private func releaseExportedArray(_ array: UnsafeMutablePointer<ArrowArray>?) {
    guard let array, let holder = array.pointee.private_data else { return }
    array.pointee.release = nil
    array.pointee.private_data = nil
    Unmanaged<ExportedArray>.fromOpaque(holder).release()
}

/// Owns the strings and children of one exported ArrowSchema.
final class ExportedSchema {
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private let childList: UnsafeMutablePointer<UnsafeMutablePointer<ArrowSchema>?>?
    private let childCount: Int

    private init(childCount: Int) {
        self.childCount = childCount
        childList = childCount == 0 ? nil : .allocate(capacity: childCount)
    }

    deinit {
        for s in strings { free(s) }
        if let childList {
            for i in 0..<childCount {
                guard let child = childList[i] else { continue }
                if let release = child.pointee.release { release(child) }
                child.deallocate()
            }
            childList.deallocate()
        }
    }

    private func keep(_ s: String) -> UnsafePointer<CChar> {
        let copy = strdup(s)!
        strings.append(copy)
        return UnsafePointer(copy)
    }

    /// Exports a record-batch schema ("+s" with one child per field) into `out`.
    static func export(fields: [ArrowField], into out: UnsafeMutablePointer<ArrowSchema>) {
        let holder = ExportedSchema(childCount: fields.count)
        for (i, field) in fields.enumerated() {
            let child = UnsafeMutablePointer<ArrowSchema>.allocate(capacity: 1)
            exportField(field, into: child)
            holder.childList![i] = child
        }
        out.pointee = ArrowSchema(
            format: holder.keep("+s"), name: holder.keep(""), metadata: nil, flags: 0,
            n_children: Int64(fields.count), children: holder.childList, dictionary: nil,
            release: releaseExportedSchema, private_data: Unmanaged.passRetained(holder).toOpaque())
    }

    private static func exportField(_ field: ArrowField, into out: UnsafeMutablePointer<ArrowSchema>) {
        let holder = ExportedSchema(childCount: 0)
        out.pointee = ArrowSchema(
            format: holder.keep(field.type.format), name: holder.keep(field.name), metadata: nil,
            flags: field.nullable ? Int64(ARROW_FLAG_NULLABLE) : 0, n_children: 0, children: nil,
            dictionary: nil, release: releaseExportedSchema,
            private_data: Unmanaged.passRetained(holder).toOpaque())
    }
}

private func releaseExportedSchema(_ schema: UnsafeMutablePointer<ArrowSchema>?) {
    guard let schema, let holder = schema.pointee.private_data else { return }
    schema.pointee.release = nil
    schema.pointee.private_data = nil
    Unmanaged<ExportedSchema>.fromOpaque(holder).release()
}

/// Exports a record-batch schema into a caller-allocated ArrowSchema, which the caller
/// owns from then on (it calls the release callback).
public func exportSchema(_ fields: [ArrowField], into out: UnsafeMutablePointer<ArrowSchema>) {
    ExportedSchema.export(fields: fields, into: out)
}
