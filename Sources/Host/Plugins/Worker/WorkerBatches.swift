import PluginKit

/// Batches and schemas as they cross between a worker and the gateway. The worker encodes
/// what it imported from the plugin and checked (`BatchView`), value by value; the gateway
/// builds its own batch from them with `BatchBuilder`, which checks every value again. No
/// length or offset the plugin wrote is ever used to read memory in the gateway.
enum WorkerBatches {
    static func encode(fields: [ArrowField]) -> [UInt8] {
        var w = WireWriter()
        w.u32(UInt32(fields.count))
        for field in fields {
            w.string(field.name)
            w.string(field.type.format)
        }
        return w.bytes
    }

    static func decodeFields(_ bytes: [UInt8]) throws -> [ArrowField] {
        var r = WireReader(bytes)
        let count = Int(try r.u32())
        guard count <= 100_000 else { throw WireReader.Malformed(description: "\(count) columns") }
        return try (0..<count).map { _ in
            let name = try r.string(), format = try r.string()
            guard let type = ArrowType(format: format) else { throw WireReader.Malformed(description: "a column of format '\(format)'") }
            return ArrowField(name, type)
        }
    }

    /// Column by column, each as its Arrow buffers from offset 0: a validity bitmap (or
    /// none), then the values (fixed width, or a bitmap for booleans), or the offsets and the
    /// bytes they index. Copied from the batch the worker checked when it took it, into a
    /// payload sized first (one copy of each buffer), after `flag` when there is one (a
    /// source's reply to `next`: 1, a batch follows).
    static func encode(_ batch: BatchView, flag: UInt8? = nil) -> [UInt8] {
        var w = WireWriter(reserving: 1 + encodedSize(batch))
        if let flag { w.u8(flag) }
        write(batch, into: &w)
        return w.bytes
    }

    private static func write(_ batch: BatchView, into w: inout WireWriter) {
        w.u32(UInt32(batch.length))
        for column in batch.columns {
            let rows = batch.length, first = column.arrayOffset
            // -1 is "unknown" (some nulls, perhaps): the bitmap goes whenever there is one.
            if column.nullCount != 0, let validity = column.validityBuffer {
                w.u8(1)
                w.blob(bits(validity, from: first, count: rows))
            } else {
                w.u8(0)
            }
            switch column.field.type {
            case .null:
                w.blob([])
            case .bool:
                w.blob(bits(column.valuesBuffer?.assumingMemoryBound(to: UInt8.self), from: first, count: rows))
            case .binary, .utf8:
                let offsets = column.offsetsBuffer
                let start = Int(offsets?[first] ?? 0), end = Int(offsets?[first + rows] ?? 0)
                w.rebasedOffsets(offsets, from: first, count: rows)
                w.blob(UnsafeRawBufferPointer(start: column.valuesBuffer.map { $0 + start }, count: end - start))
            default:
                let width = column.field.type.byteWidth ?? 0
                w.blob(UnsafeRawBufferPointer(start: column.valuesBuffer.map { $0 + first * width }, count: rows * width))
            }
        }
    }

    /// The bytes `encode` writes for `batch`, to size its payload first.
    private static func encodedSize(_ batch: BatchView) -> Int {
        let rows = batch.length, bitmap = 4 + (rows + 7) / 8
        var size = 4
        for column in batch.columns {
            size += 1 + (column.nullCount != 0 && column.validityBuffer != nil ? bitmap : 0)
            switch column.field.type {
            case .null: size += 4
            case .bool: size += bitmap
            case .binary, .utf8:
                let offsets = column.offsetsBuffer, first = column.arrayOffset
                size += 4 + (rows + 1) * 4 + 4 + Int(offsets?[first + rows] ?? 0) - Int(offsets?[first] ?? 0)
            default: size += 4 + rows * (column.field.type.byteWidth ?? 0)
            }
        }
        return size
    }

    /// `count` bits from bit `first` of `bitmap`, as a bitmap from bit 0.
    private static func bits(_ bitmap: UnsafePointer<UInt8>?, from first: Int, count: Int) -> [UInt8] {
        let bytes = (count + 7) / 8
        guard let bitmap else { return [UInt8](repeating: 0, count: bytes) }
        if first % 8 == 0 { return Array(UnsafeBufferPointer(start: bitmap + first / 8, count: bytes)) }
        var out = [UInt8](repeating: 0, count: bytes)
        for i in 0..<count where bitmap[(first + i) >> 3] & (1 << UInt8((first + i) & 7)) != 0 { out[i >> 3] |= 1 << UInt8(i & 7) }
        return out
    }

    /// The batch encoded in `bytes` from `start` on.
    static func decode(_ bytes: [UInt8], from start: Int = 0, into builder: BatchBuilder) throws -> OwnedBatch {
        var r = WireReader(bytes, from: start)
        let rows = Int(try r.u32())
        // Columns of type null carry nothing a row: a claimed count is still bounded (the
        // largest batch a source sends is 65,536 rows by default).
        guard rows <= 1 << 24 else {
            throw WireReader.Malformed(description: "a batch claiming \(rows) rows in \(bytes.count) bytes")
        }
        for column in builder.columns {
            let validity = try r.u8() == 1 ? try r.blob() : nil
            let first = try r.blob()
            let second: ArraySlice<UInt8>? = column.field.type == .binary || column.field.type == .utf8 ? try r.blob() : nil
            let (offsets, values) = second.map { (first as ArraySlice<UInt8>?, $0) } ?? (nil, first)
            try values.withUnsafeBytes { values in
                try withOptionalBytes(validity) { validity in
                    try withOptionalBytes(offsets) { offsets in
                        try column.load(count: rows, validity: validity, values: values, offsets: offsets)
                    }
                }
            }
        }
        guard r.isAtEnd else { throw WireReader.Malformed(description: "a batch longer than its columns") }
        return try OwnedBatch(exporting: builder)
    }

    private static func withOptionalBytes<T>(_ slice: ArraySlice<UInt8>?, _ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        guard let slice else { return try body(nil) }
        return try slice.withUnsafeBytes { try body($0) }
    }
}
