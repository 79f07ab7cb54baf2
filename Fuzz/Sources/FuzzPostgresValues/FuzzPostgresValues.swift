@testable import Host

/// What a PostgreSQL server sends for a row, decoded the way the reads decode it: a binary
/// record's fields, then each field as a numeric, an integer and a double. Nothing may trap
/// or read past the bytes; a numeric read as text rounds to any scale without trapping.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let raw = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    var fields: [(type: UInt32, bytes: UnsafeRawBufferPointer?)] = []
    let parts = PostgresBinaryValues.fields(raw, expected: Int(data[0] % 8), into: &fields) ? fields.compactMap(\.bytes) : [raw]
    for part in parts {
        precondition(part.baseAddress == nil || (part.baseAddress! >= raw.baseAddress! && part.baseAddress! + part.count <= raw.baseAddress! + raw.count))
        if let text = PostgresBinaryValues.numericText(part) {
            _ = PostgresBinaryValues.rounded(text, scale: Int(data[0] % 12))
            _ = PostgresBinaryValues.wholeNumber(text)
        }
        for type: UInt32 in [20, 21, 23, 700, 701, 1700] {
            _ = PostgresBinaryValues.int(part, type: type)
            _ = PostgresBinaryValues.double(part, type: type)
        }
    }
    return 0
}
