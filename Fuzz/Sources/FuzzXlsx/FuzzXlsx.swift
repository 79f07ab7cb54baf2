import PluginKit
@testable import XlsxExport

/// A whole workbook through the reader's two passes, with small limits. The seed corpus
/// holds real workbooks; the ZIP layer is kept valid by the mutator only by luck, so the
/// harness also wraps the input as the sheet of a fixed workbook (see `sheetWorkbook`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var limits = XlsxWorkbook.Limits()
    limits.maxEntryBytes = 4 << 20
    limits.maxSharedStringBytes = 1 << 20
    for candidate in [bytes, SheetWorkbook.wrap(sheet: bytes)] {
        guard let workbook = try? XlsxWorkbook(bytes: candidate, limits: limits),
            let producer = try? SheetProducer(workbook: workbook, batchSize: 1_000, rowLimit: 100_000, host: nil)
        else { continue }
        let batch = BatchBuilder(fields: producer.fields)
        var rounds = 0
        while rounds < 1_000, (try? producer.next(into: batch)) == true { rounds += 1 }
    }
    return 0
}

/// A minimal workbook around a sheet's XML: a ZIP with two stored entries (the reader does
/// not check CRCs, so none is computed).
enum SheetWorkbook {
    static let workbookXML = Array(#"<workbook><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>"#.utf8)

    static func wrap(sheet: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var directory: [UInt8] = []
        let entries: [(String, [UInt8])] = [("xl/workbook.xml", workbookXML), ("xl/worksheets/sheet1.xml", sheet)]
        for (name, data) in entries {
            let offset = UInt32(out.count)
            let nameBytes = Array(name.utf8)
            out +=
                le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
                + le32(UInt32(data.count)) + le32(UInt32(data.count)) + le16(UInt16(nameBytes.count)) + le16(0) + nameBytes + data
            directory +=
                le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
                + le32(UInt32(data.count)) + le32(UInt32(data.count)) + le16(UInt16(nameBytes.count)) + le16(0) + le16(0)
                + le16(0) + le16(0) + le32(0) + le32(offset) + nameBytes
        }
        let start = UInt32(out.count)
        out += directory
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(2) + le16(2) + le32(UInt32(directory.count)) + le32(start) + le16(0)
        return out
    }

    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { le16(UInt16(v & 0xFFFF)) + le16(UInt16(v >> 16)) }
}
