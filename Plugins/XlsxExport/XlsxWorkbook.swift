import Foundation
import PluginABI
import PluginKit

/// The parts of a workbook a reader needs: the first sheet's XML, the shared strings, which
/// cell styles are dates, and the date system. Each part is inflated within the limits.
struct XlsxWorkbook {
    struct Limits {
        var maxEntryBytes = 256 << 20
        var maxSharedStringBytes = 64 << 20
        var maxRatio = 200
    }

    let sheetName: String
    let sheetXML: [UInt8]
    /// Shared strings back to back, and where each ends.
    let sharedText: [UInt8]
    let sharedEnds: [Int]
    let dateStyles: Set<Int>
    let date1904: Bool

    init(path: String, limits: Limits) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PluginError(status: GW_IO, "cannot read \(path)")
        }
        try self.init(bytes: Array(data), limits: limits)
    }

    init(bytes: [UInt8], limits: Limits) throws {
        let zip = try ZipArchive(bytes)
        let zipLimits = ZipLimits(maxEntryBytes: limits.maxEntryBytes, maxRatio: limits.maxRatio)
        let workbook = try zip.read("xl/workbook.xml", limits: zipLimits)
        let (name, relation, date1904) = try Self.firstSheet(workbook)
        self.date1904 = date1904
        sheetName = name
        var sheetPath = "xl/worksheets/sheet1.xml"
        if let relation, zip.has("xl/_rels/workbook.xml.rels") {
            let rels = try zip.read("xl/_rels/workbook.xml.rels", limits: zipLimits)
            if let target = try Self.target(of: relation, in: rels) {
                sheetPath = target.hasPrefix("/") ? String(target.dropFirst()) : "xl/" + target
            }
        }
        sheetXML = try zip.read(sheetPath, limits: zipLimits)
        if zip.has("xl/sharedStrings.xml") {
            (sharedText, sharedEnds) = try Self.sharedStrings(
                zip.read("xl/sharedStrings.xml", limits: zipLimits), maxBytes: limits.maxSharedStringBytes)
        } else {
            (sharedText, sharedEnds) = ([], [])
        }
        dateStyles = zip.has("xl/styles.xml") ? try Self.dateStyles(zip.read("xl/styles.xml", limits: zipLimits)) : []
    }

    func sharedString(_ index: Int) throws -> ArraySlice<UInt8> {
        guard index >= 0, index < sharedEnds.count else {
            throw PluginError.invalidArgument("a cell refers to shared string \(index), but there are \(sharedEnds.count)")
        }
        return sharedText[(index == 0 ? 0 : sharedEnds[index - 1])..<sharedEnds[index]]
    }

    // MARK: parts

    private static func firstSheet(_ xml: [UInt8]) throws -> (String, String?, Bool) {
        var scanner = XMLScanner(part: "xl/workbook.xml", bytes: xml)
        var date1904 = false
        while let event = try scanner.next() {
            guard case .start(let name, let attributes, _) = event else { continue }
            if XMLScanner.is(name, "workbookPr") {
                let v = XMLScanner.attribute(attributes, "date1904")
                date1904 = v == "1" || v == "true"
            }
            if XMLScanner.is(name, "sheet") {
                let rid = attributes.first { XMLScanner.is($0.0, "id") }.map { String(decoding: $0.1, as: UTF8.self) }
                return (XMLScanner.attribute(attributes, "name") ?? "Sheet1", rid, date1904)
            }
        }
        throw PluginError.invalidArgument("the workbook has no sheet")
    }

    private static func target(of relation: String, in xml: [UInt8]) throws -> String? {
        var scanner = XMLScanner(part: "xl/_rels/workbook.xml.rels", bytes: xml)
        while let event = try scanner.next() {
            if case .start(let name, let attributes, _) = event, XMLScanner.is(name, "Relationship"),
                XMLScanner.attribute(attributes, "Id") == relation
            {
                return XMLScanner.attribute(attributes, "Target")
            }
        }
        return nil
    }

    /// Every `<si>`: the text of its `<t>` elements (rich runs joined, phonetic runs skipped).
    private static func sharedStrings(_ xml: [UInt8], maxBytes: Int) throws -> ([UInt8], [Int]) {
        var scanner = XMLScanner(part: "xl/sharedStrings.xml", bytes: xml)
        var text: [UInt8] = []
        var ends: [Int] = []
        var inT = false, inPhonetic = false
        while let event = try scanner.next() {
            switch event {
            case .start(let name, _, let selfClosing):
                if XMLScanner.is(name, "t") && !selfClosing && !inPhonetic { inT = true }
                if XMLScanner.is(name, "rPh") && !selfClosing { inPhonetic = true }
            case .end(let name):
                if XMLScanner.is(name, "t") { inT = false }
                if XMLScanner.is(name, "rPh") { inPhonetic = false }
                if XMLScanner.is(name, "si") { ends.append(text.count) }
            case .text(let raw):
                guard inT else { continue }
                try XMLScanner.decode(raw, into: &text)
                guard text.count <= maxBytes else {
                    throw PluginError.invalidArgument("the shared strings exceed \(maxBytes) bytes (max_shared_strings_bytes)")
                }
            }
        }
        return (text, ends)
    }

    /// Indexes of the cell formats (`cellXfs`) whose number format shows a date or time.
    private static func dateStyles(_ xml: [UInt8]) throws -> Set<Int> {
        var scanner = XMLScanner(part: "xl/styles.xml", bytes: xml)
        var customDates = Set<Int>()
        var inCellXfs = false
        var index = 0
        var styles = Set<Int>()
        while let event = try scanner.next() {
            switch event {
            case .start(let name, let attributes, let selfClosing):
                if XMLScanner.is(name, "numFmt"), let id = XMLScanner.attribute(attributes, "numFmtId").flatMap(Int.init),
                    let code = XMLScanner.attribute(attributes, "formatCode"), isDateFormat(code)
                {
                    customDates.insert(id)
                }
                if XMLScanner.is(name, "cellXfs") && !selfClosing { inCellXfs = true }
                if inCellXfs && XMLScanner.is(name, "xf") {
                    let id = XMLScanner.attribute(attributes, "numFmtId").flatMap(Int.init) ?? 0
                    if builtInDates.contains(id) || customDates.contains(id) { styles.insert(index) }
                    index += 1
                }
            case .end(let name):
                if XMLScanner.is(name, "cellXfs") { inCellXfs = false }
            case .text: break
            }
        }
        return styles
    }

    static let builtInDates: Set<Int> = Set(14...22).union(27...36).union(45...47).union(50...58)

    /// A format code shows a date if, outside quotes and brackets, it has y, d, or h with m/s.
    static func isDateFormat(_ code: String) -> Bool {
        var plain = ""
        var quoted = false, bracket = false, escaped = false
        for c in code {
            if escaped { escaped = false; continue }
            switch c {
            case "\\": escaped = true
            case "\"": quoted.toggle()
            case "[": bracket = true
            case "]": bracket = false
            default: if !quoted && !bracket { plain.append(c) }
            }
        }
        let lower = plain.lowercased()
        if lower.contains("general") || lower.contains("0") || lower.contains("#") { return false }
        return lower.contains("y") || lower.contains("d") || (lower.contains("h") && (lower.contains("m") || lower.contains("s")))
    }
}
