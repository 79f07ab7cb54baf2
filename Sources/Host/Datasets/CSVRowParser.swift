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
    private var header: [String]?
    private var rows = 0

    static func parse<S: RowSink>(_ data: UnsafeRawBufferPointer, into sink: inout S) throws -> Int {
        var parser = CSVRowParser()
        try parser.run(data, &sink)
        return parser.rows
    }

    private mutating func run<S: RowSink>(_ data: UnsafeRawBufferPointer, _ sink: inout S) throws {
        var i = data.count >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF ? 3 : 0
        var line = 1
        while i < data.count {
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
            try endRecord(&sink, line: line)
            line += 1
        }
        guard header != nil else { throw Failure(description: "the file is empty: the first line must be the header") }
    }

    private mutating func endRecord<S: RowSink>(_ sink: inout S, line: Int) throws {
        defer {
            arena.removeAll(keepingCapacity: true)
            fields.removeAll(keepingCapacity: true)
        }
        if fields.count == 1 && fields[0] == nil { return }  // a blank line
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
    }
}
