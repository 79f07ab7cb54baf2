import PluginABI

extension ColumnBuilder {
    /// Appends value `row` of `source` (a column of the same type).
    public func append(from source: ColumnView, row: Int) throws {
        if source.isNull(row) { return appendNull() }
        switch source.field.type {
        case .null: appendNull()
        case .bool: try append(bool: source.bool(row))
        case .int8, .int16, .int32, .int64, .date32, .date64, .timestamp: try append(int: source.int64(row))
        case .uint8, .uint16, .uint32, .uint64: try append(uint: source.uint64(row))
        case .float32, .float64: try append(double: source.double(row))
        case .decimal128, .decimal256: try append(string: source.decimalText(row))
        case .binary, .utf8: try append(bytes: source.bytes(row))
        }
    }
}

extension BatchBuilder {
    /// Appends the first `count` rows of `batch` (same schema).
    public func append(_ batch: BatchView, rows count: Int) throws {
        for (i, column) in columns.enumerated() {
            for row in 0..<min(count, batch.length) { try column.append(from: batch.columns[i], row: row) }
        }
    }
}
