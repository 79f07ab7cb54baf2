import PluginKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let value = try? OrderedJSON.parse(bytes) {
        _ = value["data"]?["pagetag"]?["total_page"]?.int
        _ = value.array?.first
    }
    return 0
}
