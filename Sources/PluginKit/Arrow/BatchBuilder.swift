import PluginABI

/// Builds record batches (struct arrays) column by column. Export moves the data out and
/// leaves the builder ready for the next batch with the same schema.
public final class BatchBuilder {
    public let fields: [ArrowField]
    public let columns: [ColumnBuilder]

    public init(fields: [ArrowField]) {
        self.fields = fields
        columns = fields.map(ColumnBuilder.init)
    }

    /// Rows in the batch being built (the length of the first column).
    public var rowCount: Int { columns.first?.count ?? 0 }

    public subscript(_ index: Int) -> ColumnBuilder { columns[index] }

    /// Bytes the batch being built holds, for sources that end a batch by size.
    public var byteCount: Int { columns.reduce(0) { $0 + $1.byteCount } }

    /// Moves the batch into `out` (owned by the caller from then on) and empties the
    /// builder. Every column must hold the same number of values.
    public func export(into out: UnsafeMutablePointer<ArrowArray>) throws {
        let length = rowCount
        if let ragged = columns.first(where: { $0.count != length }) {
            throw ArrowError.invalid("column '\(ragged.field.name)' has \(ragged.count) values, expected \(length)")
        }
        var children: [UnsafeMutablePointer<ArrowArray>] = []
        children.reserveCapacity(columns.count)
        for column in columns {
            let child = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
            column.export(into: child)
            children.append(child)
        }
        // A struct array has one (absent) validity buffer: rows themselves are never null.
        ExportedArray.fill(out, length: length, nullCount: 0, buffers: [nil], children: children)
    }

    public func exportSchema(into out: UnsafeMutablePointer<ArrowSchema>) {
        PluginKit.exportSchema(fields, into: out)
    }
}
