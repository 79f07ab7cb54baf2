import Foundation
import Glibc

/// Checks that a file is a whole shared library for this machine before `dlopen` maps it.
///
/// The system loader trusts the file: it maps each loadable segment at the offsets the
/// program headers give, and a segment that reaches past the end of the file is mapped
/// anyway; touching it raises SIGBUS and the process dies. The first 64 KB of a plugin left
/// by an interrupted `cp` killed the gateway at every start. Every header, segment and
/// section extent is checked against the file's length here (with overflow checked), so
/// such a file is refused with its reason and never reaches the loader.
///
/// Hand-written: ELF's headers are a few fixed-size records, and no package this project can
/// use reads them.
enum ELFCheck {
    struct Problem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// e_machine of the architecture this gateway was built for.
    static var hostMachine: UInt16 {
        #if arch(x86_64)
            62  // EM_X86_64
        #elseif arch(arm64)
            183  // EM_AARCH64
        #else
            0
        #endif
    }

    /// Throws a Problem saying what is wrong with the file at `path`.
    static func check(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Problem("cannot be read: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Problem("cannot be read: \(String(cString: strerror(errno)))") }
        try check(size: UInt64(info.st_size)) { offset, count in
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            guard n == count else { throw Problem("cannot be read at offset \(offset)") }
            return bytes
        }
    }

    /// The checks, over a reader of `count` bytes at `offset` of a file of `size` bytes
    /// (the reader is only asked for ranges already checked to lie inside the file).
    static func check(size: UInt64, read: (UInt64, Int) throws -> [UInt8]) throws {
        let headerSize = 64
        guard size >= UInt64(headerSize) else { throw Problem("is not a shared library: \(size) bytes is shorter than an ELF header (truncated?)") }
        let header = try read(0, headerSize)
        guard header[0] == 0x7F, header[1] == UInt8(ascii: "E"), header[2] == UInt8(ascii: "L"), header[3] == UInt8(ascii: "F") else {
            throw Problem("is not a shared library (no ELF header)")
        }
        guard header[4] == 2 else { throw Problem("is a 32-bit ELF file; this gateway loads 64-bit libraries") }
        guard header[5] == 1 else { throw Problem("is a big-endian ELF file; this gateway loads little-endian libraries") }
        let type = u16(header, 16), machine = u16(header, 18)
        guard type == 3 else { throw Problem("is an ELF file but not a shared library (e_type \(type))") }
        guard machine == hostMachine else { throw Problem("is built for another processor (ELF machine \(machine), this gateway runs on \(hostMachine))") }
        let phoff = u64(header, 32), shoff = u64(header, 40)
        let phentsize = Int(u16(header, 54)), phnum = Int(u16(header, 56))
        let shentsize = Int(u16(header, 58)), shnum = Int(u16(header, 60))
        guard phnum > 0 else { throw Problem("has no program headers: nothing the loader could map") }
        guard phentsize == 56 else { throw Problem("has program headers of \(phentsize) bytes, not ELF64's 56") }
        try within(phoff, UInt64(phnum * phentsize), size, "its program headers")
        let programs = try read(phoff, phnum * phentsize)
        for i in 0..<phnum {
            let base = i * phentsize
            let kind = u32(programs, base)
            let offset = u64(programs, base + 8), fileSize = u64(programs, base + 32), memorySize = u64(programs, base + 40)
            try within(offset, fileSize, size, "segment \(i)")
            if kind == 1 && fileSize > memorySize {  // PT_LOAD
                throw Problem("segment \(i) holds more bytes in the file (\(fileSize)) than in memory (\(memorySize)): the file is damaged")
            }
        }
        guard shoff != 0 else { return }
        guard shentsize == 64 else { throw Problem("has section headers of \(shentsize) bytes, not ELF64's 64") }
        try within(shoff, UInt64(shnum * shentsize), size, "its section headers")
        let sections = try read(shoff, shnum * shentsize)
        for i in 0..<shnum {
            let base = i * shentsize
            guard u32(sections, base + 4) != 8 else { continue }  // SHT_NOBITS: no bytes in the file
            try within(u64(sections, base + 24), u64(sections, base + 32), size, "section \(i)")
        }
    }

    private static func within(_ offset: UInt64, _ length: UInt64, _ size: UInt64, _ what: String) throws {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= size else {
            throw Problem(
                "is truncated or damaged: \(what) ends at byte \(overflow ? "past 2^64" : String(end)), but the file has \(size) bytes (an interrupted copy?)")
        }
    }

    private static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }

    private static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
    }

    private static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
    }
}
