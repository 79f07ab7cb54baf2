import CFastDeflate
import Foundation
import PluginKit
import Synchronization
import Testing

@testable import Host

/// ZipWriter's archives, on both deflate engines (ISA-L and zlib), read back by Python's
/// zipfile, which checks every entry's CRC and size as it inflates.
@Suite struct ZipWriterTests {
    /// Sheet-like text with enough variety to need real Huffman work, several chunks long.
    static let text: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        var out: [UInt8] = []
        out.reserveCapacity(3_500_000)
        var row = 0
        while out.count < 3_400_000 {
            row += 1
            out += Array(
                #"<row><c><v>\#(row * 7)</v></c><c t="inlineStr"><is><t>s\#(UInt32.random(in: 0..<5000, using: &generator))-é</t></is></c></row>"#.utf8)
        }
        return out
    }()

    static func digest(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }

    @Test(arguments: [true, false])
    func everyLevelReadsBackInPythonsZipfile(fast: Bool) throws {
        let path = TestSupport.temporaryDirectory("zip") + "/levels.zip"
        let zip = try ZipWriter(path: path, fastDeflate: fast)
        var expected: [String: Int] = [:]
        for level: Int32 in [0, 1, 2, 3, 6, 9] {
            try zip.beginEntry("level\(level).xml", method: .deflate(level: level))
            // Written in uneven pieces, as the sheet writer flushes.
            var offset = 0, piece = 1
            while offset < Self.text.count {
                let n = min(Self.text.count - offset, piece * 9_973)
                try Self.text[offset..<(offset + n)].withUnsafeBytes { try zip.write($0) }
                offset += n
                piece = piece % 200 + 37
            }
            expected["level\(level).xml"] = Self.text.count
        }
        try zip.beginEntry("empty.xml", method: .deflate(level: 1))
        try zip.beginEntry("stored.txt", method: .stored)
        try zip.write(Array("plain".utf8))
        try zip.finish()

        let script = """
            import sys, zipfile
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None
            for info in z.infolist():
                data = z.read(info)
                print(info.filename, len(data), info.compress_type, info.compress_size)
            """
        let result = try TestSupport.run("/usr/bin/env", ["python3", "-c", script, path])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.map { $0[0] } == ["level0.xml", "level1.xml", "level2.xml", "level3.xml", "level6.xml", "level9.xml", "empty.xml", "stored.txt"])
        for line in lines where line[0].hasPrefix("level") {
            #expect(Int(line[1]) == Self.text.count, "\(line)")
            #expect(line[2] == "8", "\(line)")
            if line[0] != "level0.xml" { #expect(Int(line[3]) ?? .max < Self.text.count / 3, "\(line): barely compressed") }
        }
        #expect(lines.last == ["stored.txt", "5", "0", "5"])
    }

    /// Both engines' entries inflate to the same bytes, and ISA-L is what runs where it is
    /// installed (scripts/test.sh installs it): a silent fall back to zlib would lose the speed.
    @Test func theFastEngineIsUsedWhereInstalledAndAgreesWithZlib() throws {
        let installed =
            FileManager.default.fileExists(atPath: "/usr/include/isa-l/igzip_lib.h")
            && FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libisal.so.2")
        if installed { #expect(gw_fast_deflate_available() == 1) }
        var sizes: [Bool: UInt64] = [:]
        for fast in [true, false] {
            let path = TestSupport.temporaryDirectory("zip") + "/one.zip"
            let zip = try ZipWriter(path: path, fastDeflate: fast)
            try zip.beginEntry("sheet.xml", method: .deflate(level: 1))
            try zip.write(Self.text)
            try zip.finish()
            sizes[fast] = zip.bytesWritten
            let result = try TestSupport.run(
                "/usr/bin/env", ["python3", "-c", "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('sheet.xml'))", path])
            #expect(result.status == 0)
            #expect(Self.digest(Array(result.output.utf8)) == Self.digest(Self.text))
        }
        // The two engines write different streams; equal sizes would mean one engine ran twice.
        if installed { #expect(sizes[true] != sizes[false]) }
    }

    /// Runs deflated apart, on several threads at once, make one entry that inflates to the
    /// bytes in order with the right CRC: on both engines and at every level, runs of uneven
    /// sizes (an empty one among them), with an entry of no runs at all beside.
    @Test(arguments: [true, false])
    func runsDeflatedOnSeveralThreadsMakeOneEntry(fast: Bool) throws {
        let path = TestSupport.temporaryDirectory("zip") + "/runs.zip"
        let archive = try ZipWriter(path: path, fastDeflate: fast)
        let cuts = [0, 1, 70_001, 70_001, 1_100_000, 2_300_000, Self.text.count]
        for level: Int32 in [0, 1, 3, 6] {
            let ranges = zip(cuts, cuts.dropFirst()).map { $0..<$1 }
            let runs = Mutex<[Int: DeflatedRun]>([:])
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: ranges.count) { i in
                do {
                    let run = try Self.text[ranges[i]].withUnsafeBytes { try RunDeflater(level: level, fastDeflate: fast).run($0) }
                    runs.withLock { $0[i] = run }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty)
            try archive.beginEntry("level\(level).xml", method: .deflatedRuns)
            for i in ranges.indices { try archive.write(try #require(runs.withLock { $0[i] })) }
        }
        try archive.beginEntry("none.xml", method: .deflatedRuns)
        try archive.finish()
        let script = """
            import sys, zipfile, hashlib
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None
            for info in z.infolist():
                print(info.filename, len(z.read(info)), hashlib.sha256(z.read(info)).hexdigest())
            """
        let result = try TestSupport.run("/usr/bin/env", ["python3", "-c", script, path])
        #expect(result.status == 0, "\(result.output)")
        let whole = Crypto.hex(Crypto.sha256(Self.text))
        let expected = ["level0.xml", "level1.xml", "level3.xml", "level6.xml"].map { "\($0) \(Self.text.count) \(whole)" }
        #expect(result.output.split(separator: "\n").map(String.init) == expected + ["none.xml 0 \(Crypto.hex(Crypto.sha256([])))"])
    }
}
