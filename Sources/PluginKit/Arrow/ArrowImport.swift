import CLinuxExtras
import PluginABI

/// Reads the fields of a record-batch schema ("+s"), refusing anything the ABI does not name.
public func readFields(_ schema: UnsafePointer<ArrowSchema>) throws -> [ArrowField] {
    guard schema.pointee.release != nil else { throw ArrowError.invalid("schema already released") }
    guard let format = schema.pointee.format, String(cString: format) == "+s" else {
        throw ArrowError.invalid("a batch schema must have format '+s'")
    }
    let n = Int(schema.pointee.n_children)
    guard n >= 0, n == 0 || schema.pointee.children != nil else {
        throw ArrowError.invalid("schema has \(n) children but no child list")
    }
    var fields: [ArrowField] = []
    for i in 0..<n {
        guard let child = schema.pointee.children[i], let childFormat = child.pointee.format else {
            throw ArrowError.invalid("schema child \(i) is missing or has no format")
        }
        let formatString = String(cString: childFormat)
        let name = child.pointee.name.map { String(cString: $0) } ?? ""
        guard let type = ArrowType(format: formatString) else {
            throw ArrowError.invalid(
                "column \(i) ('\(name)') has Arrow type '\(formatString)', which the ABI does not name "
                    + "(gateway_plugin.h lists the column types a plugin may produce)")
        }
        let nullable = child.pointee.flags & Int64(ARROW_FLAG_NULLABLE) != 0
        fields.append(ArrowField(name, type, nullable: nullable))
    }
    return fields
}

/// How a column's values are stored, without the type's parameters: cheap to copy and to
/// switch on in per-value loops (no reference counting).
public enum PhysicalKind: UInt8, Sendable {
    case null, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64
    case decimal128, decimal256, date32, date64, timestamp, binary, utf8

    public init(_ type: ArrowType) {
        switch type {
        case .null: self = .null
        case .bool: self = .bool
        case .int8: self = .int8
        case .int16: self = .int16
        case .int32: self = .int32
        case .int64: self = .int64
        case .uint8: self = .uint8
        case .uint16: self = .uint16
        case .uint32: self = .uint32
        case .uint64: self = .uint64
        case .float32: self = .float32
        case .float64: self = .float64
        case .decimal128: self = .decimal128
        case .decimal256: self = .decimal256
        case .date32: self = .date32
        case .date64: self = .date64
        case .timestamp: self = .timestamp
        case .binary: self = .binary
        case .utf8: self = .utf8
        }
    }
}

/// A column's buffers and their accessors, as plain values: what per-value loops use.
/// Valid while the batch it came from is alive.
public struct RawColumn {
    public let kind: PhysicalKind
    public let length: Int
    public let nullCount: Int
    public let offset: Int
    public let validity: UnsafePointer<UInt8>?
    public let values: UnsafeRawPointer?
    public let offsets: UnsafePointer<Int32>?

    @inline(__always)
    public func isNull(_ row: Int) -> Bool {
        if kind == .null { return true }
        guard nullCount != 0, let validity else { return false }
        let i = row + offset
        return validity[i >> 3] & (1 << UInt8(i & 7)) == 0
    }

    /// Signed integers, dates (days or ms), timestamps (in the column's unit) and bools.
    @inline(__always)
    public func int64(_ row: Int) -> Int64 {
        let i = row + offset
        switch kind {
        case .int8: return Int64(values!.load(fromByteOffset: i, as: Int8.self))
        case .int16: return Int64(values!.load(fromByteOffset: i * 2, as: Int16.self))
        case .int32, .date32: return Int64(values!.load(fromByteOffset: i * 4, as: Int32.self))
        case .int64, .date64, .timestamp: return values!.load(fromByteOffset: i * 8, as: Int64.self)
        case .uint8, .uint16, .uint32, .uint64: return Int64(truncatingIfNeeded: uint64(row))
        case .bool: return bool(row) ? 1 : 0
        case .float32, .float64: return Int64(exactly: double(row).rounded(.towardZero)) ?? 0  // NaN and ±inf must not trap
        default: return 0
        }
    }

    @inline(__always)
    public func uint64(_ row: Int) -> UInt64 {
        let i = row + offset
        switch kind {
        case .uint8: return UInt64(values!.load(fromByteOffset: i, as: UInt8.self))
        case .uint16: return UInt64(values!.load(fromByteOffset: i * 2, as: UInt16.self))
        case .uint32: return UInt64(values!.load(fromByteOffset: i * 4, as: UInt32.self))
        case .uint64: return values!.load(fromByteOffset: i * 8, as: UInt64.self)
        default: return UInt64(bitPattern: int64(row))
        }
    }

    @inline(__always)
    public func double(_ row: Int) -> Double {
        let i = row + offset
        switch kind {
        case .float32: return Double(values!.load(fromByteOffset: i * 4, as: Float.self))
        case .float64: return values!.load(fromByteOffset: i * 8, as: Double.self)
        case .uint8, .uint16, .uint32, .uint64: return Double(uint64(row))
        default: return Double(int64(row))
        }
    }

