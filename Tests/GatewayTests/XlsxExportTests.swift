import Foundation
import PluginABI
import PluginKit
import Testing
@testable import Host

/// The xlsx exporter's workbooks, opened by readers we did not write.
@Suite struct XlsxExportTests {
    static let checker = "\(TestSupport.fixtures)/check_xlsx.py"

    static func export(_ batches: [BatchBuilder], fields: [ArrowField], config: String = "{}") throws -> [String] {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory])
        let plugin = try #require(gateway.registry.plugin(id: "xlsx"))
        let dir = TestSupport.temporaryDirectory("xlsx-out")
        let exporter = try ExporterHandle(
            plugin: plugin, config: config,
            context: InstanceContext(pluginId: plugin.id, instanceName: "t", services: gateway.services),
            outputDirectory: dir, baseName: "导出")
        try exporter.begin(OwnedSchema(fields: fields))
        for b in batches { try exporter.write(OwnedBatch(exporting: b)) }
        try exporter.finish()
        return exporter.outputFiles()
    }

    @Test func everyABITypeReadsBackInOpenpyxl() throws {
        let files = try Self.export([ConformanceData.batch(rows: 5), ConformanceData.batch(rows: 3)], fields: ConformanceData.fields)
        #expect(files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["导出.xlsx"])
        let kinds = ConformanceData.fields.map(\.type.format).map { $0.hasPrefix("ts") ? "ts" : $0 }
        let result = try TestSupport.run("/usr/bin/env", ["python3", Self.checker, "conformance", files[0], kinds.joined(separator: ";")])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok: 19 columns, 8 rows"))
    }

    @Test func largeExportsContinueInFurtherFiles() throws {
        let fields = [ArrowField("n", .int64), ArrowField("s", .utf8)]
        var batches: [BatchBuilder] = []
        for start in stride(from: 0, to: 23, by: 10) {
            let b = BatchBuilder(fields: fields)
            for i in start..<min(23, start + 10) {
                try b[0].append(int: Int64(i))
                try b[1].append(string: "row \(i) <&>")
            }
            batches.append(b)
        }
        let files = try Self.export(batches, fields: fields, config: #"{"max_rows_per_file": 9}"#)
        #expect(files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["导出-1.xlsx", "导出-2.xlsx", "导出-3.xlsx"])
        let result = try TestSupport.run("/usr/bin/env", ["python3", Self.checker, "rows"] + files)
        #expect(result.status == 0, "\(result.output)")
        let rows = result.output.split(separator: "\n").map(String.init)
        #expect(rows == (0..<23).map { #"[\#($0), "row \#($0) <&>"]"# })
    }

    /// Large batches are rendered and deflated on two threads in ranges of rows, small ones
    /// gathered on one; a file ends mid-batch. Every row comes back once, in order, escaped
    /// text and nulls included, from files Python's zipfile checks and openpyxl reads.
    @Test func largeBatchesOnTwoThreadsKeepEveryRowInOrder() throws {
        let fields = [ArrowField("n", .int64), ArrowField("s", .utf8), ArrowField("d", .float64)]
        var batches: [BatchBuilder] = []
        var expected: [String] = []
        var next = 0
        for size in [20_000, 7, 1, 31_000, 4_100] {
            let b = BatchBuilder(fields: fields)
            for i in next..<(next + size) {
                try b[0].append(int: Int64(i))
                try b[1].append(string: i % 3 == 0 ? " row \(i) <&> " : "行 \(i)")
                if i % 5 == 0 { b[2].appendNull() } else { try b[2].append(double: Double(i) / 4) }
                let d = i % 5 == 0 ? "null" : (i % 4 == 0 ? "\(i / 4)" : "\(Double(i) / 4)")
                expected.append(#"[\#(i), "\#(i % 3 == 0 ? " row \(i) <&> " : "行 \(i)")", \#(d)]"#)
            }
            batches.append(b)
            next += size
        }
        let files = try Self.export(batches, fields: fields, config: #"{"max_rows_per_file": 30001}"#)
        #expect(files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["导出-1.xlsx", "导出-2.xlsx"])
        let zipCheck = try TestSupport.run(
            "/usr/bin/env", ["python3", "-c", "import sys, zipfile; [print(zipfile.ZipFile(f).testzip()) for f in sys.argv[1:]]"] + files)
        #expect(zipCheck.output.split(separator: "\n") == ["None", "None"], "\(zipCheck.output)")
        let result = try TestSupport.run("/usr/bin/env", ["python3", Self.checker, "rows"] + files)
        #expect(result.status == 0, "\(result.output.prefix(500))")
        let rows = result.output.split(separator: "\n").map(String.init)
        #expect(rows.count == expected.count)
        #expect(rows == expected, "first difference: \(zip(rows, expected).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "counts")")
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/soffice")))
    func libreOfficeConvertsItWithoutComplaint() throws {
        let files = try Self.export([ConformanceData.batch(rows: 5)], fields: ConformanceData.fields)
        let result = try TestSupport.run("/usr/bin/env", ["python3", Self.checker, "soffice", files[0]])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 6)
        #expect(lines.last?.contains("值 4") == true)
    }

    /// Numbers are written as text that reads back as the same double: the six-decimal fast
    /// path and Swift's shortest description both, checked bit for bit through openpyxl.
    @Test func everyDoubleReadsBackExactly() throws {
        var values: [Double] = [
            0.1, 0.2, 0.1 + 0.2, 1.0 / 3, -0.000001, 0.0000015, 1e-7, 123_456.789012, -98_765.4321,
            1_250_000.75, 999_999_999.999999, 1e15, 1e15 + 0.5, 4_503_599_627_370_495.5, 9_007_199_254_740_994,
            1e300, -1e-300, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -0.0, 0, 42, -7, 0.125, 2.5e-5,
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            values.append(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator)))
            values.append(Double(Int.random(in: -10_000_000_000...10_000_000_000, using: &generator)) / 1_000_000)
            values.append(Double(Int.random(in: -100_000...100_000, using: &generator)) * 0.01)
        }
        values = values.filter(\.isFinite)
        let fields = [ArrowField("x", .float64)]
        let batch = BatchBuilder(fields: fields)
        for v in values { try batch[0].append(double: v) }
        let files = try Self.export([batch], fields: fields)
        let result = try TestSupport.run("/usr/bin/env", ["python3", Self.checker, "rows"] + files)
        #expect(result.status == 0, "\(result.output)")
        let read = result.output.split(separator: "\n").map { line in
            Double(line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces))
        }
        #expect(read.count == values.count)
        for (written, back) in zip(values, read) where back != written {
            Issue.record("\(written) (bits \(String(written.bitPattern, radix: 16))) read back as \(back.map(String.init(describing:)) ?? "nothing")")
        }
    }
}
