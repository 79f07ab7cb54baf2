import Foundation

/// JSON records (objects) as Arrow columns, for sources that read APIs: nested objects
/// become columns named by their path (`shop.name`), arrays stay JSON text or are dropped,
/// columns are chosen, renamed and typed by configuration, and whatever is not declared is
/// decided by a sample (the first page) and then fixed for the whole read.
public struct RecordColumns: Sendable {
    public struct Options: Sendable {
        /// Between the parts of a nested field's name.
        public var separator = "."
        /// Arrays (and anything nested past `maxDepth`) kept as JSON text, else dropped.
        public var keepArrays = true
        /// Source name (after flattening) → column name.
        public var rename: [String: String] = [:]
        public var drop: Set<String> = []
        /// The columns by source name, in this order; nil: those of the sample.
        public var select: [String]?
        /// Source name → type; the rest are inferred from the sample.
        public var types: [String: ArrowType] = [:]
        /// Reads a text as a time, for timestamp columns.
        public var parseTime: @Sendable (String) -> Date? = { _ in nil }

        public init() {}
    }

    /// More columns than this in a sample is refused: an API answering with a record of a
    /// million keys must not become a million columns.
    public static let maxColumns = 2_000
    static let maxDepth = 16

    public let fields: [ArrowField]
    private let sourceNames: [String]
    private let index: [String: Int]
    private let options: Options

    public init(sample: [OrderedJSON], options: Options) throws {
        self.options = options
        let flat = sample.map { Self.flatten($0, options) }
        var names = options.select ?? []
        if options.select == nil {
            var seen = Set<String>()
            for record in flat {
                for (k, _) in record where !options.drop.contains(k) && seen.insert(k).inserted {
                    names.append(k)
                    guard names.count <= Self.maxColumns else {
                        throw PluginError.invalidArgument("the records have more than \(Self.maxColumns) fields: name the columns to keep (select)")
                    }
                }
            }
        }
        sourceNames = names
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
        let inferred = Self.infer(flat)
        var columns: [String: String] = [:]
        fields = try names.map { name in
            let column = options.rename[name] ?? name
            if let other = columns.updateValue(name, forKey: column) {
                throw PluginError.invalidArgument("the fields '\(other)' and '\(name)' would both be the column '\(column)': rename one")
            }
            return ArrowField(column, options.types[name] ?? inferred[name] ?? .utf8)
        }
    }

    /// A type by the names configurations use.
    public static func type(named name: String) -> ArrowType? {
        switch name.lowercased() {
        case "int64", "integer": .int64
        case "float64", "number", "real": .float64
        case "bool", "boolean": .bool
        case "utf8", "string", "text": .utf8
        case "timestamp": .timestamp(.micro, timezone: nil)
        default: nil
        }
    }

    /// Appends one record as a row; a value that does not fit its column's type is an error
    /// naming the field (declare its type).
    public func append(_ record: OrderedJSON, to batch: BatchBuilder) throws {
        var values = [OrderedJSON?](repeating: nil, count: sourceNames.count)
        for (name, value) in Self.flatten(record, options) {
            if let i = index[name], values[i] == nil { values[i] = value }
        }
        for (i, value) in values.enumerated() {
            try append(value, to: batch[i], name: sourceNames[i])
        }
    }

    /// Nested objects become `parent<separator>child`; arrays are kept as JSON text or left out.
    public static func flatten(_ record: OrderedJSON, _ options: Options) -> [(String, OrderedJSON)] {
        var out: [(String, OrderedJSON)] = []
        flatten(record, options, prefix: "", depth: 0, into: &out)
        return out
    }

    private static func flatten(_ value: OrderedJSON, _ options: Options, prefix: String, depth: Int, into out: inout [(String, OrderedJSON)]) {
        guard case .object(let pairs) = value else { return }
        for (k, v) in pairs {
            let name = prefix.isEmpty ? k : prefix + options.separator + k
            switch v {
            case .object where depth < maxDepth: flatten(v, options, prefix: name, depth: depth + 1, into: &out)
            case .object, .array: if options.keepArrays { out.append((name, .string(v.compactText))) }
            default: out.append((name, v))
            }
        }
    }

    /// Each field's type from the sample, in one pass over it.
    private static func infer(_ records: [[(String, OrderedJSON)]]) -> [String: ArrowType] {
        var kinds: [String: ArrowType] = [:]
        for record in records {
            for (name, value) in record {
                guard let next = ArrowType.suggested(by: value) else { continue }
                kinds[name] = kinds[name]?.widened(with: next) ?? next
            }
        }
        return kinds
    }

    private func append(_ value: OrderedJSON?, to column: ColumnBuilder, name: String) throws {
        guard let value, value != .null else { return column.appendNull() }
        switch (column.field.type, value) {
        case (.utf8, .string(let s)), (.utf8, .number(let s)): try column.append(string: s)
        case (.utf8, .bool(let b)): try column.append(string: b ? "true" : "false")
        case (.int64, .number(let n)), (.int64, .string(let n)):
            guard let v = Int64(n) ?? Double(n).flatMap({ Int64(exactly: $0) }) else { throw mismatch(name, value, column) }
            try column.append(int: v)
        case (.float64, .number(let n)), (.float64, .string(let n)):
            guard let v = Double(n), v.isFinite else { throw mismatch(name, value, column) }
            try column.append(double: v)
        case (.bool, .bool(let b)): try column.append(bool: b)
        case (.timestamp, .string(let s)):
            guard let date = options.parseTime(s), let micros = Int64(exactly: (date.timeIntervalSince1970 * 1_000_000).rounded()) else {
                throw mismatch(name, value, column)
            }
            try column.append(int: micros)
        case (.utf8, _): try column.append(string: value.compactText)
        default: throw mismatch(name, value, column)
        }
    }

    private func mismatch(_ name: String, _ value: OrderedJSON, _ column: ColumnBuilder) -> PluginError {
        PluginError.invalidArgument(
            "field '\(name)' has \(value.compactText.prefix(40)) where \(column.field.type.name) was expected (from the first page): declare its type")
    }
}

extension ArrowType {
    /// The type a JSON value suggests: whole numbers int64, numbers float64, true/false bool,
    /// anything else text; nil for null (it suggests nothing).
    public static func suggested(by value: OrderedJSON) -> ArrowType? {
        switch value {
        case .null: nil
        case .bool: .bool
        case .number(let n): Int64(n) != nil ? .int64 : .float64
        default: .utf8
        }
    }

    /// The type that holds values of both: int64 and float64 make float64, anything else
    /// mixed makes text.
    public func widened(with other: ArrowType) -> ArrowType {
        if self == other { return self }
        if (self == .int64 && other == .float64) || (self == .float64 && other == .int64) { return .float64 }
        return .utf8
    }
}

extension OrderedJSON {
    /// A string's text, a number's text, true/false: what a scalar reads as; nil otherwise.
    public var scalarText: String? {
        switch self {
        case .string(let s), .number(let s): s
        case .bool(let b): b ? "true" : "false"
        default: nil
        }
    }

    /// Compact JSON text with the keys in their order and numbers exactly as they came.
    public var compactText: String {
        var out: [UInt8] = []
        appendText(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private func appendText(to out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .number(let n): out += Array(n.utf8)
        case .string(let s): JSONText.appendString(Array(s.utf8), to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.appendText(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let pairs):
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in pairs.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendString(Array(key.utf8), to: &out)
                out.append(UInt8(ascii: ":"))
                value.appendText(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
