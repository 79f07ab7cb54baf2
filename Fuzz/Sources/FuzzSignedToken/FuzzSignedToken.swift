import Foundation
@testable import Host

/// The signed-token check on fields made of the input (split at newlines): visitor, type,
/// stamp, token. The replay table is a real store in a temporary folder.
let store: SQLStore = {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-token-\(getpid())").path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return SQLStore(database: try! SQLiteDatabase(path: dir + "/gateway.sqlite"))  // a fuzzing harness: no store, no run
}()
let verifier = SignedTokenVerifier(store: store, windowSeconds: 300)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    var parts = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    while parts.count < 4 { parts.append("") }
    let key: String? = parts.count > 4 ? parts[4] : nil
    _ = try? verifier.verify(visitor: parts[0], type: parts[1], stamp: parts[2], token: parts[3], key: key)
    return 0
}
