import Foundation
import PluginKit
import Testing
@testable import Host

/// The xlsx plugin: workbooks written by openpyxl read back right; hostile files fail with
/// a clear reason and bounded memory.
@Suite struct XlsxReaderTests {
    static func make(_ kind: String) throws -> String {
        let out = TestSupport.temporaryDirectory("xlsx") + "/\(kind).xlsx"
        let result = try TestSupport.run("/usr/bin/env", ["python3", "\(TestSupport.fixtures)/make_xlsx.py", kind, out])
        guard result.status == 0 else { throw InvalidInput("make_xlsx.py \(kind) failed: \(result.output)") }
        return out
    }

    func read(_ file: String, config: String = "{}") throws -> (fields: [ArrowField], rows: [[String]]) {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory])
        let plugin = try #require(gateway.registry.plugin(id: "xlsx"))
        let source = try SourceHandle(
            plugin: plugin, config: config,
            context: InstanceContext(pluginId: plugin.id, instanceName: "t", services: gateway.services))
        let request = String(decoding: try JSONSerialization.data(withJSONObject: ["file": file]), as: UTF8.self)
        let stream = try source.read(requestJSON: request)
        var rows: [[String]] = []
        while let batch = try stream.next() {
            let v = batch.view
            for r in 0..<v.length {
                rows.append(
                    v.columns.map { c in
                        if c.isNull(r) { return "null" }
                        switch c.field.type {
                        case .utf8: return c.string(r)
                        case .int64, .date32, .timestamp: return String(c.int64(r))
                        case .float64: return String(c.double(r))
                        case .bool: return String(c.bool(r))
                        default: return "?"
                        }
                    })
            }
        }
        return (stream.fields, rows)
    }

    @Test func openpyxlWorkbookReadsWithTypedColumns() throws {
        let (fields, rows) = try read(try Self.make("good"))
        #expect(fields.map(\.name) == ["name", "age", "joined", "score", "ok", "when", "note"])
        #expect(fields.map(\.type) == [.utf8, .int64, .date32, .float64, .bool, .timestamp(.micro, timezone: nil), .utf8])
        #expect(
            rows == [
                ["张三", "31", "20455", "9.5", "true", "1767342600000000", "a & b <c>"],
                ["Li", "null", "20487", "7.0", "false", "1770076801000000", "12"],
                ["Zhao", "40", "20516", "-1.25", "true", "null", "null"],
            ])
    }

    @Test(arguments: [
        ("bomb", "xl/worksheets/sheet1.xml expands"),
        ("liar", "xl/worksheets/sheet1.xml expands beyond its declared 100 bytes (a zip bomb?)"),
        ("truncated", "is not well-formed XML"),
        ("doctype", "xl/workbook.xml is not well-formed XML: a DOCTYPE or declaration (not allowed in workbook parts)"),
        ("notzip", "not an .xlsx file (no ZIP directory found)"),
        // Each of these trapped (crashed the gateway) before they were refused.
        ("storedliar", "xl/worksheets/sheet1.xml is stored with 213 bytes but declares 2130; the file is damaged"),
        ("baddate-nan", "row 2: 'nan' is not a number"),
        ("baddate-inf", "row 2: 'inf' is not a number"),
    ])
    func hostileFilesFailClearly(kind: String, message: String) throws {
        let file = try Self.make(kind)
        do {
            _ = try read(file)
            Issue.record("\(kind) was read")
        } catch let e as PluginError {
            #expect(e.status == 1, "\(e)")  // GW_INVALID_ARGUMENT
            #expect(e.message.contains(message), "\(e.message)")
        }
    }

    /// Date-styled numbers outside Excel's calendar (0 to 9999-12-31) are numbers: no
    /// conversion to a date may overflow.
    @Test func dateStyledNumbersOutsideTheCalendarAreNumbers() throws {
        let (fields, rows) = try read(try Self.make("dates"))
        #expect(fields.map(\.type) == [.float64, .utf8])
        #expect(rows == [["200000000.5", "x"], ["-3.5", "1000000000000"]])
    }

    /// A million comments in a row are skipped in a loop: the scanner used to recurse once
    /// per comment and ran out of stack.
    @Test func aMillionCommentsDoNotExhaustTheStack() throws {
        let (fields, rows) = try read(try Self.make("comments"))
        #expect(fields.map(\.name) == ["n"])
        #expect(rows == [["7"]])
    }

    @Test func sharedStringTablesAreCapped() throws {
        let file = try Self.make("strings")
        do {
            _ = try read(file, config: #"{"max_shared_strings_bytes": 100000}"#)
            Issue.record("the shared strings were read")
        } catch let e as PluginError {
            #expect(e.message == "the shared strings exceed 100000 bytes (max_shared_strings_bytes)")
        }
    }

    @Test func xlsxUploadGoesThroughThePushPath() async throws {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.auth.signedKeys = ["xxx": "xxxxxx"]
            config.datasets = [
                "people": DatasetDefinition(table: "people(name text, age integer, joined date, score real, ok bool, when timestamp, note text)")
            ]
        }
        let file = try Self.make("good")
        try await TestServer.with(gateway) { server in
            let base = server.base
            let result = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "\(TestSupport.fixtures)/upload_client.py",
                        "\(base)/etl/api/upload_file_api/", "xxxxxx", "xxx", "people", "file=\(file)",
                    ])
            }
            #expect(result.output.hasPrefix("200 "), "\(result.output)")
            #expect(result.output.contains("imported 3 rows from"))
        }
        let rows = try SQLiteConnection(path: gateway.datasetsPath).query(
            "SELECT name, age, joined, score, ok, \"when\", note FROM people ORDER BY rowid")
        #expect(
            rows == [
                [.text("张三"), .int(31), .text("2026-01-02"), .double(9.5), .int(1), .text("2026-01-02 08:30:00Z"), .text("a & b <c>")],
                [.text("Li"), .null, .text("2026-02-03"), .double(7), .int(0), .text("2026-02-03 00:00:01Z"), .text("12")],
                [.text("Zhao"), .int(40), .text("2026-03-04"), .double(-1.25), .int(1), .null, .null],
            ])
    }
}
