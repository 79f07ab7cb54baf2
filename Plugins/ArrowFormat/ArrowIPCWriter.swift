import PluginKit

/// Writes the Arrow IPC streaming format: a Schema message, one RecordBatch message per
/// batch, and the end-of-stream marker. Each message is the continuation marker, the
/// metadata length, the FlatBuffers metadata (padded to 8) and the body, whose buffers are
/// each padded to 8 bytes. Buffers are copied straight from the batch, never re-encoded.
struct ArrowIPCWriter {
    private static let continuation: UInt32 = 0xFFFF_FFFF
    private static let metadataVersionV5: Int16 = 4

    let fields: [ArrowField]

    /// Schema message.
    func schemaMessage() -> [UInt8] {
        let schema = FlatNode.table([
            .i16(0),  // endianness: little
            .offset(.tables(fields.map(Self.field))),
        ])
        return Self.message(headerType: 1, header: schema, bodyLength: 0)
    }

    /// The end of the stream.
    static let endOfStream: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]

    /// A RecordBatch message: metadata, then `emit` gets each body piece in order.
    func recordBatch(_ batch: BatchView, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var nodes: [UInt8] = []
        var buffers: [UInt8] = []
        var pieces: [UnsafeRawBufferPointer] = []
        var bodyLength = 0
        func addBuffer(_ piece: UnsafeRawBufferPointer) {
            Self.append(Int64(bodyLength), to: &buffers)
            Self.append(Int64(piece.count), to: &buffers)
            pieces.append(piece)
            bodyLength += Self.padded(piece.count)
        }
        for column in batch.columns {
            let length = column.length
            Self.append(Int64(length), to: &nodes)
            Self.append(Int64(column.field.type == .null ? length : column.nullCount), to: &nodes)
            if column.field.type == .null { continue }
            // Validity: omitted (length 0) when there are no nulls.
            let validity = column.nullCount > 0 ? column.validityBuffer.map { UnsafeRawBufferPointer(start: $0, count: (length + 7) / 8) } : nil
            addBuffer(validity ?? UnsafeRawBufferPointer(start: nil, count: 0))
            switch column.field.type {
            case .bool:
                addBuffer(UnsafeRawBufferPointer(start: column.valuesBuffer, count: (length + 7) / 8))
            case .binary, .utf8:
                let offsets = column.offsetsBuffer
                addBuffer(UnsafeRawBufferPointer(start: offsets, count: length == 0 ? 0 : (length + 1) * 4))
                let dataLength = length == 0 ? 0 : Int(offsets![length])
                addBuffer(UnsafeRawBufferPointer(start: column.valuesBuffer, count: dataLength))
            default:
                let width = column.field.type.byteWidth ?? 0
                addBuffer(UnsafeRawBufferPointer(start: column.valuesBuffer, count: length * width))
            }
        }
        let recordBatch = FlatNode.table([
            .i64(Int64(batch.length)),
            .offset(.structs(bytes: nodes, count: batch.columns.count)),
            .offset(.structs(bytes: buffers, count: buffers.count / 16)),
        ])
        try Self.message(headerType: 3, header: recordBatch, bodyLength: bodyLength).withUnsafeBytes(emit)
        let zeros = [UInt8](repeating: 0, count: 8)
        try zeros.withUnsafeBytes { padding in
            for piece in pieces {
                if piece.count > 0 { try emit(piece) }
                let pad = Self.padded(piece.count) - piece.count
                if pad > 0 { try emit(UnsafeRawBufferPointer(rebasing: padding[0..<pad])) }
            }
        }
    }

    /// An empty RecordBatch message (every column 0 rows, every buffer empty) whose message
    /// metadata holds `gateway.error`: the reason a stream stops early.
    func errorMessage(_ reason: String) -> [UInt8] {
        var nodes: [UInt8] = []
        var buffers: [UInt8] = []
        for field in fields {
            Self.append(Int64(0), to: &nodes)
            Self.append(Int64(0), to: &nodes)
            guard field.type != .null else { continue }
            for _ in 0..<field.type.bufferCount {
                Self.append(Int64(0), to: &buffers)
                Self.append(Int64(0), to: &buffers)
            }
        }
        let recordBatch = FlatNode.table([
            .i64(0),
            .offset(.structs(bytes: nodes, count: fields.count)),
            .offset(.structs(bytes: buffers, count: buffers.count / 16)),
        ])
        return Self.message(headerType: 3, header: recordBatch, bodyLength: 0, metadata: [("gateway.error", reason)])
    }

    /// True when every column's buffers start at element 0, so they can be copied whole.
    static func isUnsliced(_ batch: BatchView) -> Bool {
        batch.columns.allSatisfy { $0.arrayOffset == 0 && ($0.offsetsBuffer.map { $0[0] == 0 } ?? true) }
    }

    // MARK: metadata

    /// `metadata`: the message's custom_metadata (key/value pairs), none when empty.
    private static func message(headerType: UInt8, header: FlatNode, bodyLength: Int, metadata pairs: [(String, String)] = []) -> [UInt8] {
        let keyValues: [FlatNode] = pairs.map { key, value in .table([.offset(.string(key)), .offset(.string(value))]) }
        let custom: FlatField? = pairs.isEmpty ? nil : .offset(.tables(keyValues))
        let metadata = FlatBufferWriter.encode(
            .table([
                .i16(metadataVersionV5),
                .u8(headerType),
                .offset(header),
                .i64(Int64(bodyLength)),
                custom,
            ]))
        var out: [UInt8] = []
        out.reserveCapacity(metadata.count + 8)
        append(continuation, to: &out)
        append(UInt32(metadata.count), to: &out)  // already a multiple of 8, as is 8 + it
        out += metadata
        return out
    }

    private static func field(_ f: ArrowField) -> FlatNode {
        let (typeTag, type) = typeNode(f.type)
        return .table([
            .offset(.string(f.name)),
            .bool(f.nullable),
            .u8(typeTag),
            .offset(type),
            nil,  // dictionary
            .offset(.tables([])),  // children
        ])
    }

    /// The Type union member for an ABI type: (tag, table).
    private static func typeNode(_ t: ArrowType) -> (UInt8, FlatNode) {
        switch t {
        case .null: (1, .table([]))
        case .int8: (2, .table([.i32(8), .bool(true)]))
        case .int16: (2, .table([.i32(16), .bool(true)]))
        case .int32: (2, .table([.i32(32), .bool(true)]))
        case .int64: (2, .table([.i32(64), .bool(true)]))
        case .uint8: (2, .table([.i32(8), .bool(false)]))
        case .uint16: (2, .table([.i32(16), .bool(false)]))
        case .uint32: (2, .table([.i32(32), .bool(false)]))
        case .uint64: (2, .table([.i32(64), .bool(false)]))
        case .float32: (3, .table([.i16(1)]))
        case .float64: (3, .table([.i16(2)]))
        case .binary: (4, .table([]))
        case .utf8: (5, .table([]))
        case .bool: (6, .table([]))
        case .decimal128(let p, let s): (7, .table([.i32(Int32(p)), .i32(Int32(s)), .i32(128)]))
        case .decimal256(let p, let s): (7, .table([.i32(Int32(p)), .i32(Int32(s)), .i32(256)]))
        case .date32: (8, .table([.i16(0)]))
        case .date64: (8, .table([.i16(1)]))
        case .timestamp(let unit, let zone):
            (10, .table([.i16(timeUnit(unit)), zone.map { .offset(.string($0)) }]))
        }
    }

    private static func timeUnit(_ u: ArrowType.TimeUnit) -> Int16 {
        switch u {
        case .second: 0
        case .milli: 1
        case .micro: 2
        case .nano: 3
        }
    }

    private static func padded(_ n: Int) -> Int { (n + 7) & ~7 }

    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }
}
