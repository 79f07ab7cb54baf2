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
    private let helper = RenderHelper()
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
        writer = try SheetWriter(
            path: path, fields: fields, sheetName: sheetName, level: level,
            widths: ColumnWidths.measure(fields: fields, sample: sample, from: row, rows: Self.widthSampleRows), helper: helper)
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
/// Rows carry no `r` attribute and cells no reference: both are optional in SpreadsheetML
/// (rows count from 1, cells from A, and `<c/>` holds the place of a null).
///
/// Both cores: a large batch is cut into ranges of rows, and the ranges are rendered and
/// deflated two at a time, one on the calling thread and one on a helper, each into a deflate
/// run of its own (see PluginKit's `DeflatedRun`), written in order. Rendering the XML was
/// the single-threaded step that bounded the export. Small batches gather on the calling
/// thread until they make a run.
struct SheetWriter {
    private let zip: ZipWriter
    private var renderer: SheetRenderer
    private let deflater: RunDeflater
    private let helper: RenderHelper
    /// Rows per range: adjusted to make runs of about `runBytes` of XML.
    private var rowsPerRange = 2_048
    static let runBytes = 1 << 20

    init(path: String, fields: [ArrowField], sheetName: String, level: Int32, widths: [Int], helper: RenderHelper) throws {
        renderer = SheetRenderer(fields: fields)
        deflater = try RunDeflater(level: level)
        self.helper = helper
        try helper.prepare(fields: fields, level: level)
        zip = try ZipWriter(path: path)
        for (name, text) in WorkbookParts.fixed(sheetName: sheetName) {
            try zip.beginEntry(name, method: .deflate(level: 6))
            try zip.write(Array(text.utf8))
        }
        try zip.beginEntry("xl/worksheets/sheet1.xml", method: .deflatedRuns)
        renderer.header(widths: widths)
    }

    mutating func rows(_ batch: BatchView, from start: Int, count: Int) throws {
        let columns = batch.columns.map(\.raw)
        guard columns.count == renderer.plans.count else {
            throw PluginError.invalidArgument("a batch has \(columns.count) columns, the export \(renderer.plans.count)")
        }
        var row = start
        let end = start + count
        while end - row >= 2 * rowsPerRange {
            let n = rowsPerRange
            helper.begin(columns, rows: (row + n)..<(row + 2 * n))
            let before = renderer.xml.count
            let mine: Result<DeflatedRun, Error> = Result {
                try renderer.render(columns, rows: row..<(row + n))
                return try renderer.xml.withBytes { try deflater.run($0) }
            }
            let bytesPerRow = max(1, (renderer.xml.count - before) / n)
            renderer.xml.reset()
            // The helper reads the batch: wait for it whatever happened here.
            let theirs = helper.wait()
            try zip.write(mine.get())
            try zip.write(theirs.get())
            rowsPerRange = min(65_536, max(64, Self.runBytes / bytesPerRow))
            row += 2 * n
        }
        guard row < end else { return }
        try renderer.render(columns, rows: row..<end)
        if renderer.xml.count >= Self.runBytes { try flush() }
    }

    private mutating func flush() throws {
        guard renderer.xml.count > 0 else { return }
        try zip.write(renderer.xml.withBytes { try deflater.run($0) })
        renderer.xml.reset()
    }

    mutating func finish() throws {
        renderer.xml.raw("</sheetData></worksheet>")
        try flush()
        try zip.finish()
    }
}

/// Renders rows of a batch as sheet XML into its buffer: one per thread.
struct SheetRenderer {
    /// How a column's cells are written, decided once per column instead of per cell.
    enum CellPlan {
        case null, bool, signed, unsigned, float, decimal(scale: Int), date, timestamp(ArrowType.TimeUnit), utf8, binary
    }

    let fields: [ArrowField]
    let plans: [CellPlan]
    var xml = XMLOut()

    init(fields: [ArrowField]) {
        self.fields = fields
        plans = fields.map(Self.plan)
    }

