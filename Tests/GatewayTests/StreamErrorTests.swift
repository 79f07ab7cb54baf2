import Foundation
import Testing
@testable import Host

/// A query that fails after its first bytes went out: the response stays cut (no client
/// takes it for whole), and the reason reaches the client, not only the server's log.
@Suite struct StreamErrorTests {
    /// Rows of one type, then a value of another after the first batch (65,536 rows) was sent.
    static let failsLate = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000) SELECT CASE WHEN i < 70000 THEN i ELSE 'x' || i END AS v FROM r"

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
                try TestSupport.run("/usr/bin/env", ["python3", "-c", """
                    import requests, sys
                    try:
                        requests.get(sys.argv[1]).text
                        print("whole")
                    except requests.exceptions.ChunkedEncodingError as e:
                        print("cut")
                    """, url])
            }
            #expect(python.output.trimmingCharacters(in: .whitespacesAndNewlines) == "cut", "\(python.output)")
        }
    }
}
