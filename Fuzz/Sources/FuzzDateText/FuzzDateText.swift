import PluginKit
@testable import Host

/// Dates and timestamps as pushed and as read back; and the UTF-8 check every pushed text
/// cell passes, against the standard library's.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let moment = DateText.Moment(bytes) {
        let micros = moment.microsSinceEpoch
        // What is stored reads back as the same instant.
        if var stored = moment.storeText {
            stored.withUTF8 { text in
                precondition(DateText.Moment(UnsafeRawBufferPointer(text))?.microsSinceEpoch == micros, "a stored timestamp reads back differently")
            }
        }
        var out = OutputBuffer(capacity: 64)
        out.appendTimestamp(micros)
    }
    if let day = DateText.Day(bytes) { _ = day.daysSinceEpoch }
    let expected = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) != nil
    precondition(UTF8Validation.isValid(bytes) == expected, "UTF-8 validation disagrees with the standard library")
    return 0
}
