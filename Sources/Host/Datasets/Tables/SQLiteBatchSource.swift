import CSQLite
import Foundation
import PluginKit

/// The seed-001 option for columns whose type has no Arrow equivalent.
public enum UnknownTypeHandle: String, Sendable, CaseIterable {
    case ignore = "Ignore", error = "Error", castToString = "CastToString"
}

/// Reads a SQLite query as Arrow batches. Column types come from the declared types
/// (INTEGER, REAL, TEXT, DATE, TIMESTAMP, BOOLEAN, DECIMAL, BLOB). A column without one (an
/// untyped column, an expression) has an "unknown type": with CastToString it is read as
/// text; otherwise it takes the type of its first value, and a later value of another kind
/// is an error that says so.
public final class SQLiteBatchSource: BatchSource {
    public let schema: OwnedSchema
    private let statement: SQLiteStatement
    private let builder: BatchBuilder
    /// For each output column, the statement column it reads.
    private let sourceColumn: [Int32]
    private let batchSize: Int
    /// A batch also ends when it holds this many bytes: wide text rows stay bounded.
    private let maxBatchBytes: Int
    /// One row may hold at most this many bytes (2,000 columns of the largest value each
    /// would otherwise be gigabytes in one row); counted as the row is read.
    private let maxRowBytes: Int
    private var remaining: Int
    private var pending: Bool
    private var rowNumber = 0
    /// The rows before this source's first, for the row numbers its errors name (a range
    /// of a table read in parallel: see ParallelTableRead). Asked only when an error is made.
    private let rowNumberBase: () -> Int
    private var reportedRow: Int { rowNumberBase() + rowNumber }
    /// Each output column's type without payloads, decided once: switching on a field's
    /// ArrowType per value copied it (and retained a timestamp's zone) for every value.
    private let plans: [PhysicalKind]

    /// `columnTypes`: the type of every column, when the caller knows them (a data model's
    /// members); otherwise each column's type comes from its declared type or first value.
    public init(
        statement: SQLiteStatement, rowLimit: Int?, unknownTypes: UnknownTypeHandle, batchSize: Int = 65_536,
        maxBatchBytes: Int = 8 << 20, maxRowBytes: Int = 64 << 20, columnTypes: [ArrowType]? = nil,
        rowNumberBase: @escaping () -> Int = { 0 }
    ) throws {
        self.statement = statement
        self.rowNumberBase = rowNumberBase
        self.batchSize = batchSize
        self.maxBatchBytes = maxBatchBytes
        self.maxRowBytes = maxRowBytes
        remaining = rowLimit ?? Int.max
        // Look at the first rows to type columns that declare none.
        pending = remaining > 0 ? try statement.step() : false
        var fields: [ArrowField] = []
        var columns: [Int32] = []
        var names = Set<String>()
        for i in 0..<statement.columnCount {
            let name = statement.columnName(i)
            // A JSON object cannot hold two keys alike, nor can a dataset two columns.
            guard names.insert(name).inserted else {
                throw InvalidInput("the result has two columns named '\(name)': give them different names with AS")
            }
            let known = columnTypes.flatMap { i < $0.count ? $0[i] : nil }
            guard let type = try known ?? Self.type(of: statement, column: Int32(i), name: name, hasRow: pending, unknown: unknownTypes) else { continue }
            fields.append(ArrowField(name, type))
            columns.append(Int32(i))
        }
        sourceColumn = columns
        plans = fields.map { PhysicalKind($0.type) }
        builder = BatchBuilder(fields: fields)
        schema = OwnedSchema(fields: fields)
    }

    /// About how many bytes the last batch holds (what its byte budget counted).
    public private(set) var lastBatchBytes = 0

    public var isExhausted: Bool { !pending || remaining <= 0 }
    public var commitsOnFinish: Bool { false }

