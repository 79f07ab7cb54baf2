internal import CFastDeflate
import CZlib
import PluginABI
import Foundation
import Synchronization

/// Writes a ZIP archive to a file in one streaming pass: each entry's size and CRC follow
/// its data (a data descriptor), so nothing is held back. Deflated entries are compressed
/// on a second thread while the caller produces the next bytes, in bounded memory (a few
/// chunks in flight). Levels 1 to 3 run on ISA-L when the machine has it (see
/// fast_deflate.h), else on zlib, as do 0 and 4 to 9.
public final class ZipWriter {
    public enum Method: Sendable {
        case stored
        /// 1 (fast) to 9 (small); 0 stores inside a deflate stream.
        case deflate(level: Int32)
        /// Deflated by the caller, in runs (`write(_: DeflatedRun)`), which may be made on
        /// several threads; the writer ends the stream.
        case deflatedRuns
    }

    private struct Entry {
        let name: [UInt8]
        let method: UInt16
        let offset: UInt32
        var crc: UInt32 = 0
        /// Counted in 64 bits: a size past 4 GB is refused, never written truncated.
        var compressedSize: UInt64 = 0
        var size: UInt64 = 0
        var runs = false
    }

    /// What a ZIP without ZIP64 records can hold.
    static let maxEntries = 0xFFFF
    static let maxOffset = UInt64(UInt32.max)

    private let output: FileHandle
    private var position: UInt64 = 0
    private var entries: [Entry] = []
    private var current: Entry?
    private var compressor: Compressor?
    private var pending: [UInt8] = []
    private static let chunkSize = 1 << 20
    private static let dosTime: UInt16 = 0, dosDate: UInt16 = (2026 - 1980) << 9 | 1 << 5 | 1

    private let fastDeflate: Bool

