@testable import XlsxExport

/// Every event of a document, its text decoded and its attributes read, as the sheet and
/// shared-string readers do.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var scanner = XMLScanner(part: "fuzz", bytes: Array(UnsafeBufferPointer(start: data, count: size)))
    var events = 0
    while events < 1_000_000, let event = try? scanner.next() {
        events += 1
        switch event {
        case .text(let raw):
            var out: [UInt8] = []
            try? XMLScanner.decode(raw, into: &out)
        case .start(_, let attributes, _):
            _ = XMLScanner.attribute(attributes, "r")
            _ = XMLScanner.attribute(attributes, "r").flatMap(SheetRows.columnIndex)
        case .end: break
        }
    }
    return 0
}