    public func next() throws -> OwnedBatch? {
        guard pending, remaining > 0 else { return nil }
        var rows = 0, batchBytes = 0
        // Unmanaged builders and borrowed buffers: a retain and a release per value were the
        // largest cost left after SQLite's own stepping.
        let builders = builder.columns.map { Unmanaged.passUnretained($0) }
        try builders.withUnsafeBufferPointer { builders in
            try sourceColumn.withUnsafeBufferPointer { sourceColumn in
                try plans.withUnsafeBufferPointer { plans in
                    while pending && rows < batchSize && remaining > 0 {
                        rowNumber += 1
                        var rowBytes = 0
                        for out in 0..<builders.count {
                            rowBytes += try builders[out]._withUnsafeGuaranteedRef {
                                try append(column: sourceColumn[out], plan: plans[out], to: $0)
                            }
                            guard rowBytes <= maxRowBytes else {
                                throw InvalidInput("row \(reportedRow) of the result is larger than \(maxRowBytes) bytes; select fewer or smaller columns")
                            }
                        }
                        batchBytes += rowBytes
                        rows += 1
                        remaining -= 1
                        pending = remaining > 0 ? try statement.step() : false
                        if batchBytes >= maxBatchBytes { break }
                    }
                }
            }
        }
        lastBatchBytes = batchBytes
        return try OwnedBatch(exporting: builder)
    }

    /// Appends one value; returns about how many bytes it added.
    @inline(__always)
    private func append(column i: Int32, plan: PhysicalKind, to b: ColumnBuilder) throws -> Int {
        let stmt = statement.stmt
        let kind = sqlite3_column_type(stmt, i)
        if kind == SQLITE_NULL {
            b.appendNull()
            return 1
        }
        // Text is read once, here, for the size and the value alike: each sqlite3_column_*
        // call costs (a third of a wide read's time went to them).
        if plan == .utf8 && kind != SQLITE_BLOB {
            let text = sqlite3_column_text(stmt, i)  // before its size, as SQLite's documentation orders them
            let n = Int(sqlite3_column_bytes(stmt, i))
            do {
                try b.append(bytes: UnsafeRawBufferPointer(start: text, count: n))
            } catch let e as ArrowError {
                throw InvalidInput("row \(reportedRow), column '\(b.field.name)': \(e.description)")
            }
            return n + 4
        }
        let size = kind == SQLITE_TEXT || kind == SQLITE_BLOB ? Int(sqlite3_column_bytes(stmt, i)) + 4 : 8
        try appendValue(column: i, kind: kind, plan: plan, to: b)
        return size
    }

