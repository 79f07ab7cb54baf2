import Foundation
import PluginKit

/// The source half of the xlsx plugin: reads the first sheet of an uploaded workbook. The
/// first row is the header; each column gets the narrowest type its values all share
/// (int64, float64, bool, date32 or timestamp for date-formatted numbers, else utf8).
final class XlsxFileSource: SourceInstance {
    struct Config: Decodable {
        var maxEntryBytes: Int?
        var maxSharedStringsBytes: Int?
        var maxRatio: Int?
        var batchSize: Int?

        enum CodingKeys: String, CodingKey {
            case maxEntryBytes = "max_entry_bytes", maxSharedStringsBytes = "max_shared_strings_bytes"
            case maxRatio = "max_ratio", batchSize = "batch_size"
        }
    }

    let limits: XlsxWorkbook.Limits
    let batchSize: Int
    let host: HostServices

    init(config: PluginConfig, host: HostServices) throws {
        let c = try config.decode(Config.self)
        var limits = XlsxWorkbook.Limits()
        if let v = c.maxEntryBytes { limits.maxEntryBytes = v }
        if let v = c.maxSharedStringsBytes { limits.maxSharedStringBytes = v }
        if let v = c.maxRatio { limits.maxRatio = v }
        guard limits.maxEntryBytes > 0, limits.maxSharedStringBytes > 0, limits.maxRatio > 0, (c.batchSize ?? 1) > 0 else {
            throw PluginError.invalidConfig("limits and batch_size must be positive")
        }
        self.limits = limits
        batchSize = c.batchSize ?? 65_536
        self.host = host
    }

    func read(_ request: ReadRequest) throws -> BatchProducer {
        guard let file = request.file else { throw PluginError.invalidArgument("give the workbook to read in 'file'") }
        let workbook = try XlsxWorkbook(path: file, limits: limits)
        return try SheetProducer(workbook: workbook, batchSize: batchSize, rowLimit: request.rowLimit, host: host)
    }
}

final class SheetProducer: BatchProducer {
    let fields: [ArrowField]
    private var rows: SheetRows
    private let batchSize: Int
    private var remaining: Int
    /// Nil outside a host (the fuzzing harness): nothing to cancel.
    private let host: HostServices?
    private let dateOffset: Double

    init(workbook: XlsxWorkbook, batchSize: Int, rowLimit: Int?, host: HostServices?) throws {
        self.batchSize = batchSize
        self.host = host
        remaining = rowLimit ?? Int.max
        // Excel serial 25569 is 1970-01-01 (1900 system); the 1904 system starts 1462 days later.
        dateOffset = workbook.date1904 ? 25_569 - 1_462 : 25_569
        // Pass 1: the header, and what every column holds.
        var scan = SheetRows(workbook)
        guard let header = try scan.next() else { throw PluginError.invalidArgument("the sheet is empty: the first row must be the header") }
        let width = (header.map(\.column).max() ?? -1) + 1
        guard width > 0 else { throw PluginError.invalidArgument("the header row is empty") }
        var names = (0..<width).map { "column_\(SheetRows.columnName($0))" }
        for cell in header {
            switch cell.value {
            case .text(let t): names[cell.column] = String(decoding: t, as: UTF8.self)
            case .number(let d, _): names[cell.column] = Self.text(d)
            case .bool(let b): names[cell.column] = b ? "true" : "false"
            }
        }
        var kinds = [ColumnKind](repeating: .empty, count: width)
        while let row = try scan.next() {
            for cell in row {
                guard cell.column < width else {
                    throw PluginError.invalidArgument("cell \(SheetRows.columnName(cell.column))\(scan.rowNumber) is outside the header's \(width) columns")
                }
                kinds[cell.column] = kinds[cell.column].merged(with: cell.value)
            }
        }
        fields = zip(names, kinds).map { ArrowField($0, $1.arrowType) }
        // Pass 2 reads from the top again, past the header.
        rows = SheetRows(workbook)
        _ = try rows.next()
    }

    /// A batch ends at this many bytes; a single row may hold at most `maxRowBytes`.
    static let maxBatchBytes = 8 << 20
    static let maxRowBytes = 64 << 20

