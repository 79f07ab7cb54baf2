import PluginKit

/// One cell of a sheet row as stored.
enum SheetValue {
    case number(Double, date: Bool)
    /// A shared string is a slice of the workbook's table, not a copy: a file that points
    /// a thousand cells at one 20 MB string must not become 20 GB.
    case text(ArraySlice<UInt8>)
    case bool(Bool)

    /// About what the value weighs in a batch.
    var byteCount: Int {
        if case .text(let t) = self { return t.count + 4 }
        return 8
    }
}

/// Reads a sheet's rows in order: `<row>` elements holding `<c r="B2" t=".." s="..">`
/// cells with a `<v>` value or an `<is><t>` inline string. Empty cells are absent.
struct SheetRows {
    struct Cell {
        let column: Int
        let value: SheetValue
    }

    private var scanner: XMLScanner
    private let workbook: XlsxWorkbook
    /// The sheet's row number of the last row returned (1-based, as Excel shows it).
    private(set) var rowNumber = 0

    init(_ workbook: XlsxWorkbook) {
        self.workbook = workbook
        scanner = XMLScanner(part: "the sheet '\(workbook.sheetName)'", bytes: workbook.sheetXML)
    }

    /// The next row's cells, or nil after the last row.
    mutating func next() throws -> [Cell]? {
        while let event = try scanner.next() {
            guard case .start(let name, let attributes, let selfClosing) = event, XMLScanner.is(name, "row") else { continue }
            // Clamped: the next row without an `r` adds one, which must not overflow.
            rowNumber = XMLScanner.attribute(attributes, "r").flatMap(Int.init).map { min(max($0, 0), 1 << 40) } ?? rowNumber + 1
            if selfClosing { return [] }
            return try cells()
        }
        return nil
    }

    private mutating func cells() throws -> [Cell] {
        var cells: [Cell] = []
        var column = -1
        while let event = try scanner.next() {
            switch event {
            case .end(let name) where XMLScanner.is(name, "row"):
                return cells
            case .start(let name, let attributes, let selfClosing) where XMLScanner.is(name, "c"):
                column = XMLScanner.attribute(attributes, "r").flatMap(Self.columnIndex) ?? column + 1
                if selfClosing { continue }
                if let value = try cellValue(
                    type: XMLScanner.attribute(attributes, "t") ?? "n",
                    style: XMLScanner.attribute(attributes, "s").flatMap(Int.init) ?? 0)
                {
                    cells.append(Cell(column: column, value: value))
                }
            default:
                continue
            }
        }
        throw scanner.fail("the sheet ends inside row \(rowNumber)")
    }

    /// Reads up to `</c>`: the `<v>` text, or the `<t>` texts of an inline string.
    private mutating func cellValue(type: String, style: Int) throws -> SheetValue? {
        var v: [UInt8] = []
        var inV = false, inT = false, hasValue = false
        while let event = try scanner.next() {
            switch event {
            case .start(let name, _, let selfClosing):
                if XMLScanner.is(name, "v") && !selfClosing { inV = true; hasValue = true }
                if XMLScanner.is(name, "t") && !selfClosing { inT = true; hasValue = true }
            case .end(let name):
                if XMLScanner.is(name, "v") { inV = false }
                if XMLScanner.is(name, "t") { inT = false }
                if XMLScanner.is(name, "c") {
                    guard hasValue else { return nil }
                    return try interpret(v, type: type, style: style)
                }
            case .text(let raw):
                if inV || inT { try XMLScanner.decode(raw, into: &v) }
            }
        }
        throw scanner.fail("the sheet ends inside a cell of row \(rowNumber)")
    }

    private func interpret(_ v: [UInt8], type: String, style: Int) throws -> SheetValue? {
        switch type {
        case "s":
            guard let index = Int(String(decoding: v, as: UTF8.self)) else {
                throw PluginError.invalidArgument("row \(rowNumber): a shared-string cell without an index")
            }
            return .text(try workbook.sharedString(index))
        case "inlineStr", "str":
            return .text(v[...])
        case "b":
            return .bool(v == [UInt8(ascii: "1")])
        case "e":
            return nil  // #DIV/0! and friends: no value
        default:
            // Double() also reads "nan" and "inf", which no cell holds and no column type takes.
            guard let d = Double(String(decoding: v, as: UTF8.self)), d.isFinite else {
                throw PluginError.invalidArgument("row \(rowNumber): '\(String(decoding: v.prefix(40), as: UTF8.self))' is not a number")
            }
            return .number(d, date: workbook.dateStyles.contains(style))
        }
    }

    /// "B12" → 1; letters only, at most three (XFD is the last column).
    static func columnIndex(_ reference: String) -> Int? {
        var index = 0, letters = 0
        for c in reference.utf8 {
            guard c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") else { break }
            guard letters < 3 else { return nil }  // before the multiply: 14 letters overflow
            index = index * 26 + Int(c - UInt8(ascii: "A") + 1)
            letters += 1
        }
        guard letters > 0 else { return nil }
        return index - 1
    }

    static func columnName(_ index: Int) -> String {
        var n = index + 1, name = ""
        while n > 0 {
            let r = (n - 1) % 26
            name = String(Character(Unicode.Scalar(UInt8(65 + r)))) + name
            n = (n - 1) / 26
        }
        return name
    }
}
