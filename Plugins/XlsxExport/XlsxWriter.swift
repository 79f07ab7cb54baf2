import Foundation
import PluginKit

/// The exporter half of the xlsx plugin: writes batches into .xlsx workbooks in one
/// streaming pass. Inline strings (no shared-string table to hold), numbers as numeric
/// cells, booleans, dates and timestamps as date-formatted serial numbers, a bold header,
/// column widths from the first rows. A sheet holds at most 1,048,576 rows: a larger export
/// continues in base-2.xlsx, base-3.xlsx, … (the first then becomes base-1.xlsx).
final class XlsxFileExporter: ExporterInstance {
    struct Config: Decodable {
        var maxRowsPerFile: Int?
        var compressionLevel: Int?
        var sheetName: String?

        enum CodingKeys: String, CodingKey {
            case maxRowsPerFile = "max_rows_per_file", compressionLevel = "compression_level", sheetName = "sheet_name"
        }
    }

    static let sheetRowLimit = 1_048_576
    /// Rows looked at to size the columns before the sheet starts.
    static let widthSampleRows = 100

    private let directory: String
    private let baseName: String
    private let maxDataRows: Int
    private let level: Int32
    private let sheetName: String
    private let host: HostServices

    private var fields: [ArrowField] = []
    private var writer: SheetWriter?
    private var files: [String] = []
    private var rowsInFile = 0

    init(config: PluginConfig, host: HostServices, outputDirectory: String, baseName: String) throws {
        let c = try config.decode(Config.self)
        let maxRows = c.maxRowsPerFile ?? Self.sheetRowLimit
        guard (2...Self.sheetRowLimit).contains(maxRows) else {
            throw PluginError.invalidConfig("max_rows_per_file must be 2 to \(Self.sheetRowLimit) (the header counts)")
        }
        let level = c.compressionLevel ?? 1
        guard (0...9).contains(level) else { throw PluginError.invalidConfig("compression_level must be 0 (none) to 9") }
        directory = outputDirectory
        self.baseName = baseName
        maxDataRows = maxRows - 1
        self.level = Int32(level)
        sheetName = c.sheetName ?? "Sheet1"
        self.host = host
    }

    func begin(fields: [ArrowField]) throws {
        self.fields = fields
    }

    func write(_ batch: BatchView) throws {
        try host.checkCancelled()
        var row = 0
        while row < batch.length {
            if writer == nil { try startFile(sample: batch, from: row) }
            let take = min(batch.length - row, maxDataRows - rowsInFile)
            try writer!.rows(batch, from: row, count: take)
            row += take
            rowsInFile += take
            if rowsInFile == maxDataRows && row < batch.length { try finishFile() }
        }
    }

    func finish() throws {
        if writer == nil {
            // An empty export is still a workbook with its header.
            let empty = BatchBuilder(fields: fields)
            try startFile(sample: OwnedBatch(exporting: empty).view, from: 0)
        }
        try finishFile()
        if files.count > 1, let first = files.first, first.hasSuffix("/\(baseName).xlsx") {
            try FileManager.default.moveItem(atPath: first, toPath: "\(directory)/\(baseName)-1.xlsx")
        }
    }

    private func startFile(sample: BatchView, from row: Int) throws {
        let name = files.isEmpty ? "\(baseName).xlsx" : "\(baseName)-\(files.count + 1).xlsx"
        let path = "\(directory)/\(name)"
        files.append(path)
        writer = try SheetWriter(path: path, fields: fields, sheetName: sheetName, level: level,
                                 widths: ColumnWidths.measure(fields: fields, sample: sample, from: row, rows: Self.widthSampleRows))
        rowsInFile = 0
    }

    private func finishFile() throws {
        try writer?.finish()
        writer = nil
    }
}