    /// `fastDeflate: false` keeps to zlib (the tests compare both paths).
    public init(path: String, fastDeflate: Bool = true) throws {
        self.fastDeflate = fastDeflate && gw_fast_deflate_available() != 0
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw PluginError(status: GW_IO, "cannot create \(path)")
        }
        output = handle
    }

    deinit {
        compressor?.abort()  // an abandoned archive must not leave the deflate thread waiting
        try? output.close()
    }

    /// Starts an entry; ends the previous one.
    public func beginEntry(_ name: String, method: Method) throws {
        if current != nil { try endEntry() }
        let methodCode: UInt16
        switch method {
        case .stored: methodCode = 0
        case .deflate(let level):
            methodCode = 8
            compressor = try Compressor(level: level, fast: fastDeflate && (1...3).contains(level))
        case .deflatedRuns: methodCode = 8
        }
        guard position < Self.maxOffset else { throw PluginError(status: GW_IO, "the archive is over 4 GB (ZIP64 is not written)") }
        guard entries.count < Self.maxEntries else {
            throw PluginError(status: GW_IO, "the archive would hold more than \(Self.maxEntries) files (ZIP64 is not written)")
        }
        guard name.utf8.count <= 0xFFFF else { throw PluginError(status: GW_INVALID_ARGUMENT, "a file name in the archive is over 65535 bytes") }
        current = Entry(name: Array(name.utf8), method: methodCode, offset: UInt32(position))
        if case .deflatedRuns = method { current?.runs = true }
        var header: [UInt8] = []
        Self.put32(&header, 0x0403_4B50)
        Self.put16(&header, 20)  // version needed
        Self.put16(&header, 1 << 3 | 1 << 11)  // sizes in a data descriptor; UTF-8 names
        Self.put16(&header, methodCode)
        Self.put16(&header, Self.dosTime)
        Self.put16(&header, Self.dosDate)
        Self.put32(&header, 0)  // crc, sizes: in the descriptor
        Self.put32(&header, 0)
        Self.put32(&header, 0)
        Self.put16(&header, UInt16(current!.name.count))
        Self.put16(&header, 0)
        header += current!.name
        try emit(header)
    }

    /// Appends a run of an entry begun with `.deflatedRuns`.
    public func write(_ run: DeflatedRun) throws {
        guard current?.runs == true else { throw PluginError.internalError("a deflated run outside a .deflatedRuns entry") }
        current!.crc = UInt32(truncatingIfNeeded: crc32_combine(uLong(current!.crc), uLong(run.crc), off_t(run.size)))
        current!.size += UInt64(run.size)
        current!.compressedSize += UInt64(run.bytes.count)
        try emit(run.bytes)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard current != nil else { throw PluginError.internalError("zip write outside an entry") }
        guard current?.runs != true else { throw PluginError.internalError("plain bytes in a .deflatedRuns entry") }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        current!.crc = crc32(current!.crc, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        current!.size += UInt64(bytes.count)
        guard let compressor else {
            current!.compressedSize += UInt64(bytes.count)
            return try emit(bytes)
        }
        pending.append(contentsOf: bytes)
        if pending.count >= Self.chunkSize {
            try compressor.submit(pending, final: false)
            pending.removeAll(keepingCapacity: true)
            try drain(compressor)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func endEntry() throws {
        guard var entry = current else { return }
        if let compressor {
            try compressor.submit(pending, final: true)
            pending.removeAll(keepingCapacity: true)
            try drain(compressor, untilDone: true)
            entry.compressedSize = UInt64(compressor.produced)
            self.compressor = nil
        } else if entry.runs {
            // The end of the stream: an empty final block (fixed codes: BFINAL, end of block).
            try emit([0x03, 0x00])
            entry.compressedSize = current!.compressedSize + 2
        } else {
            entry.compressedSize = current!.compressedSize
        }
        entry.crc = current!.crc
        entry.size = current!.size
        guard entry.size <= Self.maxOffset, entry.compressedSize <= Self.maxOffset else {
            throw PluginError(status: GW_IO, "'\(String(decoding: entry.name, as: UTF8.self))' is over 4 GB (ZIP64 is not written)")
        }
        var descriptor: [UInt8] = []
        Self.put32(&descriptor, 0x0807_4B50)
        Self.put32(&descriptor, entry.crc)
        Self.put32(&descriptor, UInt32(entry.compressedSize))
        Self.put32(&descriptor, UInt32(entry.size))
        try emit(descriptor)
        entries.append(entry)
        current = nil
    }

    /// Ends the last entry and writes the central directory.
    public func finish() throws {
        try endEntry()
        let directoryStart = position
        var directory: [UInt8] = []
        for e in entries {
            Self.put32(&directory, 0x0201_4B50)
            Self.put16(&directory, 20)
            Self.put16(&directory, 20)
            Self.put16(&directory, 1 << 3 | 1 << 11)
            Self.put16(&directory, e.method)
            Self.put16(&directory, Self.dosTime)
            Self.put16(&directory, Self.dosDate)
            Self.put32(&directory, e.crc)
            Self.put32(&directory, UInt32(e.compressedSize))
            Self.put32(&directory, UInt32(e.size))
            Self.put16(&directory, UInt16(e.name.count))
            Self.put16(&directory, 0)
            Self.put16(&directory, 0)
            Self.put16(&directory, 0)
            Self.put16(&directory, 0)
            Self.put32(&directory, 0)
            Self.put32(&directory, e.offset)
            directory += e.name
        }
        try emit(directory)
        // The last entry or the directory itself can carry the archive past 4 GB.
        guard position <= Self.maxOffset else { throw PluginError(status: GW_IO, "the archive is over 4 GB (ZIP64 is not written)") }
        var end: [UInt8] = []
        Self.put32(&end, 0x0605_4B50)
        Self.put16(&end, 0)
        Self.put16(&end, 0)
        Self.put16(&end, UInt16(entries.count))
        Self.put16(&end, UInt16(entries.count))
        Self.put32(&end, UInt32(position - directoryStart))
        Self.put32(&end, UInt32(directoryStart))
        Self.put16(&end, 0)
        try emit(end)
        try output.synchronize()
        try output.close()
    }

    /// Bytes written so far (the archive's size once finished).
    public var bytesWritten: UInt64 { position }

    private func drain(_ compressor: Compressor, untilDone: Bool = false) throws {
        while let chunk = try compressor.take(wait: untilDone) { try emit(chunk) }
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try emit($0) }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        do {
            try output.write(contentsOf: bytes)  // the buffer itself: a Data copy was one more pass over every byte
        } catch {
            throw PluginError(status: GW_IO, "writing the archive failed: \(error)")
        }
        position += UInt64(bytes.count)
    }

    private func crc32(_ crc: UInt32, _ bytes: UnsafePointer<UInt8>, _ count: Int) -> UInt32 {
        Self.crc32(crc, UnsafeRawBufferPointer(start: bytes, count: count), fast: fastDeflate)
    }

    static func crc32(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer, fast: Bool) -> UInt32 {
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return crc }
        let bytes = base, count = buffer.count
        if fast { return gw_fast_crc32(crc, bytes, count) }
        // zlib's crc32 takes a 32-bit length: feed it in pieces.
        var crc = uLong(crc), done = 0
        while done < count {
            let n = min(count - done, 1 << 30)
            crc = CZlib.crc32(crc, bytes + done, uInt(n))
            done += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    private static func put16(_ out: inout [UInt8], _ v: UInt16) { out += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private static func put32(_ out: inout [UInt8], _ v: UInt32) { put16(&out, UInt16(v & 0xFFFF)); put16(&out, UInt16(v >> 16)) }
}

/// Raw deflate on its own thread: input chunks in, compressed chunks out, each queue
/// bounded so memory stays flat whatever the entry's size.
private final class Compressor: @unchecked Sendable {  // queues are guarded by `state`; the deflate stream is only touched by the worker thread
    private struct State {
        var input: [([UInt8], Bool)] = []
        var output: [[UInt8]] = []
        var done = false
        var failure: String?
        var aborted = false
    }

    private let state = Mutex(State())
    private let inputReady = DispatchSemaphore(value: 0)
    private let outputReady = DispatchSemaphore(value: 0)
    private let inputSpace: DispatchSemaphore
    private(set) var produced = 0
    private let stream: DeflateStream

    init(level: Int32, fast: Bool) throws {
        stream = try DeflateStream(level: level, fast: fast)
        // Start at 0 and signal: a semaphore freed below its start value traps.
        inputSpace = DispatchSemaphore(value: 0)
        for _ in 0..<3 { inputSpace.signal() }
        Thread.detachNewThread { [self] in run() }
    }

    func submit(_ bytes: [UInt8], final: Bool) throws {
        inputSpace.wait()
        state.withLock { $0.input.append((bytes, final)) }
        inputReady.signal()
    }

    /// Ends the thread without finishing the stream (the archive was abandoned).
    func abort() {
        state.withLock { $0.aborted = true }
        inputReady.signal()
    }

    /// The next compressed chunk; nil when none is ready (or, with `wait`, at the end).
    func take(wait: Bool) throws -> [UInt8]? {
        while true {
            enum Next { case chunk([UInt8]), end, none, fail(String) }
            let next: Next = state.withLock { s in
                if let f = s.failure { return .fail(f) }
                if !s.output.isEmpty { return .chunk(s.output.removeFirst()) }
                return s.done ? .end : .none
            }
            switch next {
            case .chunk(let c): produced += c.count; return c
            case .end: return nil
            case .fail(let f): throw PluginError.internalError(f)
            case .none:
                guard wait else { return nil }
                outputReady.wait()
            }
        }
    }

    private func run() {
        var out = [UInt8](repeating: 0, count: 1 << 18)
        while true {
            inputReady.wait()
            guard
                let (chunk, final) = state.withLock({ s -> ([UInt8], Bool)? in
                    s.aborted || s.input.isEmpty ? nil : s.input.removeFirst()
                })
            else { return }
            inputSpace.signal()
            let ok = chunk.withUnsafeBufferPointer { input in
                out.withUnsafeMutableBufferPointer { output in
                    stream.compress(input, final: final, through: output) { piece in
                        state.withLock { $0.output.append(Array(piece)) }
                        outputReady.signal()
                    }
                }
            }
            if !ok {
                state.withLock { $0.failure = "deflate failed" }
                outputReady.signal()
                return
            }
            if final {
                state.withLock { $0.done = true }
                outputReady.signal()
                return
            }
        }
    }
}
