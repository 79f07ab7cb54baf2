import Foundation
import Glibc

/// The frames between the gateway and a plugin worker (`gateway plugin-worker`), over one
/// Unix stream socket: `[u32 length][u8 kind][u32 id][payload]`, little-endian, `length`
/// counting kind, id and payload. The gateway's calls and the worker's host-service
/// requests share it; a reply carries the id of what it answers.
///
/// Written here: the ABI's C data interface cannot cross processes, and the two ends are
/// this one binary, so a few dozen lines of framing beat a general RPC library. Both ends
/// bound every length they read (a worker may be a crashed or lying plugin's process).
enum WireKind: UInt8 {
    // gateway → worker
    case open = 1, read, next, finish, cancel, close, release
    // either way: the answer to a request
    case ok = 10, failure
    // worker → gateway
    case log = 20, progress, stateGet, stateSet, stateDelete, rejectRow, lock, unlock, pace, bytes
    // gateway → worker, for a sink, format or exporter instance
    case openSink = 40, begin, write, commit, abort, openFormat, openExporter, end, writeError
}

/// The largest frame either end accepts: a batch of a few hundred MB at most.
let maxWireFrame = 1 << 30

/// What a frame's sender refuses to send (the other end would refuse to read it).
struct FrameTooLarge: Error, CustomStringConvertible {
    let bytes: Int
    var description: String { "a message of \(bytes) bytes, more than the \(maxWireFrame) a worker may send at once: read smaller batches" }
}

struct WireWriter {
    private(set) var bytes: [UInt8] = []

    init() {}

    /// A writer that will not reallocate before `capacity` bytes (a batch, sized first).
    init(reserving capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func f64(_ v: Double) { i64(Int64(bitPattern: v.bitPattern)) }
    mutating func blob(_ v: UnsafeRawBufferPointer) {
        u32(UInt32(v.count))
        bytes += v
    }
    mutating func blob(_ v: [UInt8]) { v.withUnsafeBytes { blob($0) } }
    mutating func string(_ v: String) { blob(Array(v.utf8)) }

    /// `count + 1` offsets from `offsets[first]` as a blob, each less the first: a column's
    /// offsets from 0, whatever row the batch started at.
    mutating func rebasedOffsets(_ offsets: UnsafePointer<Int32>?, from first: Int, count: Int) {
        u32(UInt32((count + 1) * 4))
        guard let offsets else {
            bytes.append(contentsOf: repeatElement(0, count: (count + 1) * 4))
            return
        }
        let start = offsets[first], at = bytes.count
        if start == 0 {
            bytes += UnsafeRawBufferPointer(start: offsets + first, count: (count + 1) * 4)
            return
        }
        bytes.append(contentsOf: repeatElement(0, count: (count + 1) * 4))
        bytes.withUnsafeMutableBytes { out in
            for i in 0...count {
                out.storeBytes(of: UInt32(bitPattern: offsets[first + i] &- start).littleEndian, toByteOffset: at + i * 4, as: UInt32.self)
            }
        }
    }
}

/// A frame's payload, read with every length checked against what is left.
struct WireReader {
    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    private let bytes: [UInt8]
    private var at = 0

    /// Reads `bytes` from `start` (a reply's first bytes may have been read already).
    init(_ bytes: [UInt8], from start: Int = 0) {
        self.bytes = bytes
        at = min(max(0, start), bytes.count)
    }

    var isAtEnd: Bool { at == bytes.count }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - at else { throw Malformed(description: "a frame ends before its fields do") }
        defer { at += n }
        return bytes[at..<(at + n)]
    }

    mutating func u8() throws -> UInt8 { try take(1).first ?? 0 }
    mutating func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
    mutating func f64() throws -> Double { Double(bitPattern: UInt64(bitPattern: try i64())) }
    mutating func blob() throws -> ArraySlice<UInt8> { try take(Int(try u32())) }
    mutating func string() throws -> String { String(decoding: try blob(), as: UTF8.self) }
}

/// One end of the socket. Sends are serialized (plugin threads may log while a call runs);
/// receiving is done by one thread at a time. The descriptor is closed once, when the
/// channel is freed: `close()` only shuts the socket down (waking a blocked reader), so its
/// number is never reused while a thread may still read or write it.
///
/// @unchecked Sendable: `fd` is set once; writes happen under `writeLock`.
final class WireChannel: @unchecked Sendable {
    struct Closed: Error {}

    let fd: Int32
    private let writeLock = NSLock()

    init(fd: Int32) { self.fd = fd }

    deinit { Glibc.close(fd) }

    func send(_ kind: WireKind, id: UInt32, _ payload: [UInt8] = []) throws {
        guard payload.count <= maxWireFrame else { throw FrameTooLarge(bytes: payload.count) }
        var header = WireWriter()
        header.u32(UInt32(payload.count + 5))
        header.u8(kind.rawValue)
        header.u32(id)
        try writeLock.withLock {
            try writeAll(header.bytes)
            try writeAll(payload)
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Closed() }
                sent += n
            }
        }
    }

    /// The next frame; nil when the other end closed the socket (or died).
    func receive() throws -> (kind: UInt8, id: UInt32, payload: [UInt8])? {
        guard let header = try readExactly(9, eofAllowed: true) else { return nil }
        var reader = WireReader(header)
        let length = Int(try reader.u32())
        guard length >= 5, length - 5 <= maxWireFrame else { throw WireReader.Malformed(description: "a frame of \(length) bytes") }
        let kind = try reader.u8(), id = try reader.u32()
        guard let payload = try readExactly(length - 5, eofAllowed: false) else { return nil }
        return (kind, id, payload)
    }

    /// Read straight into the array returned, without a copy. Its storage is reserved for
    /// the length announced, but memory is only used as bytes arrive: pages the reads do not
    /// reach are never touched (the length is bounded by `maxWireFrame` before this).
    private func readExactly(_ count: Int, eofAllowed: Bool) throws -> [UInt8]? {
        var ended = false
        let bytes = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = 0
            var filled = 0
            while filled < count {
                let n = Glibc.recv(fd, buffer.baseAddress! + filled, count - filled, 0)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    guard filled == 0 && eofAllowed else { throw Closed() }
                    ended = true
                    return
                }
                filled += n
            }
            initialized = count
        }
        return ended ? nil : bytes
    }

    /// Ends both directions: the other side reads the end, a read here returns it.
    func close() { shutdown(fd, Int32(SHUT_RDWR)) }
}
