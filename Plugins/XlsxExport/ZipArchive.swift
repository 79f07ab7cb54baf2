import CZlib
import PluginKit

/// Limits that keep a hostile archive from taking the machine: every entry is inflated
/// with a hard cap, and an entry whose declared expansion is implausible is refused
/// before any work.
struct ZipLimits {
    var maxEntryBytes: Int
    var maxRatio: Int
}

/// The central directory of a ZIP archive held in memory, and inflation of its entries.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let data: [UInt8]
    let entries: [String: Entry]

    init(_ data: [UInt8]) throws {
        self.data = data
        entries = try Self.readDirectory(data)
    }

    func has(_ name: String) -> Bool { entries[name] != nil }

    /// The entry's bytes, inflated within `limits`.
    func read(_ name: String, limits: ZipLimits) throws -> [UInt8] {
        guard let e = entries[name] else { throw PluginError.invalidArgument("the file has no \(name): not an .xlsx workbook") }
        guard e.size <= limits.maxEntryBytes else {
            throw PluginError.invalidArgument("\(name) would expand to \(e.size) bytes, more than the limit of \(limits.maxEntryBytes)")
        }
        if e.size > 1 << 20, e.compressedSize > 0, e.size / e.compressedSize > limits.maxRatio {
            throw PluginError.invalidArgument("\(name) expands \(e.size / e.compressedSize) times (a zip bomb?); the limit is \(limits.maxRatio)")
        }
        let start = try dataStart(e)
        guard start <= data.count, e.compressedSize <= data.count - start else {
            throw PluginError.invalidArgument("\(name) is cut short: the file is truncated")
        }
        switch e.method {
        case 0:
            // A stored entry's bytes are its data: the two sizes must agree, or the
            // directory lies about where the entry ends.
            guard e.size == e.compressedSize else {
                throw PluginError.invalidArgument("\(name) is stored with \(e.compressedSize) bytes but declares \(e.size); the file is damaged")
            }
            return Array(data[start..<(start + e.size)])
        case 8:
            if e.size == 0 { return [] }
            return try inflate(name, from: start, count: e.compressedSize, expected: e.size, cap: min(limits.maxEntryBytes, e.size))
        default:
            throw PluginError.invalidArgument("\(name) uses compression method \(e.method); only stored and deflate are supported")
        }
    }

    private func dataStart(_ e: Entry) throws -> Int {
        let p = e.localHeaderOffset
        guard p + 30 <= data.count, u32(p) == 0x0403_4B50 else {
            throw PluginError.invalidArgument("\(e.name): bad local header; the file is damaged")
        }
        return p + 30 + Int(u16(p + 26)) + Int(u16(p + 28))
    }

    /// Raw deflate with a hard output cap: the entry may not grow past what it declared.
    private func inflate(_ name: String, from start: Int, count: Int, expected: Int, cap: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: cap)
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw PluginError.internalError("zlib failed to start")
        }
        defer { inflateEnd(&stream) }
        let status: Int32 = data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + start)
                stream.avail_in = uInt(count)
                stream.next_out = output.baseAddress
                stream.avail_out = uInt(output.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        let produced = Int(stream.total_out)
        switch status {
        case Z_STREAM_END:
            guard produced == expected else {
                throw PluginError.invalidArgument("\(name) inflated to \(produced) bytes but declares \(expected); the file is damaged")
            }
            return out
        case Z_BUF_ERROR, Z_OK:
            throw PluginError.invalidArgument("\(name) expands beyond its declared \(expected) bytes (a zip bomb?)")
        default:
            throw PluginError.invalidArgument("\(name) is not valid deflate data; the file is damaged")
        }
    }

    private static func readDirectory(_ data: [UInt8]) throws -> [String: Entry] {
        let notZip = PluginError.invalidArgument("not an .xlsx file (no ZIP directory found)")
        guard data.count >= 22 else { throw notZip }
        var eocd = -1
        var p = data.count - 22
        let lowest = max(0, data.count - 22 - 65_535)
        while p >= lowest {
            if data[p] == 0x50 && data[p + 1] == 0x4B && data[p + 2] == 0x05 && data[p + 3] == 0x06 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw notZip }
        let reader = ZipArchive.Bytes(data)
        let count = Int(reader.u16(eocd + 10))
        let directoryOffset = Int(reader.u32(eocd + 16))
        guard directoryOffset != 0xFFFF_FFFF, count != 0xFFFF else {
            throw PluginError.invalidArgument("ZIP64 archives are not supported")
        }
        guard count <= 100_000 else { throw PluginError.invalidArgument("the archive has \(count) entries; at most 100000 are read") }
        var entries: [String: Entry] = [:]
        var q = directoryOffset
        for _ in 0..<count {
            guard q + 46 <= data.count, reader.u32(q) == 0x0201_4B50 else {
                throw PluginError.invalidArgument("the ZIP directory is damaged")
            }
            let nameLength = Int(reader.u16(q + 28)), extra = Int(reader.u16(q + 30)), comment = Int(reader.u16(q + 32))
            guard q + 46 + nameLength <= data.count else { throw PluginError.invalidArgument("the ZIP directory is damaged") }
            let name = String(decoding: data[(q + 46)..<(q + 46 + nameLength)], as: UTF8.self)
            entries[name] = Entry(
                name: name, method: reader.u16(q + 10), compressedSize: Int(reader.u32(q + 20)),
                size: Int(reader.u32(q + 24)), localHeaderOffset: Int(reader.u32(q + 42)))
            q += 46 + nameLength + extra + comment
        }
        return entries
    }

    private func u16(_ p: Int) -> UInt16 { Bytes(data).u16(p) }
    private func u32(_ p: Int) -> UInt32 { Bytes(data).u32(p) }

    struct Bytes {
        let data: [UInt8]
        init(_ data: [UInt8]) { self.data = data }
        func u16(_ p: Int) -> UInt16 { UInt16(data[p]) | UInt16(data[p + 1]) << 8 }
        func u32(_ p: Int) -> UInt32 { UInt32(u16(p)) | UInt32(u16(p + 2)) << 16 }
    }
}
