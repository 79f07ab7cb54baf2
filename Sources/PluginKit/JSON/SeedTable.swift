/// Rows in seed 002's shape: a header object mapping each key to its column title (its key
/// order is the column order), then row objects keyed the same way. Column types come
/// from the first rows seen: whole numbers → int64, numbers → float64, true/false → bool,
/// anything else → utf8. A later value that does not fit its column is an error naming
/// where it came from, never a silent blank.
public struct SeedTable: Sendable {
    public let keys: [String]
    public let fields: [ArrowField]
    /// A column for each key: rows are matched to the header in linear time.
    private let column: [String: Int]

    /// Excel's widest sheet: a header wider than this is refused.
    public static let maxColumns = 16_384

    /// `header` is the first row; `sample` the rows that set the types.
    public init(header: OrderedJSON, sample: [OrderedJSON]) throws {
        guard case .object(let pairs) = header, !pairs.isEmpty else {
            throw PluginError.invalidArgument("the first row must be the header: an object mapping each key to its column title")
        }
        guard pairs.count <= Self.maxColumns else {
            throw PluginError.invalidArgument("the header has \(pairs.count) columns; at most \(Self.maxColumns) are read")
        }
        var column: [String: Int] = [:]
        var keys: [String] = []
        for (key, _) in pairs where column[key] == nil {
            column[key] = keys.count
            keys.append(key)
        }
        self.keys = keys
        self.column = column
        let titles = Dictionary(pairs.map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
        var kinds = [ArrowType?](repeating: nil, count: keys.count)
        for row in sample {
            guard case .object(let cells) = row else { continue }
            for (key, value) in cells {
                guard let c = column[key], let next = ArrowType.suggested(by: value) else { continue }
                kinds[c] = kinds[c]?.widened(with: next) ?? next
            }
        }
        fields = keys.enumerated().map { c, key in
            let name: String
            switch titles[key] {
            case .string(let s)?: name = s
            case .number(let n)?: name = n
            default: name = key
            }
            return ArrowField(name, kinds[c] ?? .utf8)
        }
    }

    /// Appends one row object; `place` names it in errors ("page 3, row 7").
    public func append(_ row: OrderedJSON, to batch: BatchBuilder, place: @autoclosure () -> String) throws {
        guard case .object(let cells) = row else { throw PluginError.invalidArgument("\(place()) is not an object") }
        // Each key's first value, by column: one pass over the row, whatever its order.
        var values = [OrderedJSON?](repeating: nil, count: keys.count)
        for (key, value) in cells {
            if let c = column[key], values[c] == nil { values[c] = value }
        }
        for (i, value) in values.enumerated() {
            let column = batch[i]
            guard let value, value != .null else {
                column.appendNull()
                continue
            }
            do {
                switch (column.field.type, value) {
                case (.utf8, .string(let s)): try column.append(string: s)
                case (.utf8, .number(let n)): try column.append(string: n)
                case (.utf8, .bool(let b)): try column.append(string: b ? "true" : "false")
                case (.int64, .number(let n)), (.int64, .string(let n)):
                    guard let v = Int64(n.trimmingPrefixSpaces) else { throw Mismatch() }
                    try column.append(int: v)
                case (.float64, .number(let n)), (.float64, .string(let n)):
                    guard let v = Double(n.trimmingPrefixSpaces), v.isFinite else { throw Mismatch() }
                    try column.append(double: v)
                case (.bool, .bool(let b)): try column.append(bool: b)
                default: throw Mismatch()
                }
            } catch is Mismatch {
                throw PluginError.invalidArgument(
                    "\(place()): column '\(column.field.name)' has \(Self.describe(value)) where the first rows had \(Self.describe(column.field.type))")
            }
        }
    }

    private struct Mismatch: Error {}

    private static func describe(_ v: OrderedJSON) -> String {
        switch v {
        case .string(let s): "the text '\(s.prefix(40))'"
        case .number(let n): "the number \(n)"
        case .bool(let b): "\(b)"
        case .array: "an array"
        case .object: "an object"
        case .null: "null"
        }
    }

    private static func describe(_ t: ArrowType) -> String {
        switch t {
        case .int64: "whole numbers"
        case .float64: "numbers"
        case .bool: "true or false"
        default: "text"
        }
    }
}

private extension String {
    var trimmingPrefixSpaces: Substring { drop(while: { $0 == " " }) }
}
