import Foundation
import PluginKit

/// `/v1/export/raw`: rows sent in the request (`source_raw`, a JSON string whose first
/// element is the header), read as batches like any other source. The rows are kept as the
/// text they came in and parsed a batch at a time: a tree of a 64 MB array would be a
/// gigabyte, for as long as the task waits its turn.
final class RawRowsSource: BatchSource {
    let schema: OwnedSchema
    private let table: SeedTable
    private let text: [UInt8]
    private var reader: OrderedJSON.ArrayReader
    private let batchSize = 65_536
    /// Rows in source_raw after the header.
    let rowCount: Int

    /// Checks the whole of `sourceRaw` (malformed JSON is the client's 400, not a failed
    /// task later) and types the columns from the first rows.
    init(sourceRaw: String) throws {
        text = Array(sourceRaw.utf8)
        var check = OrderedJSON.ArrayReader(text)
        let header: OrderedJSON
        var sample: [OrderedJSON] = []
        var notAnObject: Int?
        do {
            guard let first = try check.next() else {
                throw GatewayError.badRequest("source_raw must be a JSON array whose first element is the header")
            }
            header = first
            while let row = try check.next() {
                if case .object = row {} else if notAnObject == nil { notAnObject = check.count - 1 }
                if sample.count < 1_000 { sample.append(row) }
            }
        } catch let e as OrderedJSON.ParseError {
            throw GatewayError.badRequest("source_raw is not valid JSON: \(e)")
        }
        if let row = notAnObject {
            throw GatewayError.badRequest("source_raw row \(row) is not an object: every row is {\"column\": value, …}")
        }
        rowCount = check.count - 1
        do {
            table = try SeedTable(header: header, sample: sample)
        } catch let e as PluginError {
            throw GatewayError.badRequest("source_raw: \(e.message)")
        }
        schema = OwnedSchema(fields: table.fields)
        reader = OrderedJSON.ArrayReader(text)
        _ = try reader.next()  // the header
    }

    func next() throws -> OwnedBatch? {
        let builder = BatchBuilder(fields: table.fields)
        while builder.rowCount < batchSize, let row = try reader.next() {
            try table.append(row, to: builder, place: "source_raw row \(reader.count - 1)")
        }
        guard builder.rowCount > 0 else { return nil }
        return try OwnedBatch(exporting: builder)
    }
}
