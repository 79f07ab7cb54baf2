import PluginKit

/// Rows into a dataset's table, in ONE transaction from begin to commit: a run that fails
/// or is stopped anywhere leaves the table as it was. Each value is converted to its
/// column's type exactly as a pushed cell is; the schema's column names must be columns
/// of the dataset.
final class DatasetTableSink: BatchSink {
    private let tables: any DatasetTables
    private let dataset: Dataset
    private let mode: DatasetWriteMode
    private var session: (any DatasetWriteSession)?
    private var fields: [ArrowField] = []
    /// Rows committed (set by commit).
    private(set) var rowsWritten = 0

    init(tables: any DatasetTables, dataset: Dataset, mode: DatasetWriteMode) {
        self.tables = tables
        self.dataset = dataset
        self.mode = mode
    }

    func begin(_ schema: OwnedSchema) throws {
        let session = try tables.beginWrite(dataset, mode: mode)
        self.session = session
        fields = schema.fields
        try session.importer.header(fields.map(\.name))
    }

    func write(_ batch: OwnedBatch) throws {
        guard let session else { throw InvalidInput("the write to dataset '\(dataset.id)' has not begun") }
        try BatchRows.write(batch, fields: fields, into: &session.importer)
    }

    func commit() throws {
        guard let session else { throw InvalidInput("the write to dataset '\(dataset.id)' has not begun") }
        self.session = nil
        rowsWritten = try session.commit()
    }

    func abort() {
        session?.rollback()
        session = nil
    }
}
