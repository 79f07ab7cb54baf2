import Foundation
import PluginKit

/// Feeds Arrow batches into a RowSink, so that rows from any source go into a dataset
/// exactly as a push does: the schema's names are the header, each value a cell of its
/// kind (dates and timestamps as ISO 8601 text).
enum BatchRows {
    /// Hands every row of `batch` to `sink`, cell by cell (the header was given before).
    static func write<S: RowSink>(_ batch: OwnedBatch, fields: [ArrowField], into sink: inout S) throws {
        let view = batch.view
        let raws = view.columns.map(\.raw)
        for row in 0..<view.length {
            for (c, column) in raws.enumerated() {
                do {
                    try cell(column, fields[c].type, row) { try sink.cell($0, column: c) }
                } catch is TimeOutOfRange {
                    throw TimeOutOfRange(column: fields[c].name)
                }
            }
            try sink.endRow(cells: raws.count)
        }
    }

    private static func cell(_ column: RawColumn, _ type: ArrowType, _ row: Int, _ body: (PushedCell) throws -> Void) throws {
        if column.isNull(row) { return try body(.null) }
        switch column.kind {
        case .null: try body(.null)
        case .bool: try body(.bool(column.bool(row)))
        case .int8, .int16, .int32, .int64: try body(.int(column.int64(row)))
        case .uint8, .uint16, .uint32, .uint64:
            let v = column.uint64(row)
            if let i = Int64(exactly: v) { try body(.int(i)) } else { try text(String(v), body) }
        case .float32, .float64: try body(.double(column.double(row)))
        case .decimal128, .decimal256:
            switch type {
            case .decimal128(_, let s), .decimal256(_, let s): try text(DecimalText.format(column.decimalWords(row), scale: s), body)
            default: try body(.null)
            }
        case .date32, .date64:
            let days = column.kind == .date32 ? column.int64(row) : column.int64(row) / 86_400_000
            var out = OutputBuffer(capacity: 16)
            out.appendDay(days)
            try out.withBytes { try body(.text($0)) }
        case .timestamp:
            guard case .timestamp(let unit, _) = type else { return try body(.null) }
            guard let micros = unit.micros(column.int64(row)) else { throw TimeOutOfRange(column: "") }
            var out = OutputBuffer(capacity: 32)
            out.appendTimestamp(micros)
            try out.withBytes { try body(.text($0)) }
        case .binary, .utf8: try body(.text(column.bytes(row)))
        }
    }

    private static func text(_ s: String, _ body: (PushedCell) throws -> Void) throws {
        var copy = s
        try copy.withUTF8 { try body(.text(UnsafeRawBufferPointer($0))) }
    }
}
