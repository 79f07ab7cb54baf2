@testable import XlsxExport

/// The central directory, then every entry inflated within small limits.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let zip = try? ZipArchive(Array(UnsafeBufferPointer(start: data, count: size))) else { return 0 }
    for name in zip.entries.keys {
        if let bytes = try? zip.read(name, limits: ZipLimits(maxEntryBytes: 1 << 20, maxRatio: 100)) {
            precondition(bytes.count <= 1 << 20)
        }
    }
    return 0
}
