@testable import Host

/// The ELF check every plugin file passes before dlopen (a file in a plugin folder is
/// whatever an administrator, or an interrupted copy, left there): it must refuse or accept,
/// never trap, and never ask its reader for bytes outside the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    _ = try? ELFCheck.check(size: UInt64(size)) { offset, count in
        precondition(offset <= UInt64(size) && UInt64(count) <= UInt64(size) - offset, "the check read outside the file")
        return Array(bytes[Int(offset)..<Int(offset) + count])
    }
    return 0
}