    func next(into batch: BatchBuilder) throws -> Bool {
        try host?.checkCancelled()
        var count = 0, bytes = 0
        while count < batchSize && remaining > 0 && bytes < Self.maxBatchBytes {
            guard let row = try rows.next() else { return false }
            if row.isEmpty { continue }
            var values = [SheetValue?](repeating: nil, count: fields.count)
            var rowBytes = 0
            for cell in row where cell.column < fields.count {
                values[cell.column] = cell.value
                rowBytes += cell.value.byteCount
            }
            guard rowBytes <= Self.maxRowBytes else {
                throw PluginError.invalidArgument("row \(rows.rowNumber) holds more than \(Self.maxRowBytes) bytes")
            }
            for (i, value) in values.enumerated() { try append(value, to: batch[i]) }
            bytes += rowBytes
            count += 1
            remaining -= 1
        }
        return remaining > 0
    }

    /// Every conversion below is checked: the values come from an uploaded file, and a
    /// trapping conversion would take the whole gateway down. Pass 1 typed the column from
    /// the same values, so a refusal here means the file changed its mind (a defect).
    private func append(_ value: SheetValue?, to column: ColumnBuilder) throws {
        guard let value else { return column.appendNull() }
        switch (column.field.type, value) {
        case (.int64, .number(let d, _)):
            guard let i = Int64(exactly: d) else { throw Self.unexpected(d, column) }
            try column.append(int: i)
        case (.float64, .number(let d, _)): try column.append(double: d)
        case (.bool, .bool(let b)): try column.append(bool: b)
        case (.date32, .number(let d, _)):
            guard let micros = ExcelDate.micros(d, offset: dateOffset) else { throw Self.unexpected(d, column) }
            try column.append(int: micros / 86_400_000_000)
        case (.timestamp, .number(let d, _)):
            guard let micros = ExcelDate.micros(d, offset: dateOffset) else { throw Self.unexpected(d, column) }
            try column.append(int: micros)
        case (_, .text(let t)): try t.withUnsafeBytes { try column.append(bytes: $0) }
        case (_, .bool(let b)): try column.append(string: b ? "true" : "false")
        case (_, .number(let d, let date)):
            guard date, let micros = ExcelDate.micros(d, offset: dateOffset) else { return try column.append(string: Self.text(d)) }
            try column.append(string: Self.isoText(micros, dateOnly: d == d.rounded(.down)))
        }
    }

    private static func unexpected(_ d: Double, _ column: ColumnBuilder) -> PluginError {
        PluginError.invalidArgument("column '\(column.field.name)': \(text(d)) does not fit the column's type \(column.field.type.name)")
    }

    static func text(_ d: Double) -> String {
        if let i = Int64(exactly: d) { return String(i) }
        return d.description
    }

    static func isoText(_ micros: Int64, dateOnly: Bool) -> String {
        let seconds = Int(micros / 1_000_000)
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = dateOnly ? "yyyy-MM-dd" : "yyyy-MM-dd'T'HH:mm:ss"
        return formatter.string(from: date)
    }
}

/// What a column has held so far; merging with a new value narrows or widens it.
enum ColumnKind {
    case empty, integer, real, bool, day, moment, text

    func merged(with value: SheetValue) -> ColumnKind {
        let incoming: ColumnKind
        switch value {
        case .text: incoming = .text
        case .bool: incoming = .bool
        case .number(let d, let date):
            let integral = d == d.rounded(.down) && abs(d) < 9e15
            // A date style on a number outside Excel's calendar shows no date: a number.
            let isDate = date && ExcelDate.serials.contains(d)
            incoming = isDate ? (integral ? .day : .moment) : (integral ? .integer : .real)
        }
        switch (self, incoming) {
        case (.empty, _): return incoming
        case _ where self == incoming: return self
        case (.integer, .real), (.real, .integer): return .real
        case (.day, .moment), (.moment, .day): return .moment
        default: return .text
        }
    }

    var arrowType: ArrowType {
        switch self {
        case .empty, .text: .utf8
        case .integer: .int64
        case .real: .float64
        case .bool: .bool
        case .day: .date32
        case .moment: .timestamp(.micro, timezone: nil)
        }
    }
}

/// Excel date serials: days since 1899-12-30 (1900 system; the 1904 system is offset by
/// the caller), with the time of day as the fraction.
enum ExcelDate {
    /// 0 through 9999-12-31 23:59:59, the range Excel itself shows as dates.
    static let serials: ClosedRange<Double> = 0...2_958_465.999_999

    /// Microseconds since 1970 of a serial, or nil outside the calendar (no conversion can trap).
    static func micros(_ serial: Double, offset: Double) -> Int64? {
        guard serials.contains(serial) else { return nil }
        let millis = ((serial - offset) * 86_400_000).rounded()
        guard let whole = Int64(exactly: millis) else { return nil }
        return whole * 1_000
    }
}
