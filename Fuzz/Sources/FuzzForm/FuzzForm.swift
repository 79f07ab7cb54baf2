@testable import Host

/// Form bodies (pushes) and query strings (every GET) decode the same way.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let form = FormFields(bytes)
    for (key, value) in form.values {
        precondition(value.count <= size && key.utf8.count <= size * 3, "decoding grew the text")
    }
    let query = QueryString(String(decoding: bytes, as: UTF8.self))
    _ = query["token"]
    return 0
}
