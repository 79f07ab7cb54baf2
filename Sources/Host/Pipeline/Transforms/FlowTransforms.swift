import Foundation
import PluginKit

/// One value of a row as the transforms compare and convert it: dates, timestamps and
/// decimals as their ISO or decimal text.
enum FlowValue: Hashable, CustomStringConvertible {
    case null, bool(Bool), int(Int64), double(Double), text(String)

    init(_ column: ColumnView, _ row: Int) throws {
        if column.isNull(row) { self = .null; return }
        switch column.field.type {
        case .null: self = .null
        case .bool: self = .bool(column.bool(row))
        case .int8, .int16, .int32, .int64: self = .int(column.int64(row))
        case .uint8, .uint16, .uint32, .uint64:
            let v = column.uint64(row)
            self = Int64(exactly: v).map(FlowValue.int) ?? .text(String(v))
        case .float32, .float64: self = .double(column.double(row))
        case .decimal128, .decimal256: self = .text(column.decimalText(row))
        case .date32: self = .text(ISODates.day(column.int64(row)))
        case .date64: self = .text(ISODates.day(column.int64(row) / 86_400_000))
        case .timestamp(let unit, _):
            guard let micros = unit.micros(column.int64(row)) else { throw TimeOutOfRange(column: column.field.name) }
            var out = OutputBuffer(capacity: 32)
            out.appendTimestamp(micros)
            self = .text(out.withBytes { String(decoding: $0, as: UTF8.self) })
        case .utf8, .binary: self = .text(column.string(row))
        }
    }

    /// From a JSON value of a flow's config.
    init?(json: Any) {
        switch json {
        case is NSNull: self = .null
        case let n as NSNumber where String(cString: n.objCType) == "c": self = .bool(n.boolValue)
        case let n as NSNumber:
            if let i = Int64(exactly: n.doubleValue), !String(describing: n).contains(".") { self = .int(i) } else { self = .double(n.doubleValue) }
        case let s as String: self = .text(s)
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): d.description
        case .text(let s): s
        }
    }

    var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        case .text(let s): Double(s.trimmingCharacters(in: .whitespaces)).flatMap { $0.isFinite ? $0 : nil }
        case .bool, .null: nil
        }
    }

    /// -1, 0 or 1; numbers compare as numbers (when both sides read as one), else as text.
    func compare(_ other: FlowValue) -> Int? {
        if self == .null || other == .null { return nil }
        if case .int(let a) = self, case .int(let b) = other { return a < b ? -1 : (a == b ? 0 : 1) }
        let numeric: Bool =
            switch (self, other) {
            case (.int, _), (.double, _), (_, .int), (_, .double): true
            default: false
            }
        if numeric, let a = number, let b = other.number { return a < b ? -1 : (a == b ? 0 : 1) }
        let a = description, b = other.description
        return a < b ? -1 : (a == b ? 0 : 1)
    }

    /// Appends this value to a column of `type`, converting it; nil when it does not convert.
    func append(to column: ColumnBuilder) throws -> Bool {
        if self == .null { column.appendNull(); return true }
        switch column.field.type {
        case .utf8:
            try column.append(string: description)
        case .int64:
            switch self {
            case .int(let i): try column.append(int: i)
            case .bool(let b): try column.append(int: b ? 1 : 0)
            default:
                let text = description.trimmingCharacters(in: .whitespaces)
                if let i = Int64(text) { try column.append(int: i); break }
                guard let d = number, let i = Int64(exactly: d) else { return false }
                try column.append(int: i)
            }
        case .float64:
            guard let d = number else { return false }
            try column.append(double: d)
        case .bool:
            switch self {
            case .bool(let b): try column.append(bool: b)
            case .int(let i) where i == 0 || i == 1: try column.append(bool: i == 1)
            case .text(let s):
                guard let b = ["true": true, "1": true, "false": false, "0": false][s.lowercased()] else { return false }
                try column.append(bool: b)
            default: return false
            }
        case .date32:
            var text = description
            guard
                let days = text.withUTF8({ raw -> Int64? in
                    let bytes = UnsafeRawBufferPointer(raw)
                    if let day = DateText.Day(bytes) { return day.daysSinceEpoch }
                    return DateText.Moment(bytes).map { Int64((Double($0.microsSinceEpoch) / 86_400_000_000).rounded(.down)) }
                })
            else { return false }
            try column.append(int: days)
        case .timestamp:
            var text = description
            guard let micros = text.withUTF8({ DateText.Moment(UnsafeRawBufferPointer($0))?.microsSinceEpoch }) else { return false }
            try column.append(int: micros)
        default:
            return false
        }
        return true
    }
}

