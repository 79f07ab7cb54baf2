import AsyncHTTPClient
import Foundation
import NIOCore
import PluginKit
import Testing
@testable import Host
@testable import JushuitanConnector

/// Inputs that once trapped, and so stopped the whole gateway: each must now be a clear
/// refusal, and the server must go on answering.
@Suite struct CrashRegressionTests {
    static func gateway() throws -> Gateway {
        try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.auth.signedKeys = ["xxx": "xxxxxx"]
            config.datasets = [
                "people": DatasetDefinition(table: "people(name text, age integer)"),
                "events": DatasetDefinition(table: "events(name text, ts timestamp)"),
            ]
        }
    }

    /// Stamps at the ends of Int64: `now - stamp` overflowed before the window was checked.
    @Test(arguments: ["-9223372036854775808", "9223372036854775807", "-1"])
    func extremeStampsAreStale(stamp: String) async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let form = "visitor=xxx&type=people&stamp=\(stamp)&token=00&ds=%5B%5B%22name%22%5D%5D"
            let push = try await server.request(.POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: form)
            #expect(push.status == 401)
            #expect(push.json["msg"] as? String == "stamp is more than 300 seconds away from the server's clock; make a new token")
            let upload = try await server.request(
                .POST, "/etl/api/upload_file_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: "visitor=xxx&type=people&stamp=\(stamp)&token=00&filename=x.csv")
            #expect(upload.status == 401)
            #expect(try await server.request(.GET, "/healthz").status == 200)
        }
    }

    /// A STORED workbook part that claims more bytes than it has was sliced past the end of
    /// the file; the upload was kept, so re-processing it by name crashed the server again.
    /// (A failed upload is no longer kept; one left by an older version still is re-read.)
    @Test func aLyingStoredWorkbookIsRefusedAtUploadAndReprocess() async throws {
        let gateway = try Self.gateway()
        let file = try XlsxReaderTests.make("storedliar")
        try await TestServer.with(gateway) { server in
            let base = server.base
            let first = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "\(TestSupport.fixtures)/upload_client.py",
                        "\(base)/etl/api/upload_file_api/", "xxxxxx", "xxx", "people", "file=\(file)",
                    ])
            }
            #expect(first.output.hasPrefix("400 "), "\(first.output)")
            #expect(first.output.contains("is stored with 213 bytes but declares 2130"), "\(first.output)")
            let folder = gateway.uploads.directory + "/people"
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty, "a failed upload was kept")
            try FileManager.default.copyItem(atPath: file, toPath: "\(folder)/20261121T080000Z-liar.xlsx")
            let kept = try FileManager.default.contentsOfDirectory(atPath: folder)
            let again = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "\(TestSupport.fixtures)/upload_client.py",
                        "\(base)/etl/api/upload_file_api/", "xxxxxx", "xxx", "people", "filename=\(kept[0])",
                    ])
            }
            #expect(again.output.hasPrefix("400 "), "\(again.output)")
            #expect(try await server.request(.GET, "/healthz").status == 200)
        }
    }

    /// `\uD800` followed by a non-surrogate escape: `low - 0xDC00` underflowed.
    @Test(arguments: [#"["\uD800\u0041"]"#, #"["\uDBFF\uD800"]"#, #"["\uD800\uFFFF"]"#])
    func loneHighSurrogatesAreRefused(json: String) {
        #expect(throws: OrderedJSON.ParseError.self) { try OrderedJSON.parse(json) }
    }

    /// The same through a client: a raw export whose rows hold such an escape.
    @Test func aRawExportWithALoneSurrogateIsABadRequest() async throws {
        let gateway = try Self.gateway()
        let (_, token) = try gateway.tokens.create(name: "e", scopes: ["export"])
        try await TestServer.with(gateway) { server in
            let body = #"{"user_id":"1","ext_type":"CSV","source_raw":"[{\"a\":\"A\"},{\"a\":\"\\uD800\\u0041\"}]"}"#
            let reply = try await server.request(.POST, "/v1/export/raw", headers: [("Authorization", "Bearer \(token)")], body: body)
            #expect(reply.status == 400, "\(reply.text)")
            #expect((reply.json["msg"] as? String)?.hasPrefix("source_raw is not valid JSON: a high surrogate followed by") == true, "\(reply.text)")
            #expect(try await server.request(.GET, "/healthz").status == 200)
        }
    }

    /// Code 199 matched a `case 199, 200 where retries < 8` that bounded only 200: the
    /// connector retried 199 forever, and `1 << n` went negative after 63 retries.
    @Test(arguments: [199, 200])
    func rateLimitRetriesEnd(code: Int) {
        var retries = 0
        while let wait = OpenPlatform.busyWait(code: code, retriesSoFar: retries), retries < 1_000 {
            #expect(wait > 0 && wait <= 60)
            retries += 1
        }
        #expect(retries == OpenPlatform.busyRetryLimit)
    }

    /// A plugin file overwritten in place (`cp new.so plugins/x.so`) while the gateway runs
    /// code from it: the gateway runs a private copy, so the running code does not change.
    @Test func overwritingAPluginFileInPlaceLeavesRunningCodeAlone() throws {
        let dir = TestSupport.temporaryDirectory("plugins")
        let source = "\(TestSupport.fixtures)/fixture_plugin.c"
        try TestSupport.compilePlugin(source: source, output: "\(dir)/good.so")
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        let plugin = try #require(gateway.registry.plugin(id: "fixture.good"))
        #expect(plugin.loadedFrom.hasPrefix(gateway.dataDirectory + "/plugin-copies/"))
        let context = InstanceContext(pluginId: plugin.id, instanceName: "x", services: gateway.services)
        let stream = try SourceHandle(plugin: plugin, config: #"{"rows": 6}"#, context: context).read(requestJSON: "{}")

        // What `cp` does: the same inode, truncated and rewritten with other code.
        let rebuilt = "\(dir)/rebuilt.tmp"
        try TestSupport.compilePlugin(source: source, output: rebuilt, defines: [#"FIXTURE_VERSION="2.0.0""#, "FIXTURE_PADDING=1"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: rebuilt))
        let handle = try #require(FileHandle(forWritingAtPath: "\(dir)/good.so"))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: bytes)
        try handle.close()

        var rows = 0
        while let batch = try stream.next() { rows += batch.length }
        #expect(rows == 6)
        gateway.registry.scan()
        #expect(gateway.registry.plugin(id: "fixture.good")?.version == "2.0.0")
    }

    static func signedForm(_ type: String, ds: String) -> String {
        let stamp = String(Int64(Date().timeIntervalSince1970 * 1000))
        let token = Crypto.hex(Crypto.sha1(Array("xxxxxx\(stamp)xxx\(type)".utf8)))
        let encoded = ds.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ds
        return "visitor=xxx&type=\(type)&stamp=\(stamp)&token=\(token)&ds=\(encoded)"
    }

    /// "2026-11-21T": a separator and no time; the time's split was indexed while empty.
    @Test(arguments: ["2026-11-21T", "2026-11-21 Z", "2026-11-21T+08:00", "2026-11-21T99999999999:00", "2026-11-21T08:00+9999999999:00"])
    func timestampsWithoutATimeAreRefused(text: String) async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(
                .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Self.signedForm("events", ds: #"[["name","ts"],["a","\#(text)"]]"#))
            #expect(reply.status == 400, "\(reply.text)")
            #expect((reply.json["msg"] as? String)?.hasPrefix("row 1, column 'ts': '\(text)' is not a timestamp") == true, "\(reply.text)")
        }
    }

    /// Stored text that only looks like a timestamp (a UNION arm types a literal as the
    /// TIMESTAMP column it is unioned with): read back, it is an error, never an overflow.
    @Test(arguments: ["2026-01-01T", "300000-1-1", "2026-01-01 99999999999:00", "1970-01-01 00:00:-9223372036854+00:00"])
    func timestampLookalikesInStoredTextAreErrors(text: String) async throws {
        let gateway = try Self.gateway()
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let ok = try await server.request(
                .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Self.signedForm("events", ds: #"[["name","ts"],["a","2026-11-21 08:00:00"]]"#))
            #expect(ok.status == 200, "\(ok.text)")
            let sql = "SELECT ts FROM events WHERE 0 UNION ALL SELECT '\(text)'"
            let reply = try await server.request(
                .POST, "/api/v1/datasource/store/query", headers: [("Authorization", "Bearer \(token)")],
                body: String(decoding: try JSONSerialization.data(withJSONObject: ["Query": sql]), as: UTF8.self))
            #expect(reply.status == 400, "\(reply.text)")
            #expect(try await server.request(.GET, "/healthz").status == 200)
        }
    }

    /// A 20-letter cell reference overflowed the column number before it was bounded.
    @Test func aHugeCellReferenceIsNotAColumnNumber() throws {
        let (fields, rows) = try XlsxReaderTests().read(try XlsxReaderTests.make("longref"))
        #expect(fields.map(\.name) == ["a"])
        #expect(rows == [["x"]])
    }

    /// A parameter given as an empty JSON list was bound as its first value.
    @Test func anEmptyParameterListIsABadRequest() async throws {
        let gateway = try Self.gateway()
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(
                .POST, "/api/v1/datasource/store/query", headers: [("Authorization", "Bearer \(token)")],
                body: #"{"Query":"SELECT :a AS a","DataSourceParameters":{"a":[]}}"#)
            #expect(reply.status == 400)
            #expect(reply.json["error"].flatMap { ($0 as? [String: Any])?["message"] as? String } == "parameter 'a' has no value")
        }
    }

    /// A page API reporting 2^63-1 rows (and no page count): `count + limit - 1` overflowed.
    @Test func aPageCountBeyondMaxPagesFailsTheExport() async throws {
        try await TestSupport.withHelperServer("page_server.py") { port in
            let gateway = try Self.gateway()
            let (_, token) = try gateway.tokens.create(name: "e", scopes: ["export"])
            try await TestServer.with(gateway) { server in
                let created = try await ExportTests.post(
                    server, "/v1/export/http",
                    [
                        "user_id": "1", "ext_type": "CSV", "source_http": ["url": "http://127.0.0.1:\(port)/huge"],
                    ], token: token)
                let key = try #require((created.json["data"] as? [String: Any])?["hash_key"] as? String, "\(created.text)")
                let detail = try await ExportTests.waitForEnd(server, key: key, token: token)
                #expect(detail["status"] as? Int == 3)
                #expect(detail["fail_reason"] as? String == "page 1: the API reports 9223372036854775807 pages, more than max_pages (100000)")
            }
        }
    }

    /// A ZIP holds at most 65535 entries without ZIP64: the count was narrowed with a trap.
    @Test func anArchiveRefusesEntryNumber65536() throws {
        let zip = try ZipWriter(path: TestSupport.temporaryDirectory("zip") + "/many.zip")
        for i in 0..<65_535 { try zip.beginEntry("f\(i)", method: .stored) }
        #expect(throws: PluginError.self) { try zip.beginEntry("one too many", method: .stored) }
        try zip.finish()
    }

    /// Found by Fuzz/FuzzMultipart: a part header name with a byte above 0x7F made
    /// MultipartKit index past its 128-entry table (no credential needed). The gateway now
    /// reads multipart bodies itself.
    @Test func aNonASCIIPartHeaderNameIsNotACrash() async throws {
        let body =
            Array("--b0undary\r\nContent-Disposition: form-data; name=\"visit filename=\"people.csv\"\r\n".utf8)
            + [0xC3] + Array("ontent-Type: text/csv\r\n\r\nname,age\r\nA,1\r\n--b0undary--\r\n".utf8)
        // An odd header line is only a header the reader does not need.
        let reader = MultipartFormReader(boundary: "b0undary", fileStart: { _, _ in }, fileBytes: { _ in }, fileEnd: {})
        try reader.feed(ByteBuffer(bytes: body))
        try reader.finish()
        #expect(reader.fields.count == 1)
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            var request = HTTPClientRequest(url: "\(server.base)/etl/api/upload_file_api/")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=b0undary")
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.status.code == 400)
            #expect(try await server.request(.GET, "/healthz").status == 200)
        }
    }

    /// Multipart bodies split anywhere parse the same; a body cut before its closing
    /// boundary is refused (no half file is imported).
    @Test func multipartBodiesParseWhereverTheyAreSplit() throws {
        let body = Array(
            "preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"visitor\"\r\n\r\nalice\r\n--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nname\r\n--xy\r\nA\r\n--xyz--\r\nepilogue"
                .utf8)
        for split in 0...body.count {
            var file: [UInt8] = []
            var started: [String: String]?
            let reader = MultipartFormReader(
                boundary: "xyz", fileStart: { _, fields in started = fields },
                fileBytes: { file += $0.readableBytesView }, fileEnd: {})
            try reader.feed(ByteBuffer(bytes: body[0..<split]))
            try reader.feed(ByteBuffer(bytes: body[split...]))
            try reader.finish()
            #expect(reader.fields == ["visitor": "alice"], "split \(split)")
            #expect(started == ["visitor": "alice"])
            #expect(String(decoding: file, as: UTF8.self) == "name\r\n--xy\r\nA", "split \(split)")
        }
        let cut = MultipartFormReader(boundary: "xyz", fileStart: { _, _ in }, fileBytes: { _ in }, fileEnd: {})
        try cut.feed(ByteBuffer(bytes: body[0..<120]))
        #expect(throws: GatewayError.self) { try cut.finish() }
    }
}
