import Glibc
import PluginABI

/// Builds one Arrow column value by value. The typed `append` functions convert to the
/// column's type; a value the type cannot hold throws, it is never silently truncated.
///
/// The mutable state lives behind a pointer, not in stored properties: Swift checks every
/// modification of a class's stored property for exclusive access at run time, and with
/// several per value those checks were a fifth of a query's CPU. The builder is used by one
/// thread at a time (it is not Sendable), so nothing here needs them.
public final class ColumnBuilder {
    private struct State {
        var count = 0
        var nullCount = 0
        var validity = RawBuffer()  // allocated at the first null
        var values = RawBuffer()
        var offsets = RawBuffer()  // Int32, binary and utf8 only
        var hasValidity = false
    }

    public let field: ArrowField
    /// The field's type without payloads that need reference counting (a timestamp's zone
    /// is a String): switching on `field.type` copied it on every append.
    private let kind: PhysicalKind
    private let decimalScale: Int
    /// Bytes per value of a fixed-width type (what a null takes).
    private let width: Int
    private let state: UnsafeMutablePointer<State>

    public private(set) var count: Int {
        get { state.pointee.count }
        set { state.pointee.count = newValue }
    }
    public private(set) var nullCount: Int {
        get { state.pointee.nullCount }
        set { state.pointee.nullCount = newValue }
    }
    /// Bytes of values held so far (for batch size budgets).
    public var byteCount: Int { values.count + offsets.count + validity.count }

    private var validity: RawBuffer {
        get { state.pointee.validity }
        _modify { yield &state.pointee.validity }
    }
    private var values: RawBuffer {
        get { state.pointee.values }
        _modify { yield &state.pointee.values }
    }
    private var offsets: RawBuffer {
        get { state.pointee.offsets }
        _modify { yield &state.pointee.offsets }
    }
    private var hasValidity: Bool {
        get { state.pointee.hasValidity }
        set { state.pointee.hasValidity = newValue }
    }

    public init(_ field: ArrowField) {
        self.field = field
        kind = PhysicalKind(field.type)
        decimalScale =
            switch field.type {
            case .decimal128(_, let scale), .decimal256(_, let scale): scale
            default: 0
            }
        width = field.type.byteWidth ?? 0
        state = .allocate(capacity: 1)
        state.initialize(to: State())
        if field.type == .binary || field.type == .utf8 { offsets.append(Int32(0)) }
    }

    deinit {
        validity.free()
        values.free()
        offsets.free()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    // MARK: appending

    public func appendNull() {
        if !hasValidity { startValidity() }
        setValid(false)
        switch kind {
        case .null: break
        case .bool: appendBit(false)
        case .binary, .utf8: offsets.append(Int32(values.count))
        default: values.appendZeros(width)
        }
        nullCount += 1
        count += 1
    }

    public func append(int value: Int64) throws {
        switch kind {
        case .int8: values.append(try narrow(value, to: Int8.self))
        case .int16: values.append(try narrow(value, to: Int16.self))
        case .int32, .date32: values.append(try narrow(value, to: Int32.self))
        case .int64, .date64, .timestamp: values.append(value)
        case .uint8, .uint16, .uint32, .uint64:
            guard value >= 0 else { throw ArrowError.outOfRange("\(value)", field) }
            return try append(uint: UInt64(value))
        case .float32: values.append(Float(value))
        case .float64: values.append(Double(value))
        case .bool: appendBit(value != 0)
        case .decimal128, .decimal256:
            return try append(decimal: String(value)[...], scaleHint: decimalScale)
        case .utf8, .binary: return try append(string: String(value))
        case .null: throw ArrowError.typeMismatch("int", field)
        }
        markValid()
    }

    public func append(uint value: UInt64) throws {
        switch kind {
        case .uint8: values.append(try narrow(value, to: UInt8.self))
        case .uint16: values.append(try narrow(value, to: UInt16.self))
        case .uint32: values.append(try narrow(value, to: UInt32.self))
        case .uint64: values.append(value)
        default:
            guard let signed = Int64(exactly: value) else { throw ArrowError.outOfRange("\(value)", field) }
            return try append(int: signed)
        }
        markValid()
    }

    public func append(double value: Double) throws {
        switch kind {
        case .float64: values.append(value)
        case .float32: values.append(Float(value))
        case .utf8: return try append(string: String(value))
        default:
            guard let exact = Int64(exactly: value) else { throw ArrowError.typeMismatch("\(value)", field) }
            return try append(int: exact)
        }
        markValid()
    }

    public func append(bool value: Bool) throws {
        switch kind {
        case .bool: appendBit(value)
        case .utf8: return try append(string: value ? "true" : "false")
        default: return try append(int: value ? 1 : 0)
        }
        markValid()
    }

    /// Text for utf8 columns, raw bytes for binary ones, and a decimal number for decimal
    /// columns.
    public func append(string value: String) throws {
        switch kind {
        case .utf8, .binary:
            var text = value
            try text.withUTF8 { try appendBytesUnchecked(UnsafeRawBufferPointer($0)) }
        case .decimal128, .decimal256:
            return try append(decimal: value[...], scaleHint: decimalScale)
        default:
            throw ArrowError.typeMismatch("text", field)
        }
    }

    /// Raw bytes for binary columns; UTF-8 (validated) for utf8 columns.
    public func append(bytes: UnsafeRawBufferPointer) throws {
        switch kind {
        case .binary:
            try appendBytesUnchecked(bytes)
        case .utf8:
            guard UTF8Validation.isValid(bytes) else {
                throw ArrowError.typeMismatch("invalid UTF-8", field)
            }
            try appendBytesUnchecked(bytes)
        default:
            throw ArrowError.typeMismatch("bytes", field)
        }
    }

    public func append(bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append(bytes: $0) }
    }

