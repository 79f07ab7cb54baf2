import Foundation
import PluginKit

/// An uploaded CSV file as batches of text columns named by its header (the dataset sink
/// converts each value to its column's type, as it does a pushed cell). The file is
/// mapped, not read into memory, and parsed a batch at a time.
final class CSVFileSource: BatchSource {
    let schema: OwnedSchema
    private let data: Data
    private var parser = CSVRowParser()
    private var more: Bool
    static let batchRows = 65_536

    convenience init(path: String) throws {
        try self.init(data: Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped))
    }

    init(data: Data) throws {
        self.data = data
        var header = HeaderOnly()
        var parser = CSVRowParser()
        more = try data.withUnsafeBytes { try parser.parse($0, into: &header, records: 1) }
        self.parser = parser
        schema = OwnedSchema(fields: (header.names ?? []).map { ArrowField($0, .utf8) })
    }

    func next() throws -> OwnedBatch? {
        guard more else { return nil }
        var rows = Rows(builder: BatchBuilder(fields: schema.fields), firstRow: parser.rows + 1)
        more = try data.withUnsafeBytes { try parser.parse($0, into: &rows, records: Self.batchRows) }
        guard rows.builder.rowCount > 0 else { return nil }
        return try OwnedBatch(exporting: rows.builder)
    }

    private struct HeaderOnly: RowSink {
        var names: [String]?
        mutating func header(_ names: [String]) throws { self.names = names }
        mutating func cell(_ value: PushedCell, column: Int) throws {}
        mutating func endRow(cells: Int) throws {}
    }

    /// Appends each record to the batch; a record with another number of fields than the
    /// header is refused as a push's would be.
    private struct Rows: RowSink {
        let builder: BatchBuilder
        var row: Int

        init(builder: BatchBuilder, firstRow: Int) {
            self.builder = builder
            row = firstRow
        }

        mutating func header(_ names: [String]) throws {}

        mutating func cell(_ value: PushedCell, column: Int) throws {
            guard column < builder.columns.count else {
                throw DatasetWriteError.row("row \(row) has more cells than the header's \(builder.columns.count)")
            }
            switch value {
            case .text(let raw), .number(let raw): try builder.columns[column].append(bytes: raw)
            default: builder.columns[column].appendNull()
            }
        }

        mutating func endRow(cells: Int) throws {
            guard cells == builder.columns.count else {
                throw DatasetWriteError.row("row \(row) has \(cells) cells, the header has \(builder.columns.count)")
            }
            row += 1
        }
    }
}
