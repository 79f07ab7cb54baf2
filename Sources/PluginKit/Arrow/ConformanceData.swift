import PluginABI

/// Sample rows holding every type the ABI names, nulls included, for conformance checks.
public enum ConformanceData {
    public static let fields: [ArrowField] = ArrowType.allABITypes.enumerated().map { i, type in
        ArrowField("c\(i)_\(type.format.filter { $0.isLetter || $0.isNumber })", type)
    }

    /// `rows` rows; every third value of every column is null.
    public static func batch(rows: Int) throws -> BatchBuilder {
        let builder = BatchBuilder(fields: fields)
        for row in 0..<rows {
            for column in builder.columns {
                if row % 3 == 2 || column.field.type == .null {
                    column.appendNull()
                    continue
                }
                try append(row: row, to: column)
            }
        }
        return builder
    }

    private static func append(row: Int, to column: ColumnBuilder) throws {
        let r = Int64(row)
        switch column.field.type {
        case .bool: try column.append(bool: row % 2 == 0)
        case .int8, .int16, .int32, .int64: try column.append(int: r % 2 == 0 ? r : -r)
        case .uint8, .uint16, .uint32, .uint64: try column.append(uint: UInt64(row))
        case .float32, .float64: try column.append(double: Double(row) + 0.5)
        case .decimal128, .decimal256: try column.append(string: "\(row).25")
        case .date32: try column.append(int: 19_000 + r)
        case .date64: try column.append(int: (19_000 + r) * 86_400_000)
        case .timestamp: try column.append(int: 1_700_000_000_000_000 + r)
        case .binary: try column.append(bytes: [0, UInt8(row), 255])
        case .utf8: try column.append(string: "值 \(row) \"quoted\"")
        case .null: column.appendNull()
        }
    }
}