    @inline(__always)
    public func bool(_ row: Int) -> Bool {
        let i = row + offset
        guard kind == .bool else { return int64(row) != 0 }
        return values!.load(fromByteOffset: i >> 3, as: UInt8.self) & (1 << UInt8(i & 7)) != 0
    }

    /// The bytes of a binary or utf8 value, borrowed from the batch.
    @inline(__always)
    public func bytes(_ row: Int) -> UnsafeRawBufferPointer {
        guard let offsets else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let i = row + offset
        let start = Int(offsets[i])
        let end = Int(offsets[i + 1])
        guard end > start, let values else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: values + start, count: end - start)
    }

    /// The decimal words (little-endian two's complement) of a decimal value.
    public func decimalWords(_ row: Int) -> [UInt64] {
        let words = kind == .decimal256 ? 4 : kind == .decimal128 ? 2 : 0
        let base = (row + offset) * words * 8
        return (0..<words).map { values!.load(fromByteOffset: base + $0 * 8, as: UInt64.self) }
    }
}

/// A read-only view of one column of a batch. A view taken from an `OwnedBatch` keeps the
/// batch alive; one made from a borrowed array is valid only while that array is.
public struct ColumnView {
    /// Keeps the memory behind the pointers alive (an OwnedBatch), when there is one.
    var owner: AnyObject?
    public let field: ArrowField
    public let raw: RawColumn

    public var length: Int { raw.length }
    public var nullCount: Int { raw.nullCount }

    /// Checks the array against its type before any of its bytes is read: lengths and the
    /// offset (no overflow), the buffer count, no children or dictionary, nulls only with a
    /// bitmap, and, for text and binary columns, offsets that start at 0 or more and never
    /// go backwards (one pass). The C data interface carries no buffer sizes: with `probe`,
    /// every byte range the column's reads will touch (validity, values, offsets, data, as
    /// far as length, offset and the last offset reach) is checked to be readable memory
    /// first, so a plugin that lies about a length gets an error, not a read that kills the
    /// process or sends its heap to a client. (A lie that stays inside memory the process
    /// can read is not visible from here; a plugin run in a worker process hands over its
    /// buffers with their sizes.) Our own batches skip the probe.
    init(field: ArrowField, array: UnsafePointer<ArrowArray>, expectedLength: Int, probe: Bool = true) throws {
        let a = array.pointee
        self.field = field
        func invalid(_ what: String) -> ArrowError { ArrowError.invalid("column '\(field.name)' \(what)") }
        guard a.release != nil else { throw invalid("is already released") }
        guard a.length >= 0, a.offset >= 0, a.offset <= Int64.max - a.length else {
            throw invalid("has length \(a.length) at offset \(a.offset)")
        }
        let length = Int(a.length), offset = Int(a.offset), nullCount = Int(a.null_count)
        guard length == expectedLength else { throw invalid("has length \(length), expected \(expectedLength)") }
        guard nullCount >= -1, nullCount <= length else { throw invalid("has null_count \(nullCount) for \(length) rows") }
        guard Int(a.n_buffers) == field.type.bufferCount else {
            throw invalid("has \(a.n_buffers) buffers, type \(field.type.format) needs \(field.type.bufferCount)")
        }
        guard a.n_children == 0, a.dictionary == nil else {
            throw invalid("has children or a dictionary, which type \(field.type.format) does not (dictionary-encoded columns are not in the ABI)")
        }
        let kind = PhysicalKind(field.type)
        if field.type == .null {
            raw = RawColumn(kind: kind, length: length, nullCount: nullCount, offset: offset, validity: nil, values: nil, offsets: nil)
            return
        }
        guard let buffers = a.buffers else { throw invalid("has no buffer list") }
        let validity = buffers[0].map { $0.assumingMemoryBound(to: UInt8.self) }
        if nullCount != 0 && validity == nil && length > 0 {
            throw invalid("has nulls but no validity bitmap")
        }
        let end = offset + length  // rows (or bits) the reads reach, from the buffers' start
        let bitmapBytes = end / 8 + (end % 8 == 0 ? 0 : 1)  // no `end + 7`: end may be Int.max
        if let validity, length > 0 { try Self.readable(validity, bitmapBytes, probe, "column '\(field.name)' validity bitmap") }
        let values: UnsafeRawPointer?, offsets: UnsafePointer<Int32>?
        switch field.type {
        case .binary, .utf8:
            offsets = buffers[1].map { UnsafePointer($0.assumingMemoryBound(to: Int32.self)) }
            values = buffers[2].map { UnsafeRawPointer($0) }
            guard length > 0 else { break }
            guard let offsets else { throw invalid("has no offsets buffer") }
            let (entries, tooMany) = end.addingReportingOverflow(1)
            let (offsetBytes, overflow) = entries.multipliedReportingOverflow(by: 4)
            guard !tooMany, !overflow else { throw invalid("has more rows than an offsets buffer can hold") }
            try Self.readable(offsets, offsetBytes, probe, "column '\(field.name)' offsets buffer")
            var previous = offsets[offset]
            guard previous >= 0 else { throw invalid("has a negative first offset (\(previous))") }
            for i in (offset + 1)...end {
                let next = offsets[i]
                guard next >= previous else { throw invalid("has offsets going backwards at row \(i - offset - 1) (\(previous) then \(next))") }
                previous = next
            }
            let first = Int(offsets[offset]), last = Int(previous)
            guard last > first else { break }
            guard let values else { throw invalid("has no data buffer") }
            try Self.readable(values + first, last - first, probe, "column '\(field.name)' data buffer (offsets reach byte \(last))")
        default:
            offsets = nil
            values = buffers[1].map { UnsafeRawPointer($0) }
            guard length > 0 else { break }
            guard let values else { throw invalid("has no values buffer") }
            let bytes: Int
            if let width = field.type.byteWidth {
                let (product, overflow) = end.multipliedReportingOverflow(by: width)
                guard !overflow else { throw invalid("has more rows than a values buffer can hold") }
                bytes = product
            } else {
                bytes = bitmapBytes  // booleans, one bit a value
            }
            try Self.readable(values, bytes, probe, "column '\(field.name)' values buffer")
        }
        raw = RawColumn(
            kind: kind, length: length, nullCount: nullCount, offset: offset,
            validity: validity.map { UnsafePointer($0) }, values: values, offsets: offsets)
    }

