import Foundation
import NIOHTTP1
import Testing
@testable import Host

/// What schemathesis and a hostile read of the OpenAPI description found: each answer here
/// was a 500, a silent wrong result, or a client-visible difference between two routes that
/// the docs call the same.
@Suite struct APIConformanceTests {
    static func gateway() throws -> (Gateway, String) {
        let gateway = try TestSupport.gateway { config in
            config.auth.signedKeys = ["alice": DatasetPushTests.key]
            config.datasets = [
                "sales": DatasetDefinition(table: "sales(region text, amount real, day date)", keys: ["region", "day"]),
                "销售": DatasetDefinition(table: "cn_sales(region text)"),
            ]
        }
        let (_, token) = try gateway.tokens.create(name: "admin", scopes: ["admin"])
        return (gateway, token)
    }

    static func call(_ server: TestServer, _ method: HTTPMethod, _ path: String, _ token: String, _ body: String? = nil) async throws -> TestServer.Reply {
        try await server.request(method, path, headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: body)
    }

    @Test func badBodiesAndValuesAre400sThatSayWhy() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            // create-script read its body outside the checks every other dataflow route has.
            for body in ["", "nope", "[1]"] {
                let reply = try await Self.call(server, .POST, "/api/data-flow/create-script", token, body)
                #expect(reply.status == 400 && reply.json["code"] as? Int == 400, "\(body): \(reply.text)")
            }
            // A number no reader holds is refused, not bound as NULL.
            let flow = try await Self.call(
                server, .POST, "/api/data-flow/add-dataflow", token,
                #"{"name":"n","description":"d","config":{"source":{"type":"sql","query":"SELECT :x AS n"},"target":{"type":"export","format":"csv"}}}"#)
            let id = try #require((flow.json["data"] as? [String: Any])?["id"] as? Int, "\(flow.text)")
            let huge = try await Self.call(server, .POST, "/api/data-flow/execute-dataflow/\(id)", token, #"{"params":{"x":1e999}}"#)
            #expect(huge.status == 400 && huge.text.contains("out of range"), "\(huge.text)")
            let emptied = try await Self.call(server, .PUT, "/api/data-flow/update-dataflow/\(id)", token, #"{"description":""}"#)
            #expect(emptied.status == 400, "\(emptied.text)")

            // Query bodies: values are scalars; nothing is turned into Swift's debug text.
            for body in [
                #"{"DatasetParameters":{"region":{"a":1}}}"#, #"{"DatasetParameters":{"region":[["x"]]}}"#,
                #"{"Format":{"x":1}}"#, #"{"RowLimit":1e999}"#,
            ] {
                let reply = try await Self.call(server, .POST, "/api/v1/dataset/sales/query", token, body)
                #expect(reply.status == 400, "\(body): \(reply.text)")
            }
            // A raw export row that is not an object is the client's 400, not a failed task.
            let raw = try await ExportTests.post(
                server, "/v1/export/raw", ["ext_type": "csv", "user_id": "u", "source_raw": #"[{"a":"A"},[1]]"#], token: token)
            #expect(raw.status == 400 && raw.text.contains("row 1 is not an object"), "\(raw.text)")
        }
    }

    @Test func storeSQLNeverAnswersWithAGuess() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            func sql(_ query: String) async throws -> TestServer.Reply {
                let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                return try await Self.call(server, .GET, "/api/v1/datasource/store/query?queryType=sql&query=\(encoded)", token)
            }
            // SQLite read a misspelt "column" as the string 'regoin', in every row.
            let misspelt = try await sql(#"select "regoin" from sales"#)
            #expect(misspelt.status == 400 && misspelt.text.contains("no such column"), "\(misspelt.text)")
            #expect(try await sql(#"select "region" from sales"#).status == 200)
            let twice = try await sql("select 1 as a, 2 as a")
            #expect(twice.status == 400 && twice.text.contains("two columns named 'a'"), "\(twice.text)")
            let numbered = try await sql("select ?1 as n")
            #expect(numbered.status == 400 && numbered.text.contains("'?1'"), "\(numbered.text)")
        }
    }

    @Test func aDefinitionMustDescribeTheTableItNames() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let missing = try await Self.call(server, .PUT, "/admin/datasets/s2", token, #"{"table":"sales(region text, colour text)"}"#)
            #expect(missing.status == 400 && missing.text.contains("without a column 'colour'"), "\(missing.text)")
            let retyped = try await Self.call(server, .PUT, "/admin/datasets/s3", token, #"{"table":"sales(region integer)"}"#)
            #expect(retyped.status == 400 && retyped.text.contains("as 'text', not 'INTEGER'"), "\(retyped.text)")
            // A subset of the table's columns, as they are, is a valid view of it.
            #expect(try await Self.call(server, .PUT, "/admin/datasets/s4", token, #"{"table":"sales(region text, day date)"}"#).status == 200)
            #expect(try gateway.datasets.dataset("s2") == nil && gateway.datasets.dataset("s3") == nil)
        }
    }

    @Test func pathSegmentsArePercentDecoded() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await Self.call(server, .GET, "/api/v1/dataset/%E9%94%80%E5%94%AE/query", token)
            #expect(reply.status == 200 && reply.text == "[]", "\(reply.text)")
            let spaced = try await Self.call(server, .PUT, "/admin/datasets/a%20b", token, #"{"table":"ab(x text)"}"#)
            #expect(spaced.status == 400 && spaced.text.contains("'a b'"), "\(spaced.text)")
            #expect(try await Self.call(server, .GET, "/api/data-flow/get-dataflow/%31", token).status == 404)
        }
    }

    /// curl sends the fields in the order given: here `update` after the file, and a file
    /// whose text is not UTF-8.
    @Test func uploadsReadUpdateAfterTheFileAndKeepNothingThatFailed() async throws {
        let (gateway, _) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            // Off the cooperative threads: curl waits for this process's own server.
            func upload(_ text: [UInt8], _ extra: [String]) async throws -> (Int, String) {
                let file = TestSupport.temporaryDirectory("upload") + "/sales.csv"
                try Data(text).write(to: URL(fileURLWithPath: file))
                let stamp = String(Int64(Date().timeIntervalSince1970 * 1000) + DatasetPushTests.sequence.next())
                let token = Crypto.hex(Crypto.sha1(Array("\(DatasetPushTests.key)\(stamp)alicesales".utf8)))
                var args = ["-s", "-w", "\n%{http_code}", "\(server.base)/etl/api/upload_file_api"]
                for field in ["visitor=alice", "type=sales", "stamp=\(stamp)", "token=\(token)", "file=@\(file)"] + extra { args += ["-F", field] }
                let curl = ["curl"] + args
                let result = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", curl) }
                let lines = result.output.split(separator: "\n")
                return (Int(lines.last ?? "") ?? 0, String(lines.first ?? ""))
            }
            let csv = Array("region,amount,day\r\neast,1,2026-01-05\r\n".utf8)
            #expect(try await upload(csv, []).0 == 200)
            let (again, text) = try await upload(Array("region,amount,day\r\neast,2,2026-01-05\r\n".utf8), ["update=1"])
            #expect(again == 200, "\(text)")
            let rows = try SQLiteConnection(path: gateway.datasetsPath).query("SELECT region, amount FROM sales")
            #expect(rows == [[.text("east"), .double(2)]])

            let kept = try FileManager.default.contentsOfDirectory(atPath: "\(gateway.uploads.directory)/sales").count
            let (status, reply) = try await upload(Array("region,amount,day\r\nz".utf8) + [0xFF] + Array(",1,2026-01-06\r\n".utf8), [])
            #expect(status == 400 && reply.contains("UTF-8"), "\(status) \(reply)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(gateway.uploads.directory)/sales").count == kept)
        }
    }
}
