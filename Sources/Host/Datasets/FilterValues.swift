import Foundation

/// The values of a `$column=value` filter, converted the way a pushed cell of that column
/// is stored, and what to compare them with. Comparing text with what a push stored as a
/// number, a boolean or a UTC timestamp would silently match nothing.
struct FilterValues {
    /// The column as the WHERE clause compares it.
    let expression: String
    let values: [SQLValue]

    init(column: Dataset.Column, values texts: [String]) throws {
        let quoted = Dataset.quote(column.name)
        switch column.type {
        // Untyped columns keep what was sent (a number or text): compare as text, so that
        // 42 matches a pushed 42 and a pushed "42".
        case .any: expression = "CAST(\(quoted) AS TEXT)"
        // Decimals are stored as their digits: compare as numbers, so that 1.5 finds "1.50".
        case .decimal: expression = "CAST(\(quoted) AS NUMERIC)"
        default: expression = quoted
        }
        values = try texts.map { text in
            guard let value = Self.convert(text, column.type) else {
                throw GatewayError.badRequest("'\(text.prefix(60))' is not a \(column.type.rawValue) value for column '\(column.name)'")
            }
            return value
        }
    }

    static func convert(_ text: String, _ type: ColumnType) -> SQLValue? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var copy = trimmed
        return copy.withUTF8 { bytes -> SQLValue? in
            let raw = UnsafeRawBufferPointer(bytes)
            switch type {
            case .any, .text: return .text(text)
            case .blob: return .blob(Array(text.utf8))
            case .integer: return RowArrayParser.int64(raw).map(SQLValue.int)
            case .real, .decimal:
                guard let d = RowArrayParser.double(raw), d.isFinite else { return nil }
                return .double(d)
            case .bool:
                switch trimmed.lowercased() {
                case "true", "1", "yes": return .int(1)
                case "false", "0", "no": return .int(0)
                default: return nil
                }
            case .date: return DateText.day(raw).map(SQLValue.text)
            case .timestamp: return DateText.timestamp(raw).map(SQLValue.text)
            }
        }
    }
}
