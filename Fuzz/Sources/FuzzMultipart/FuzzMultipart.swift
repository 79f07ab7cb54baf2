import NIOCore
@testable import Host

/// An upload body, fed in two chunks split at its first byte's value (so boundaries fall
/// anywhere), with a fixed boundary.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var fileBytes = 0
    let reader = MultipartFormReader(
        boundary: "b0undary",
        fileStart: { name, fields in
            _ = (name, fields)
        },
        fileBytes: { chunk in
            fileBytes += chunk.readableBytes
        }, fileEnd: {})
    let split = size > 0 ? min(Int(bytes[0]) * 4, size) : 0
    do {
        try reader.feed(ByteBuffer(bytes: bytes[0..<split]))
        try reader.feed(ByteBuffer(bytes: bytes[split...]))
        try reader.finish()
    } catch {}
    precondition(fileBytes <= size)
    _ = MultipartFormReader.boundary("multipart/form-data; " + String(decoding: bytes.prefix(100), as: UTF8.self))
    _ = MultipartFormReader.disposition(String(decoding: bytes.prefix(200), as: UTF8.self))
    return 0
}