    private func append(decimal text: Substring, scaleHint scale: Int) throws {
        let words: Int
        switch kind {
        case .decimal128: words = 2
        case .decimal256: words = 4
        default: throw ArrowError.typeMismatch("decimal", field)
        }
        guard let storage = DecimalText.parse(text, scale: scale, words: words) else {
            throw ArrowError.outOfRange(String(text), field)
        }
        for word in storage { values.append(word) }
        markValid()
    }

    // MARK: whole columns

    /// Loads a whole column from its buffers, as Arrow lays them out from offset 0, into an
    /// empty builder: `validity` (nil: no nulls) and, by type, the values (fixed width: `count`
    /// values; bool: a bitmap), or `offsets` (`count + 1` Int32s from 0, never decreasing)
    /// and the bytes they index. Every size and offset is checked against the bytes given, and
    /// each utf8 value is checked as UTF-8: what is loaded is as sound as what `append` builds.
    public func load(
        count rows: Int, validity bitmap: UnsafeRawBufferPointer?, values data: UnsafeRawBufferPointer, offsets: UnsafeRawBufferPointer?
    ) throws {
        guard count == 0, rows >= 0 else { throw ArrowError.invalid("column '\(field.name)': loaded into a builder that holds values") }
        let bitmapBytes = (rows + 7) / 8
        if let bitmap {
            guard bitmap.count == bitmapBytes else {
                throw ArrowError.invalid("column '\(field.name)': a validity bitmap of \(bitmap.count) bytes for \(rows) rows")
            }
        }
        switch kind {
        case .null:
            guard bitmap == nil, data.isEmpty else { throw ArrowError.invalid("column '\(field.name)': a null column with buffers") }
        case .bool:
            guard data.count == bitmapBytes else { throw ArrowError.invalid("column '\(field.name)': \(data.count) bytes of booleans for \(rows) rows") }
        case .binary, .utf8:
            guard let offsets, offsets.count == (rows + 1) * 4 else { throw ArrowError.invalid("column '\(field.name)': offsets of the wrong size") }
            var previous: Int32 = 0
            for i in 0...rows {
                let offset = Int32(littleEndian: offsets.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
                guard (i == 0 && offset == 0) || (i > 0 && offset >= previous), Int(offset) <= data.count else {
                    throw ArrowError.invalid("column '\(field.name)': offsets out of order or past the data at row \(i)")
                }
                previous = offset
            }
            guard Int(previous) == data.count else { throw ArrowError.invalid("column '\(field.name)': data past its last offset") }
            if kind == .utf8, !UTF8Validation.isValid(data, cutAt: offsets, count: rows + 1) {
                throw ArrowError.typeMismatch("invalid UTF-8", field)
            }
            self.offsets.free()
            self.offsets.append(offsets)
        default:
            guard data.count == rows * width else { throw ArrowError.invalid("column '\(field.name)': \(data.count) bytes of values for \(rows) rows") }
        }
        values.append(data)
        if let bitmap {
            validity.append(bitmap)
            hasValidity = true
            // Bits past the last row do not count as nulls.
            var valid = 0
            for byte in bitmap.prefix(rows / 8) { valid += byte.nonzeroBitCount }
            if rows % 8 != 0 { valid += (bitmap[rows / 8] & UInt8(truncatingIfNeeded: (1 << (rows % 8)) - 1)).nonzeroBitCount }
            nullCount = rows - valid
        }
        if kind == .null { nullCount = rows }
        count = rows
    }

    // MARK: export

    /// Moves the built values into `out` (an ArrowArray owned by the caller from then on,
    /// released through its release callback) and leaves the builder empty.
    public func export(into out: UnsafeMutablePointer<ArrowArray>) {
        var buffers: [UnsafeMutableRawPointer?] = []
        switch field.type {
        case .null: break
        case .binary, .utf8:
            buffers = [hasValidity ? validity.take() : nil, offsets.take(), values.take()]
            // Arrow wants a non-null data buffer even when every string is empty.
            if buffers[2] == nil { buffers[2] = malloc(1) }
        default:
            buffers = [hasValidity ? validity.take() : nil, values.take()]
            if buffers[1] == nil { buffers[1] = malloc(1) }
        }
        ExportedArray.fill(
            out, length: count, nullCount: field.type == .null ? count : nullCount,
            buffers: buffers, children: [])
        reset()
    }

    private func reset() {
        validity.free()
        values.free()
        offsets.free()
        hasValidity = false
        count = 0
        nullCount = 0
        if field.type == .binary || field.type == .utf8 { offsets.append(Int32(0)) }
    }

    // MARK: internals

    /// Offsets are 32-bit: one batch's column holds at most 2 GB of bytes. Beyond that
    /// the append is refused (the offsets would wrap and corrupt every later value).
    private func appendBytesUnchecked(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count <= Int(Int32.max) - values.count else {
            throw ArrowError.invalid("column '\(field.name)' would hold over 2 GB in one batch; read it in smaller batches")
        }
        values.append(bytes)
        offsets.append(Int32(values.count))
        markValid()
    }

    private func startValidity() {
        hasValidity = true
        validity.extend(to: (count + 7) / 8, fill: 0xFF)
    }

    @inline(__always)
    private func markValid() {
        if hasValidity { setValid(true) }
        count += 1
    }

    private func setValid(_ valid: Bool) {
        let byteIndex = count >> 3
        if byteIndex >= validity.count { validity.appendZeros(1) }
        let mask = UInt8(1) << UInt8(count & 7)
        let old = validity.byte(at: byteIndex)
        validity.setByte(at: byteIndex, valid ? old | mask : old & ~mask)
    }

    private func appendBit(_ bit: Bool) {
        let byteIndex = count >> 3
        if byteIndex >= values.count { values.appendZeros(1) }
        if bit {
            values.setByte(at: byteIndex, values.byte(at: byteIndex) | UInt8(1) << UInt8(count & 7))
        }
    }

    private func narrow<Source: BinaryInteger, Target: FixedWidthInteger>(
        _ value: Source, to: Target.Type
    ) throws -> Target {
        guard let narrowed = Target(exactly: value) else { throw ArrowError.outOfRange("\(value)", field) }
        return narrowed
    }
}

/// A value that does not fit the column it is written to, or a malformed Arrow structure.
public enum ArrowError: Error, CustomStringConvertible, Sendable {
    case outOfRange(String, ArrowField)
    case typeMismatch(String, ArrowField)
    case invalid(String)

    public var description: String {
        switch self {
        case .outOfRange(let value, let field):
            "value \(value) does not fit column '\(field.name)' of type \(field.type.name)"
        case .typeMismatch(let value, let field):
            "cannot store \(value) in column '\(field.name)' of type \(field.type.name)"
        case .invalid(let reason):
            "invalid Arrow data: \(reason)"
        }
    }
}