/// The names a transform refers to must be columns of its input.
private func require(_ names: [String], in fields: [ArrowField], _ what: String) throws {
    for name in names where !fields.contains(where: { $0.name == name }) {
        throw InvalidInput("\(what): there is no column '\(name)' (the columns are \(fields.map(\.name).joined(separator: ", ")))")
    }
}

/// Copies the rows `keep` of `batch` into columns `output`, each taken from input column `from[i]`.
private func copy(_ batch: OwnedBatch, rows keep: [Int]?, columns from: [Int], output: [ArrowField]) throws -> OwnedBatch {
    let view = batch.view
    let builder = BatchBuilder(fields: output)
    for (out, input) in from.enumerated() {
        let column = view.columns[input], target = builder.columns[out]
        if let keep {
            for row in keep { try target.append(from: column, row: row) }
        } else {
            for row in 0..<view.length { try target.append(from: column, row: row) }
        }
    }
    return try OwnedBatch(exporting: builder)
}

/// `{"select": ["a", "b"]}`: these columns, in this order.
final class SelectColumns: BatchTransform {
    let names: [String]
    private var indexes: [Int] = []
    init(_ names: [String]) { self.names = names }

    func fields(for input: [ArrowField]) throws -> [ArrowField] {
        try require(names, in: input, "select")
        indexes = names.compactMap { name in input.firstIndex { $0.name == name } }
        return indexes.map { input[$0] }
    }

    func apply(_ batch: OwnedBatch, output: [ArrowField]) throws -> OwnedBatch {
        // Every column in its own place: the batch goes on as it is.
        if indexes.elementsEqual(0..<batch.view.columns.count) { return try batch.relabeled(output) }
        return try copy(batch, rows: nil, columns: indexes, output: output)
    }
}

/// `{"rename": {"old": "new"}}`.
final class RenameColumns: BatchTransform {
    let names: [String: String]
    init(_ names: [String: String]) { self.names = names }

    func fields(for input: [ArrowField]) throws -> [ArrowField] {
        try require(Array(names.keys).sorted(), in: input, "rename")
        let output = input.map { ArrowField(names[$0.name] ?? $0.name, $0.type) }
        if let twice = Dictionary(grouping: output.map(\.name), by: { $0 }).first(where: { $0.value.count > 1 }) {
            throw InvalidInput("rename: two columns would be called '\(twice.key)'")
        }
        return output
    }

    func apply(_ batch: OwnedBatch, output: [ArrowField]) throws -> OwnedBatch {
        try batch.relabeled(output)
    }
}

/// `{"cast": {"column": "integer"}}`: converts values; one that does not convert fails the run.
final class CastColumns: BatchTransform {
    static let types: [String: ArrowType] = [
        "text": .utf8, "string": .utf8, "integer": .int64, "int": .int64, "real": .float64, "float": .float64,
        "double": .float64, "bool": .bool, "boolean": .bool, "date": .date32, "timestamp": .timestamp(.micro, timezone: "UTC"),
    ]
    let casts: [String: ArrowType]
    private var rowsSeen = 0
    init(_ casts: [String: ArrowType]) { self.casts = casts }

    func fields(for input: [ArrowField]) throws -> [ArrowField] {
        try require(Array(casts.keys).sorted(), in: input, "cast")
        return input.map { ArrowField($0.name, casts[$0.name] ?? $0.type) }
    }

    func apply(_ batch: OwnedBatch, output: [ArrowField]) throws -> OwnedBatch {
        let view = batch.view
        let builder = BatchBuilder(fields: output)
        for (i, column) in view.columns.enumerated() {
            let target = builder.columns[i]
            guard casts[column.field.name] != nil else {
                for row in 0..<view.length { try target.append(from: column, row: row) }
                continue
            }
            for row in 0..<view.length {
                let value = try FlowValue(column, row)
                guard try value.append(to: target) else {
                    throw InvalidInput(
                        "cast: row \(rowsSeen + row + 1), column '\(column.field.name)': '\(value.description.prefix(60))' is not a \(output[i].type.name) value"
                    )
                }
            }
        }
        rowsSeen += view.length
        return try OwnedBatch(exporting: builder)
    }
}

