@testable import Host

/// Form bodies (pushes) and query strings (every GET) decode the same way; a JSON push body
/// is read into the same fields.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let form = try? FormFields(bytes) {
        for (key, value) in form.values {
            precondition(value.count <= size && key.utf8.count <= size * 3, "decoding grew the text")
        }
    }
    let query = QueryString(String(decoding: bytes, as: UTF8.self))
    _ = query["token"]
    if let fields = try? JSONObjectFields.parse(bytes, maxFields: 1_000) {
        precondition(fields.values.allSatisfy { $0.count <= size })
    }
    return 0
}
