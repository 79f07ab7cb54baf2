#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A growable malloc'd byte buffer. Its storage can be handed over to an exported
/// ArrowArray (which frees it with `free`), so a built column is exported without a copy.
/// A value type with manual ownership: exactly one of `free()` or `take()` ends it.
struct RawBuffer {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private(set) var capacity = 0

    init(capacity: Int = 0) {
        if capacity > 0 { reserve(capacity) }
    }

    mutating func reserve(_ extra: Int) {
        let needed = count + extra
        guard needed > capacity else { return }
        var newCapacity = Swift.max(64, capacity)
        while newCapacity < needed { newCapacity *= 2 }
        guard let grown = realloc(base, newCapacity) else {
            fatalError("out of memory growing an Arrow buffer to \(newCapacity) bytes")
        }
        base = grown
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        (base! + count).storeBytes(of: value.littleEndian, as: T.self)
        count += MemoryLayout<T>.size
    }

    @inline(__always)
    mutating func append(_ value: Double) { append(value.bitPattern) }

    @inline(__always)
    mutating func append(_ value: Float) { append(value.bitPattern) }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0, let source = bytes.baseAddress else { return }
        reserve(bytes.count)
        (base! + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func appendZeros(_ n: Int) {
        guard n > 0 else { return }
        reserve(n)
        (base! + count).initializeMemory(as: UInt8.self, repeating: 0, count: n)
        count += n
    }

    /// Make the buffer at least `byteCount` long, filling new bytes with `fill`.
    mutating func extend(to byteCount: Int, fill: UInt8) {
        guard byteCount > count else { return }
        reserve(byteCount - count)
        (base! + count).initializeMemory(as: UInt8.self, repeating: fill, count: byteCount - count)
        count = byteCount
    }

    @inline(__always)
    func byte(at index: Int) -> UInt8 { base!.load(fromByteOffset: index, as: UInt8.self) }

    @inline(__always)
    mutating func setByte(at index: Int, _ value: UInt8) {
        base!.storeBytes(of: value, toByteOffset: index, as: UInt8.self)
    }

    /// Hand the storage to the caller, who must `free` it; the buffer is empty afterwards.
    mutating func take() -> UnsafeMutableRawPointer? {
        defer { base = nil; count = 0; capacity = 0 }
        return base
    }

    mutating func free() {
        Glibc.free(base)
        base = nil
        count = 0
        capacity = 0
    }
}
