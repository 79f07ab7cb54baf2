import Foundation
@testable import Host

/// A seed-001 query: the input is a query string, then (after a NUL) a POST body.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let nul = bytes.firstIndex(of: 0) ?? size
    let query = QueryString(String(decoding: bytes[0..<nul], as: UTF8.self))
    let body = nul < size ? Data(bytes[(nul + 1)...]) : nil
    if let request = try? QueryRequest.parse(query: query, body: body, accept: nil) {
        precondition(request.rowLimit.map { $0 > 0 } ?? true)
        _ = QueryParameters.parameterNames(request.query ?? "")
    }
    return 0
}