    /// The sheet's start: its view (the header row frozen), column widths, the bold header.
    mutating func header(widths: [Int]) {
        xml.raw(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#)
        xml.raw(
            #"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><cols>"#
        )
        for (i, w) in widths.enumerated() { xml.rawText(#"<col min="\#(i + 1)" max="\#(i + 1)" width="\#(w)" customWidth="1"/>"#) }
        xml.raw("</cols><sheetData>")
        // The header, bold (style 1).
        xml.raw("<row>")
        for field in fields {
            xml.raw(#"<c t="inlineStr" s="1"><is><t xml:space="preserve">"#)
            xml.escaped(field.name)
            xml.raw("</t></is></c>")
        }
        xml.raw("</row>")
    }

    private static func plan(_ field: ArrowField) -> CellPlan {
        switch field.type {
        case .null: .null
        case .bool: .bool
        case .int8, .int16, .int32, .int64: .signed
        case .uint8, .uint16, .uint32, .uint64: .unsigned
        case .float32, .float64: .float
        case .decimal128(_, let s), .decimal256(_, let s): .decimal(scale: s)
        case .date32: .date
        case .date64: .timestamp(.milli)
        case .timestamp(let unit, _): .timestamp(unit)
        case .utf8: .utf8
        case .binary: .binary
        }
    }

    mutating func render(_ columns: [RawColumn], rows: Range<Int>) throws {
        try columns.withUnsafeBufferPointer { columns in
            try plans.withUnsafeBufferPointer { plans in
                for row in rows {
                    xml.raw("<row>")
                    for c in 0..<columns.count {
                        try cell(columns[c], plans[c], row, column: c)
                    }
                    xml.raw("</row>")
                }
            }
        }
    }

    @inline(__always)
    private mutating func cell(_ column: RawColumn, _ plan: CellPlan, _ row: Int, column c: Int) throws {
        if column.isNull(row) { return xml.raw("<c/>") }
        switch plan {
        case .null: xml.raw("<c/>")
        case .bool: xml.raw(column.bool(row) ? #"<c t="b"><v>1</v></c>"# : #"<c t="b"><v>0</v></c>"#)
        case .signed:
            xml.raw("<c><v>")
            xml.integer(column.int64(row))
            xml.raw("</v></c>")
        case .unsigned:
            xml.raw("<c><v>")
            xml.unsigned(column.uint64(row))
            xml.raw("</v></c>")
        case .float:
            let d = column.double(row)
            guard d.isFinite else { return xml.raw("<c/>") }
            xml.raw("<c><v>")
            xml.double(d)
            xml.raw("</v></c>")
        case .decimal(let scale):
            xml.raw("<c><v>")
            xml.rawText(DecimalText.format(column.decimalWords(row), scale: scale))
            xml.raw("</v></c>")
        case .date:
            xml.raw(#"<c s="2"><v>"#)
            xml.integer(column.int64(row) + 25_569)
            xml.raw("</v></c>")
        case .timestamp(let unit):
            guard let millis = unit.millis(column.int64(row)) else {
                throw PluginError.invalidArgument("column '\(fields[c].name)' holds a timestamp too far from 1970 for a workbook")
            }
            xml.raw(#"<c s="3"><v>"#)
            xml.double(Double(millis) / 86_400_000 + 25_569)
            xml.raw("</v></c>")
        case .utf8:
            xml.inlineString(column.bytes(row))
        case .binary:
            var hex = column.bytes(row).map { String(format: "%02x", $0) }.joined()
            hex.withUTF8 { xml.inlineString(UnsafeRawBufferPointer($0)) }
        }
    }
}

/// The second thread of an export: renders and deflates one range of rows at a time, while
/// the exporter's own thread does the range before it. One per exporter instance, for all
/// its files; its thread ends with it.
final class RenderHelper {
    /// What the two threads share. `@unchecked Sendable`: the exporter's thread touches `job`,
    /// `result` and the renderer only between `wait()` returning and the next `begin`, the
    /// helper's thread only between `begin` and its signal of `done`: the semaphores order
    /// every access, and the columns it reads belong to a batch the exporter's thread holds
    /// until `wait()` returns.
    private final class Shared: @unchecked Sendable {
        var renderer = SheetRenderer(fields: [])
        var deflater: RunDeflater?
        var job: (columns: [RawColumn], rows: Range<Int>)?
        var result: Result<DeflatedRun, Error> = .failure(PluginError.internalError("no range rendered"))
        var stopped = false
        let start = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)

        func loop() {
            while true {
                start.wait()
                if stopped { return }
                guard let job, let deflater else { continue }
                result = Result {
                    renderer.xml.reset()
                    try renderer.render(job.columns, rows: job.rows)
                    return try renderer.xml.withBytes { try deflater.run($0) }
                }
                self.job = nil
                done.signal()
            }
        }
    }

    private let shared = Shared()
    private var level: Int32 = -1

    init() {
        let shared = self.shared
        Thread.detachNewThread { shared.loop() }
    }

    deinit {
        shared.stopped = true
        shared.start.signal()
    }

    /// For a new file: its columns, and the deflate level.
    func prepare(fields: [ArrowField], level: Int32) throws {
        shared.renderer = SheetRenderer(fields: fields)
        if level != self.level {
            shared.deflater = try RunDeflater(level: level)
            self.level = level
        }
    }

    func begin(_ columns: [RawColumn], rows: Range<Int>) {
        shared.job = (columns, rows)
        shared.start.signal()
    }

    func wait() -> Result<DeflatedRun, Error> {
        shared.done.wait()
        return shared.result
    }
}

/// The parts of a workbook that do not depend on the data.
enum WorkbookParts {
    static func fixed(sheetName: String) -> [(String, String)] {
        var escaped = XMLOut(capacity: 256)
        escaped.escaped(sheetName)
        let name = escaped.withBytes { String(decoding: $0, as: UTF8.self) }
            .replacingOccurrences(of: "\"", with: "&quot;")
        return [
            (
                "[Content_Types].xml",
                #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#
            ),
            (
                "_rels/.rels",
                #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
            (
                "xl/workbook.xml",
                #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="\#(name)" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            ),
            (
                "xl/_rels/workbook.xml.rels",
                #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#
            ),
            // Styles: 0 default, 1 bold header, 2 date (numFmt 14), 3 date and time.
            (
                "xl/styles.xml",
                #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\-mm\-dd\ hh:mm:ss"/></numFmts><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/><xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"#
            ),
        ]
    }
}
