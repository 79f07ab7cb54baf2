import Foundation

/// Parses CSV (RFC 4180: comma-separated, `"` quotes with `""` escapes, CRLF or LF line
/// ends, an optional UTF-8 BOM) into a RowSink, the first record being the header. An
/// empty unquoted field is null; `""` is the empty string.
struct CSVRowParser {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// One record's fields: their bytes back to back, and where each ends (nil = null).
    private var arena: [UInt8] = []
    private var fields: [Int?] = []
    private(set) var header: [String]?
    private(set) var rows = 0
    /// Where the next record starts, and its line number: parsing resumes there.
    private var position = 0
    private var line = 1

    static func parse<S: RowSink>(_ data: UnsafeRawBufferPointer, into sink: inout S) throws -> Int {
        var parser = CSVRowParser()
        while try parser.parse(data, into: &sink, records: .max) {}
        return parser.rows
    }

    /// Parses up to `records` more records of `data` (the same bytes on every call) into
    /// `sink`; false once the data has ended.
    mutating func parse<S: RowSink>(_ data: UnsafeRawBufferPointer, into sink: inout S, records: Int) throws -> Bool {
        if position == 0, data.count >= 3, data[0] == 0xEF, data[1] == 0xBB, data[2] == 0xBF { position = 3 }
        var i = position
        defer { position = i }
        var parsed = 0
        while i < data.count {
            guard parsed < records else { return true }
            // One field.
            if data[i] == UInt8(ascii: "\"") {
                let startLine = line
                i += 1
                while true {
                    guard i < data.count else { throw Failure(description: "line \(startLine): a quoted field never ends") }
                    let c = data[i]
                    i += 1
                    if c == UInt8(ascii: "\"") {
                        guard i < data.count, data[i] == UInt8(ascii: "\"") else { break }
                        i += 1
                    } else if c == 0x0A {
                        line += 1
                    }
                    arena.append(c)
                }
                fields.append(arena.count)
                guard i == data.count || data[i] == UInt8(ascii: ",") || data[i] == 0x0A || data[i] == 0x0D else {
                    throw Failure(description: "line \(line): text after a closing quote")
                }
            } else {
                let start = i
                while i < data.count && data[i] != UInt8(ascii: ",") && data[i] != 0x0A && data[i] != 0x0D { i += 1 }
                arena.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[start..<i]))
                fields.append(i == start ? nil : arena.count)
            }
            // What ends the field: a comma, a line end, or the end of the data.
            if i < data.count && data[i] == UInt8(ascii: ",") {
                i += 1
                if i == data.count { fields.append(nil) }
                if i < data.count { continue }
            }
            if i < data.count && data[i] == 0x0D { i += 1 }
            if i < data.count && data[i] == 0x0A { i += 1 }
            if try endRecord(&sink, line: line) { parsed += 1 }
            line += 1
        }
        guard header != nil else { throw Failure(description: "the file is empty: the first line must be the header") }
        return false
    }

    /// Hands the record to `sink`; false for a blank line.
    private mutating func endRecord<S: RowSink>(_ sink: inout S, line: Int) throws -> Bool {
        defer {
            arena.removeAll(keepingCapacity: true)
            fields.removeAll(keepingCapacity: true)
        }
        if fields.count == 1 && fields[0] == nil { return false }  // a blank line
        let ends = fields
        try arena.withUnsafeBytes { bytes in
            var start = 0
            var cells: [PushedCell] = []
            cells.reserveCapacity(ends.count)
            for end in ends {
                guard let end else { cells.append(.null); continue }
                cells.append(.text(UnsafeRawBufferPointer(rebasing: bytes[start..<end])))
                start = end
            }
            guard header != nil else {
                let names = try cells.enumerated().map { index, cell -> String in
                    guard case .text(let raw) = cell else { throw Failure(description: "line \(line): header field \(index + 1) is empty") }
                    return String(decoding: raw, as: UTF8.self)
                }
                header = names
                try sink.header(names)
                return
            }
            rows += 1
            for (column, cell) in cells.enumerated() { try sink.cell(cell, column: column) }
            try sink.endRow(cells: cells.count)
        }
        return true
    }
}