/// `{"constant": {"column": value}}`: a column with one value in every row (replacing a
/// column of that name).
final class ConstantColumns: BatchTransform {
    let values: [(String, FlowValue)]
    private var sources: [Int?] = []
    init(_ values: [(String, FlowValue)]) { self.values = values }

    static func type(of value: FlowValue) -> ArrowType {
        switch value {
        case .bool: .bool
        case .int: .int64
        case .double: .float64
        case .text, .null: .utf8
        }
    }

    func fields(for input: [ArrowField]) throws -> [ArrowField] {
        let replaced = Set(values.map(\.0))
        let kept = input.enumerated().filter { !replaced.contains($0.element.name) }
        sources = kept.map(\.offset) + values.map { _ in nil }
        return kept.map(\.element) + values.map { ArrowField($0.0, Self.type(of: $0.1)) }
    }

    func apply(_ batch: OwnedBatch, output: [ArrowField]) throws -> OwnedBatch {
        let view = batch.view
        let builder = BatchBuilder(fields: output)
        let constants = Dictionary(values, uniquingKeysWith: { $1 })
        for (i, source) in sources.enumerated() {
            let target = builder.columns[i]
            if let source {
                for row in 0..<view.length { try target.append(from: view.columns[source], row: row) }
            } else {
                let value = constants[output[i].name] ?? .null
                for _ in 0..<view.length { _ = try value.append(to: target) }
            }
        }
        return try OwnedBatch(exporting: builder)
    }
}

/// `{"filter": {"column": "x", "op": "eq|ne|in|gt|lt|exists", "value": …}}`: keeps the rows
/// that match. A null matches only `ne` and `exists: false`.
final class FilterRows: BatchTransform {
    enum Op: String, CaseIterable { case eq, ne, `in`, gt, lt, exists }
    let column: String
    let op: Op
    let values: [FlowValue]
    private var index = 0

    init(column: String, op: Op, values: [FlowValue]) {
        self.column = column
        self.op = op
        self.values = values
    }

    func fields(for input: [ArrowField]) throws -> [ArrowField] {
        try require([column], in: input, "filter")
        index = input.firstIndex { $0.name == column } ?? 0
        return input
    }

    func apply(_ batch: OwnedBatch, output: [ArrowField]) throws -> OwnedBatch {
        let view = batch.view
        let column = view.columns[index]
        var keep: [Int] = []
        for row in 0..<view.length where try matches(FlowValue(column, row)) { keep.append(row) }
        if keep.count == view.length { return batch }
        return try copy(batch, rows: keep, columns: Array(output.indices), output: output)
    }

    private func matches(_ value: FlowValue) -> Bool {
        let first = values.first ?? .null
        switch op {
        case .exists: return (value != .null) == (first != .bool(false))
        case .eq: return value.compare(first) == 0
        case .ne: return value == .null || value.compare(first) != 0
        case .in: return values.contains { value.compare($0) == 0 }
        case .gt: return value.compare(first) == 1
        case .lt: return value.compare(first) == -1
        }
    }
}

/// `{"dedupe": ["key", …]}`: the first row of each key, over the whole run (the keys seen
/// are kept in memory).
final class DedupeRows: BatchTransform {
    let keys: [String]
    private var indexes: [Int] = []
    private var seen = Set<[FlowValue]>()
    private(set) var dropped = 0
    init(_ keys: [String]) { self.keys = keys }

    func fields(for input: [ArrowField]) throws -> [ArrowField] {
        try require(keys, in: input, "dedupe")
        indexes = keys.compactMap { key in input.firstIndex { $0.name == key } }
        return input
    }

    func apply(_ batch: OwnedBatch, output: [ArrowField]) throws -> OwnedBatch {
        let view = batch.view
        var keep: [Int] = []
        for row in 0..<view.length {
            let key = try indexes.map { try FlowValue(view.columns[$0], row) }
            if seen.insert(key).inserted { keep.append(row) }
        }
        dropped += view.length - keep.count
        if keep.count == view.length { return batch }
        return try copy(batch, rows: keep, columns: Array(output.indices), output: output)
    }
}
