/// The column types of the ABI (see "Rows at the boundary" in gateway_plugin.h), parsed
/// from and printed as Arrow C Data Interface format strings.
public enum ArrowType: Equatable, Hashable, Sendable {
    public enum TimeUnit: String, Sendable, CaseIterable {
        case second = "s", milli = "m", micro = "u", nano = "n"

        /// How many of this unit make one second.
        public var perSecond: Int64 {
            switch self {
            case .second: 1
            case .milli: 1_000
            case .micro: 1_000_000
            case .nano: 1_000_000_000
            }
        }

        /// `value` of this unit in microseconds; nil when that does not fit Int64 (a value
        /// from a plugin can be anything: no conversion may trap).
        public func micros(_ value: Int64) -> Int64? { convert(value, toPerSecond: 1_000_000) }

        /// `value` of this unit in milliseconds; nil when that does not fit Int64.
        public func millis(_ value: Int64) -> Int64? { convert(value, toPerSecond: 1_000) }

        private func convert(_ value: Int64, toPerSecond target: Int64) -> Int64? {
            guard perSecond < target else { return value / (perSecond / target) }
            let (scaled, overflow) = value.multipliedReportingOverflow(by: target / perSecond)
            return overflow ? nil : scaled
        }
    }

    case null, bool
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case float32, float64
    case decimal128(precision: Int, scale: Int)
    case decimal256(precision: Int, scale: Int)
    case date32, date64
    /// `timezone` nil means wall-clock time without a zone (format "ts?:").
    case timestamp(TimeUnit, timezone: String?)
    case binary, utf8

    /// The type as people read it in messages ("int64", "timestamp[us, UTC]"), not its
    /// one-letter format code.
    public var name: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int8: "int8"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .uint8: "uint8"
        case .uint16: "uint16"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .float32: "float32"
        case .float64: "float64"
        case .decimal128(let p, let s): "decimal128(\(p), \(s))"
        case .decimal256(let p, let s): "decimal256(\(p), \(s))"
        case .date32: "date32"
        case .date64: "date64"
        case .timestamp(let unit, let zone): "timestamp[\(unit.rawValue)s\(zone.map { ", \($0)" } ?? "")]"
        case .binary: "binary"
        case .utf8: "utf8 text"
        }
    }

    /// Every type the ABI names, one of each, for conformance checks and tests.
    public static let allABITypes: [ArrowType] = [
        .null, .bool, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64,
        .float32, .float64, .decimal128(precision: 18, scale: 4),
        .decimal256(precision: 40, scale: 2), .date32, .date64,
        .timestamp(.micro, timezone: "UTC"), .binary, .utf8,
    ]

    public init?(format: String) {
        switch format {
        case "n": self = .null
        case "b": self = .bool
        case "c": self = .int8
        case "s": self = .int16
        case "i": self = .int32
        case "l": self = .int64
        case "C": self = .uint8
        case "S": self = .uint16
        case "I": self = .uint32
        case "L": self = .uint64
        case "f": self = .float32
        case "g": self = .float64
        case "tdD": self = .date32
        case "tdm": self = .date64
        case "z": self = .binary
        case "u": self = .utf8
        default:
            if let decimal = Self.parseDecimal(format) {
                self = decimal
            } else if let timestamp = Self.parseTimestamp(format) {
                self = timestamp
            } else {
                return nil
            }
        }
    }

    public var format: String {
        switch self {
        case .null: "n"
        case .bool: "b"
        case .int8: "c"
        case .int16: "s"
        case .int32: "i"
        case .int64: "l"
        case .uint8: "C"
        case .uint16: "S"
        case .uint32: "I"
        case .uint64: "L"
        case .float32: "f"
        case .float64: "g"
        case .decimal128(let p, let s): "d:\(p),\(s)"
        case .decimal256(let p, let s): "d:\(p),\(s),256"
        case .date32: "tdD"
        case .date64: "tdm"
        case .timestamp(let unit, let zone): "ts\(unit.rawValue):\(zone ?? "")"
        case .binary: "z"
        case .utf8: "u"
        }
    }

    /// Width in bytes of one value in the values buffer; nil for bit-packed, var-width
    /// and null columns.
    public var byteWidth: Int? {
        switch self {
        case .null, .bool, .binary, .utf8: nil
        case .int8, .uint8: 1
        case .int16, .uint16: 2
        case .int32, .uint32, .float32, .date32: 4
        case .int64, .uint64, .float64, .date64, .timestamp: 8
        case .decimal128: 16
        case .decimal256: 32
        }
    }

    /// Buffers an array of this type carries (validity first), per the Arrow spec.
    public var bufferCount: Int {
        switch self {
        case .null: 0
        case .binary, .utf8: 3
        default: 2
        }
    }

    public var isSignedInteger: Bool {
        switch self {
        case .int8, .int16, .int32, .int64: true
        default: false
        }
    }

    public var isUnsignedInteger: Bool {
        switch self {
        case .uint8, .uint16, .uint32, .uint64: true
        default: false
        }
    }

    private static func parseDecimal(_ format: String) -> ArrowType? {
        guard format.hasPrefix("d:") else { return nil }
        let parts = format.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3,
            let precision = Int(parts[0]), let scale = Int(parts[1]), precision > 0,
            scale >= 0, scale <= precision  // negative scales are valid Arrow, but no writer here handles them
        else { return nil }
        if parts.count == 2 || parts[2] == "128" {
            guard precision <= 38 else { return nil }
            return .decimal128(precision: precision, scale: scale)
        }
        guard parts[2] == "256", precision <= 76 else { return nil }
        return .decimal256(precision: precision, scale: scale)
    }

    private static func parseTimestamp(_ format: String) -> ArrowType? {
        let chars = Array(format)
        guard chars.count >= 4, chars[0] == "t", chars[1] == "s", chars[3] == ":",
            let unit = TimeUnit(rawValue: String(chars[2]))
        else { return nil }
        let zone = String(chars[4...])
        return .timestamp(unit, timezone: zone.isEmpty ? nil : zone)
    }
}

/// One column of a schema.
public struct ArrowField: Equatable, Hashable, Sendable {
    public var name: String
    public var type: ArrowType
    public var nullable: Bool

    public init(_ name: String, _ type: ArrowType, nullable: Bool = true) {
        self.name = name
        self.type = type
        self.nullable = nullable
    }
}