    /// Throws `problem` (with how far the reads would reach) unless `count` bytes from
    /// `start` are readable memory. Without `probe`, trusts the buffer (our own batches).
    private static func readable(_ start: UnsafeRawPointer, _ count: Int, _ probe: Bool, _ what: @autoclosure () -> String) throws {
        guard probe, count > 0 else { return }
        guard gw_memory_readable(start, count) != 0 else {
            throw ArrowError.invalid(
                "\(what()): \(count) bytes from its start are not all readable memory (a length or offset past the buffer the plugin allocated)")
        }
    }

    /// The raw buffers, for writers that copy them whole (Arrow IPC). Values start at
    /// `arrayOffset`, in elements (bits for booleans and validity).
    public var arrayOffset: Int { raw.offset }
    public var validityBuffer: UnsafePointer<UInt8>? { raw.validity }
    public var valuesBuffer: UnsafeRawPointer? { raw.values }
    public var offsetsBuffer: UnsafePointer<Int32>? { raw.offsets }

    @inline(__always) public func isNull(_ row: Int) -> Bool { raw.isNull(row) }
    @inline(__always) public func int64(_ row: Int) -> Int64 { raw.int64(row) }
    @inline(__always) public func uint64(_ row: Int) -> UInt64 { raw.uint64(row) }
    @inline(__always) public func double(_ row: Int) -> Double { raw.double(row) }
    @inline(__always) public func bool(_ row: Int) -> Bool { raw.bool(row) }
    @inline(__always) public func bytes(_ row: Int) -> UnsafeRawBufferPointer { raw.bytes(row) }
    public func string(_ row: Int) -> String { String(decoding: raw.bytes(row), as: UTF8.self) }
    public func decimalWords(_ row: Int) -> [UInt64] { raw.decimalWords(row) }

    /// A decimal value as text, e.g. "-12.3400".
    public func decimalText(_ row: Int) -> String {
        switch field.type {
        case .decimal128(_, let scale), .decimal256(_, let scale):
            return DecimalText.format(decimalWords(row), scale: scale)
        default:
            return ""
        }
    }
}

/// A read-only view of a record batch: one ColumnView per field.
public struct BatchView {
    public let fields: [ArrowField]
    public private(set) var columns: [ColumnView]
    public let length: Int

    /// The same view, keeping `owner` alive for as long as it or any column is used.
    func retaining(_ owner: AnyObject) -> BatchView {
        var copy = self
        for i in copy.columns.indices { copy.columns[i].owner = owner }
        return copy
    }

    /// Validates the batch's structure against `fields`; throws rather than read past it.
    /// `probe`: check that every buffer's extent is readable memory (see ColumnView); off
    /// only for batches this process built itself.
    public init(fields: [ArrowField], array: UnsafePointer<ArrowArray>, probe: Bool = true) throws {
        let a = array.pointee
        guard a.release != nil else { throw ArrowError.invalid("batch already released") }
        guard a.length >= 0, a.null_count <= 0 || a.length == 0 else {
            throw ArrowError.invalid("a batch's rows cannot be null")
        }
        guard Int(a.n_children) == fields.count else {
            throw ArrowError.invalid("batch has \(a.n_children) columns, schema has \(fields.count)")
        }
        guard a.offset == 0 else { throw ArrowError.invalid("batch offset must be 0") }
        guard a.dictionary == nil else { throw ArrowError.invalid("a batch has no dictionary") }
        self.fields = fields
        length = Int(a.length)
        var columns: [ColumnView] = []
        columns.reserveCapacity(fields.count)
        for (i, field) in fields.enumerated() {
            guard let children = a.children, let child = children[i] else {
                throw ArrowError.invalid("batch column \(i) is missing")
            }
            columns.append(try ColumnView(field: field, array: child, expectedLength: length, probe: probe))
        }
        self.columns = columns
    }
}