/// Column widths (in characters) from the header and the first rows.
enum ColumnWidths {
    static func measure(fields: [ArrowField], sample: BatchView, from start: Int, rows: Int) -> [Int] {
        fields.enumerated().map { i, field in
            var widest = displayWidth(field.name)
            let column = sample.columns[i].raw
            for row in start..<min(sample.length, start + rows) where !column.isNull(row) {
                switch column.kind {
                case .utf8: widest = max(widest, displayWidth(String(decoding: column.bytes(row), as: UTF8.self)))
                case .date32: widest = max(widest, 10)
                case .date64, .timestamp: widest = max(widest, 19)
                case .float32, .float64: widest = max(widest, min(15, column.double(row).description.count))
                case .bool: widest = max(widest, 5)
                default: widest = max(widest, String(column.int64(row)).count)
                }
            }
            return min(60, max(8, widest + 2))
        }
    }

    /// East Asian characters take two columns.
    static func displayWidth(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { $0 + ($1.value >= 0x1100 ? 2 : 1) }
    }
}

/// One workbook being written: the fixed parts, then the sheet XML streamed into the zip.
struct SheetWriter {
    private let zip: ZipWriter
    private let fields: [ArrowField]
    private var xml = XMLOut()
    private var rowNumber = 1

    init(path: String, fields: [ArrowField], sheetName: String, level: Int32, widths: [Int]) throws {
        self.fields = fields
        zip = try ZipWriter(path: path)
        for (name, text) in WorkbookParts.fixed(sheetName: sheetName) {
            try zip.beginEntry(name, method: .deflate(level: 6))
            try zip.write(Array(text.utf8))
        }
        try zip.beginEntry("xl/worksheets/sheet1.xml", method: .deflate(level: level))
        xml.raw(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#)
        xml.raw(#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><cols>"#)
        for (i, w) in widths.enumerated() { xml.raw(#"<col min="\#(i + 1)" max="\#(i + 1)" width="\#(w)" customWidth="1"/>"#) }
        xml.raw("</cols><sheetData>")
        // The header, bold (style 1).
        xml.raw(#"<row r="1">"#)
        for field in fields {
            xml.raw(#"<c t="inlineStr" s="1"><is><t xml:space="preserve">"#)
            xml.escaped(Array(field.name.utf8)[...])
            xml.raw("</t></is></c>")
        }
        xml.raw("</row>")
    }

    mutating func rows(_ batch: BatchView, from start: Int, count: Int) throws {
        let columns = batch.columns.map(\.raw)
        for row in start..<(start + count) {
            rowNumber += 1
            xml.raw("<row r=\"")
            xml.integer(Int64(rowNumber))
            xml.raw("\">")
            for (c, column) in columns.enumerated() {
                try cell(column, fields[c], row)
            }
            xml.raw("</row>")
            if xml.count >= 1 << 20 { try flush() }
        }
    }

    /// One cell: `<c/>` holds the place of a null, so no cell needs an `r` attribute.
    private mutating func cell(_ column: RawColumn, _ field: ArrowField, _ row: Int) throws {
        let type = field.type
        if column.isNull(row) { return xml.raw("<c/>") }
        switch column.kind {
        case .null: xml.raw("<c/>")
        case .bool: xml.raw(column.bool(row) ? #"<c t="b"><v>1</v></c>"# : #"<c t="b"><v>0</v></c>"#)
        case .int8, .int16, .int32, .int64:
            xml.raw("<c><v>")
            xml.integer(column.int64(row))
            xml.raw("</v></c>")
        case .uint8, .uint16, .uint32, .uint64:
            xml.raw("<c><v>")
            xml.raw(String(column.uint64(row)))
            xml.raw("</v></c>")
        case .float32, .float64:
            let d = column.double(row)
            guard d.isFinite else { return xml.raw("<c/>") }
            xml.raw("<c><v>")
            if let i = Int64(exactly: d), abs(d) < 1e15 { xml.integer(i) } else { xml.raw(d.description) }
            xml.raw("</v></c>")
        case .decimal128, .decimal256:
            switch type {
            case .decimal128(_, let s), .decimal256(_, let s): number(DecimalText.format(column.decimalWords(row), scale: s))
            default: xml.raw("<c/>")
            }
        case .date32:
            xml.raw(#"<c s="2"><v>"#)
            xml.integer(column.int64(row) + 25_569)
            xml.raw("</v></c>")
        case .date64, .timestamp:
            let unit: ArrowType.TimeUnit = if case .timestamp(let u, _) = type { u } else { .milli }
            guard let millis = unit.millis(column.int64(row)) else {
                throw PluginError.invalidArgument("column '\(field.name)' holds a timestamp too far from 1970 for a workbook")
            }
            let serial = Double(millis) / 86_400_000 + 25_569
            xml.raw(#"<c s="3"><v>"#)
            xml.raw(serial.description)
            xml.raw("</v></c>")
        case .utf8:
            xml.inlineString(column.bytes(row))
        case .binary:
            let hex = column.bytes(row).map { String(format: "%02x", $0) }.joined()
            xml.inlineString(UnsafeRawBufferPointer(start: nil, count: 0), text: hex)
        }
    }

    private mutating func number(_ text: String) {
        xml.raw("<c><v>")
        xml.raw(text)
        xml.raw("</v></c>")
    }

    private mutating func flush() throws {
        try xml.withBytes { try zip.write($0) }
        xml.reset()
    }

    mutating func finish() throws {
        xml.raw("</sheetData></worksheet>")
        try flush()
        try zip.finish()
    }
}

/// XML text for the sheet, written through a growable buffer.
struct XMLOut {
    private var bytes: [UInt8] = []

    init() { bytes.reserveCapacity((1 << 20) + 4096) }

    var count: Int { bytes.count }

    mutating func raw(_ s: String) {
        var copy = s
        copy.withUTF8 { bytes.append(contentsOf: $0) }
    }

    mutating func integer(_ v: Int64) {
        if v >= 0 && v < 10 { return bytes.append(UInt8(ascii: "0") + UInt8(v)) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buf in
            var i = buf.count
            var m = v.magnitude
            repeat {
                i -= 1
                buf[i] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
            } while m > 0
            if v < 0 { i -= 1; buf[i] = UInt8(ascii: "-") }
            bytes.append(contentsOf: buf[i...])
        }
    }

    mutating func inlineString(_ bytes: UnsafeRawBufferPointer, text: String? = nil) {
        let value = text.map { Array($0.utf8) } ?? Array(bytes)
        let needsPreserve = value.first == 0x20 || value.last == 0x20 || value.contains(0x0A)
        raw(needsPreserve ? #"<c t="inlineStr"><is><t xml:space="preserve">"# : #"<c t="inlineStr"><is><t>"#)
        escaped(value[...])
        raw("</t></is></c>")
    }

    /// Escapes &, < and >; drops the control characters XML 1.0 cannot hold.
    mutating func escaped(_ value: ArraySlice<UInt8>) {
        var runStart = value.startIndex
        for i in value.indices {
            let b = value[i]
            guard b == UInt8(ascii: "&") || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || (b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0D) else { continue }
            bytes.append(contentsOf: value[runStart..<i])
            switch b {
            case UInt8(ascii: "&"): raw("&amp;")
            case UInt8(ascii: "<"): raw("&lt;")
            case UInt8(ascii: ">"): raw("&gt;")
            default: break
            }
            runStart = i + 1
        }
        bytes.append(contentsOf: value[runStart..<value.endIndex])
    }

    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try bytes.withUnsafeBytes(body)
    }

    mutating func reset() { bytes.removeAll(keepingCapacity: true) }
}

/// The parts of a workbook that do not depend on the data.
enum WorkbookParts {
    static func fixed(sheetName: String) -> [(String, String)] {
        var escaped = XMLOut()
        escaped.escaped(Array(sheetName.utf8)[...])
        let name = escaped.withBytes { String(decoding: $0, as: UTF8.self) }
            .replacingOccurrences(of: "\"", with: "&quot;")
        return [
            ("[Content_Types].xml", #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#),
            ("_rels/.rels", #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
            ("xl/workbook.xml", #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="\#(name)" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
            ("xl/_rels/workbook.xml.rels", #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#),
            // Styles: 0 default, 1 bold header, 2 date (numFmt 14), 3 date and time.
            ("xl/styles.xml", #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\-mm\-dd\ hh:mm:ss"/></numFmts><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"#),
        ]
    }
}