    private func appendValue(column i: Int32, kind: Int32, plan: PhysicalKind, to b: ColumnBuilder) throws {
        let stmt = statement.stmt
        do {
            switch plan {
            case .int64:
                if kind == SQLITE_INTEGER { return try b.append(int: sqlite3_column_int64(stmt, i)) }
                guard kind == SQLITE_FLOAT else { throw mismatch(i, b.field) }
                try b.append(double: sqlite3_column_double(stmt, i))  // throws unless integral
            case .float64:
                if kind == SQLITE_TEXT {
                    // Text in a number column: a decimal number, or it does not belong
                    // (SQLite would read "0x10", "nan" or "inf" as 0).
                    let raw = UnsafeRawBufferPointer(start: sqlite3_column_text(stmt, i), count: Int(sqlite3_column_bytes(stmt, i)))
                    guard let d = RowArrayParser.double(raw), d.isFinite else { throw mismatch(i, b.field) }
                    return try b.append(double: d)
                }
                try b.append(double: sqlite3_column_double(stmt, i))
            case .bool:
                try b.append(bool: sqlite3_column_int64(stmt, i) != 0)
            case .utf8:
                let n = Int(sqlite3_column_bytes(stmt, i))
                let p = sqlite3_column_text(stmt, i)
                try b.append(bytes: UnsafeRawBufferPointer(start: p, count: n))
            case .binary:
                let p = sqlite3_column_blob(stmt, i)
                try b.append(bytes: UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, i))))
            case .date32:
                let raw = UnsafeRawBufferPointer(start: sqlite3_column_text(stmt, i), count: Int(sqlite3_column_bytes(stmt, i)))
                guard kind == SQLITE_TEXT, let day = DateText.Day(raw) else { throw mismatch(i, b.field) }
                try b.append(int: day.daysSinceEpoch)
            case .timestamp:
                let raw = UnsafeRawBufferPointer(start: sqlite3_column_text(stmt, i), count: Int(sqlite3_column_bytes(stmt, i)))
                guard kind == SQLITE_TEXT, let micros = DateText.Moment(raw)?.microsSinceEpoch else { throw mismatch(i, b.field) }
                try b.append(int: micros)
            case .decimal128:
                let value =
                    kind == SQLITE_INTEGER ? String(sqlite3_column_int64(stmt, i)) : Self.decimalText(sqlite3_column_double(stmt, i), kind: kind, raw: text(i))
                try b.append(string: value)
            default:
                throw mismatch(i, b.field)
            }
        } catch let e as ArrowError {
            throw InvalidInput("row \(reportedRow), column '\(b.field.name)': \(e.description)")
        }
    }

    private func text(_ i: Int32) -> String { SQLiteStatement.text(statement.stmt, i) }

    private func mismatch(_ i: Int32, _ field: ArrowField) -> InvalidInput {
        InvalidInput(
            "row \(reportedRow), column '\(field.name)': '\(text(i).prefix(60))' is not a \(field.type.name) value like the rows before it; declare the column's type, or query with UnknownTypeHandle=CastToString"
        )
    }

    /// Decimals are kept with 10 fraction digits (decimal128(38, 10)); SQLite stores them
    /// as REAL or INTEGER, or as text when they do not convert.
    static let decimalScale = 10
    static func decimalText(_ value: Double, kind: Int32, raw: String) -> String {
        if kind == SQLITE_TEXT { return raw }
        return String(format: "%.\(decimalScale)f", value)
    }

    /// The Arrow type of column `i`, or nil when it is dropped (UnknownTypeHandle.Ignore).
    static func type(of s: SQLiteStatement, column i: Int32, name: String, hasRow: Bool, unknown: UnknownTypeHandle) throws -> ArrowType? {
        let declared = sqlite3_column_decltype(s.stmt, i).map { String(cString: $0).uppercased() } ?? ""
        if let t = declaredType(declared) { return t }
        if unknown == .castToString { return .utf8 }
        guard hasRow else { return .utf8 }
        switch sqlite3_column_type(s.stmt, i) {
        case SQLITE_INTEGER: return .int64
        case SQLITE_FLOAT: return .float64
        case SQLITE_BLOB: return .binary
        case SQLITE_TEXT, SQLITE_NULL: return .utf8
        default: break
        }
        switch unknown {
        case .ignore: return nil
        case .castToString: return .utf8
        case .error: throw InvalidInput("column '\(name)' has a type with no Arrow equivalent")
        }
    }

    /// SQLite's affinity rules, narrowed to the types the gateway declares.
    static func declaredType(_ declared: String) -> ArrowType? {
        if declared.isEmpty { return nil }
        // Byte comparisons: with Foundation imported, `contains` took NSString's
        // locale-aware search, 2% of a small query's CPU.
        let d = Array(declared.utf8)
        func has(_ part: StaticString) -> Bool {
            let p = UnsafeBufferPointer(start: part.utf8Start, count: part.utf8CodeUnitCount)
            guard d.count >= p.count else { return false }
            return (0...(d.count - p.count)).contains { start in p.indices.allSatisfy { d[start + $0] == p[$0] } }
        }
        if d.elementsEqual("DATE".utf8) { return .date32 }
        // Before the TEXT test: decimal columns are declared "DECIMAL TEXT" (text affinity).
        if d.starts(with: "DEC".utf8) { return .decimal128(precision: 38, scale: decimalScale) }
        if has("TIMESTAMP") || has("DATETIME") { return .timestamp(.micro, timezone: "UTC") }
        if has("BOOL") { return .bool }
        if has("INT") { return .int64 }
        if has("CHAR") || has("CLOB") || has("TEXT") { return .utf8 }
        if has("BLOB") { return .binary }
        if has("REAL") || has("FLOA") || has("DOUB") { return .float64 }
        if has("DEC") || has("NUMERIC") { return .decimal128(precision: 38, scale: decimalScale) }
        return nil
    }
}
