import Foundation
import Testing
@testable import Host

/// A query that fails after its first bytes went out: the response stays cut (no client
/// takes it for whole), and the reason reaches the client, not only the server's log.
@Suite struct StreamErrorTests {
    /// Rows of one type, then a value of another after the first batch (65,536 rows) was sent.
    static let failsLate =
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000) SELECT CASE WHEN i < 70000 THEN i ELSE 'x' || i END AS v FROM r"

    @Test func theReasonIsTheLastLineOfACutJSONBody() async throws {
        let (gateway, token) = try ResourceLimitTests.gateway()
        try await TestServer.with(gateway) { server in
            let url = server.base + ResourceLimitTests.storeQuery(Self.failsLate, token: token)
            let curl = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", ["curl", "-sS", "-D", "-", url]) }
            // curl: "transfer closed with outstanding read data remaining" (18): never a whole body.
            #expect(curl.status == 18, "\(curl.output.suffix(300))")
            #expect(curl.output.contains("HTTP/1.1 200") && curl.output.contains(#"[{"v":1},{"v":2}"#))
            let last = curl.output.split(separator: "\n").last { $0.hasPrefix(#"{"error":"#) }.map(String.init) ?? ""
            let error = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any]
            let detail = error?["error"] as? [String: Any]
            #expect(detail?["status"] as? Int == 400, "\(last)")
            let message = detail?["message"] as? String ?? ""
            #expect(message.contains("row 70000, column 'v': 'x70000' is not a int64 value like the rows before it"), "\(last)")
            #expect(error?["request_id"] is String)
            // Python's requests: the read fails (ChunkedEncodingError), so no script takes the rows for all of them.
            let python = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "-c",
                        """
                        import requests, sys
                        try:
                            requests.get(sys.argv[1]).text
                            print("whole")
                        except requests.exceptions.ChunkedEncodingError as e:
                            print("cut")
                        """, url,
                    ])
            }
            #expect(python.output.trimmingCharacters(in: .whitespacesAndNewlines) == "cut", "\(python.output)")
        }
    }

    /// The Arrow format (ABI 1.3's write_error): a last, empty batch whose message metadata
    /// holds the reason, then the cut. pyarrow reads the batches before it, then the reason,
    /// then reports the stream incomplete.
    @Test func anArrowStreamEndsWithItsReasonInMessageMetadata() async throws {
        let (gateway, token) = try ResourceLimitTests.gateway()
        try await TestServer.with(gateway) { server in
            let url = server.base + ResourceLimitTests.storeQuery(Self.failsLate, token: token) + "&format=arrow"
            let read = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "-c",
                        """
                        import http.client, sys, urllib.request, pyarrow as pa
                        try:
                            body = urllib.request.urlopen(sys.argv[1]).read()
                            print("whole")
                        except http.client.IncompleteRead as e:
                            body = e.partial
                        reader = pa.ipc.open_stream(body)
                        rows = 0
                        while True:
                            try:
                                batch, meta = reader.read_next_batch_with_custom_metadata()
                            except StopIteration:
                                print("end of stream")
                                break
                            except pa.ArrowInvalid:
                                print("incomplete")
                                break
                            rows += batch.num_rows
                            if meta is not None and b"gateway.error" in meta:
                                print("rows", rows, "error", meta[b"gateway.error"].decode())
                        """, url,
                    ])
            }
            let lines = read.output.split(separator: "\n").map(String.init)
            #expect(lines.count == 2 && lines[0].hasPrefix("rows 65536 error row 70000, column 'v': 'x70000' is not a int64 value"), "\(read.output)")
            #expect(lines.last == "incomplete" || lines.last == "end of stream", "\(read.output)")
            #expect(!lines.contains("whole"))
        }
    }

    /// A format plugin built for ABI 1.2 (its table ends before write_error) loads and
    /// serves as before; a failure after its first bytes is the cut alone.
    @Test func anABI12FormatKeepsWorking() async throws {
        let dir = TestSupport.temporaryDirectory("abi12-format")
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_ndjson.c", output: "\(dir)/nd.so", defines: ["FIXTURE_ABI_1_2"])
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) { $0.datasets = ["t": DatasetDefinition(table: "t(a integer)")] }
        let plugin = try #require(gateway.registry.plugin(id: "fixture.ndjson"))
        #expect(plugin.abiMinor == 2 && plugin.format?.write_error == nil)
        let token = try gateway.tokens.create(name: "q", scopes: ["query"]).secret
        try await TestServer.with(gateway) { server in
            let ok = try await server.request(.GET, ResourceLimitTests.storeQuery("SELECT 1 AS n UNION ALL SELECT 2", token: token) + "&format=ndjson")
            #expect(ok.status == 200 && ok.text == "{\"n\":1}\n{\"n\":2}\n", "\(ok.text)")
            let url = server.base + ResourceLimitTests.storeQuery(Self.failsLate, token: token) + "&format=ndjson"
            let curl = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", ["curl", "-sS", "-o", "/dev/null", url]) }
            #expect(curl.status == 18, "\(curl.output)")
        }
    }
}
