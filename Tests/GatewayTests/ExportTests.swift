import Foundation
import Testing
@testable import Host

/// Seed 002's export service over real HTTP.
@Suite struct ExportTests {
    static func gateway(_ configure: (inout GatewayConfig) -> Void = { _ in }) throws -> (Gateway, String) {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.exports.callbackBackoffMs = 20
            configure(&config)
        }
        let (_, token) = try gateway.tokens.create(name: "exporter", scopes: ["export"])
        return (gateway, token)
    }

    static func post(_ server: TestServer, _ path: String, _ body: [String: Any], token: String) async throws -> TestServer.Reply {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        return try await server.request(.POST, path, headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: json)
    }

    /// Downloads a finished export's zip with the owner's token and lists each file in it:
    /// its name and Python's repr of its UTF-8 text, one line each (read by Python's zipfile).
    static func downloadedFiles(_ server: TestServer, key: String, token: String) async throws -> String {
        let zip = try await server.request(.GET, "/v1/down/\(key).zip", headers: [("Authorization", "Bearer \(token)")])
        let path = TestSupport.temporaryDirectory("download") + "/x.zip"
        try Data(zip.body).write(to: URL(fileURLWithPath: path))
        return try TestSupport.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); [print(n, repr(z.read(n).decode())) for n in z.namelist()]", path,
            ]
        ).output
    }

    /// Polls detail until the task leaves "processing".
    static func waitForEnd(_ server: TestServer, key: String, token: String) async throws -> [String: Any] {
        for _ in 0..<600 {
            let reply = try await server.request(.GET, "/v1/export/detail?key=\(key)", headers: [("Authorization", "Bearer \(token)")])
            let data = try #require(reply.json["data"] as? [String: Any])
            if data["status"] as? Int != 1 { return data }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw InvalidInput("task \(key) never ended")
    }

    @Test func demoPageFollowsTheSeed() async throws {
        let (gateway, _) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, "/demo/page?page=3&limit=200")
            #expect(reply.json["errcode"] as? Int == 0)
            #expect(reply.text.contains(#""data":[{"ID":"编号","Name":"姓名","Age":"年龄"},{"ID":400,"Name":"Demo","Age":15}"#))
            let data = try #require(reply.json["data"] as? [String: Any])
            #expect((data["data"] as? [Any])?.count == 101)  // header + the last, partial page
            #expect(
                reply.text.hasSuffix(
                    #""pagetag":{"page":3,"limit":200,"total":500,"total_page":3}},"request_id":"\#(reply.headers.first(name: "x-request-id") ?? "")"}"#))
            let tag = try #require(data["pagetag"] as? [String: Int])
            #expect(tag == ["page": 3, "limit": 200, "total": 500, "total_page": 3])
            #expect(try await server.request(.GET, "/demo/page?limit=0").status == 400)
        }
    }

    @Test func rawExportToXLSXDetailHistoryDownload() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let sourceRaw = #"[{"name":"姓名","age":"年龄"},{"name":"李雷","age":17},{"name":"韩梅梅","age":16}]"#
            let body: [String: Any] = [
                "timestamp": 1625106207, "ext_type": "XLSX", "title": "请求直接携带数据导出", "user_id": "1231",
                "callback": "", "source_raw": sourceRaw,
            ]
            let created = try await Self.post(server, "/v1/export/raw", body, token: token)
            #expect(created.status == 200, "\(created.text)")
            #expect(created.json["errcode"] as? Int == 0)
            let key = try #require((created.json["data"] as? [String: Any])?["hash_key"] as? String)
            #expect(key.count == 32)
            // The same request again: the same task.
            let again = try await Self.post(server, "/v1/export/raw", body, token: token)
            #expect((again.json["data"] as? [String: Any])?["hash_key"] as? String == key)

            let detail = try await Self.waitForEnd(server, key: key, token: token)
            #expect(detail["status"] as? Int == 2, "\(detail)")
            #expect(detail["source_type"] as? String == "raw")
            #expect(detail["fail_reason"] as? String == "")
            let downURL = try #require(detail["down_url"] as? String)
            // A signed link: it works without a token, and only as given.
            #expect(downURL.hasPrefix("\(server.base)/v1/down/\(key).zip?expires="))
            #expect(try await server.request(.GET, "/v1/down/\(key).zip").status == 403)

            let download = try await server.request(.GET, String(downURL.dropFirst(server.base.count)))
            #expect(download.status == 200)
            #expect(download.headers.first(name: "content-type") == "application/zip")
            #expect(download.headers.first(name: "content-disposition")?.contains("filename*=UTF-8''%E8%AF%B7") == true)
            let zipPath = TestSupport.temporaryDirectory("dl") + "/x.zip"
            try Data(download.body).write(to: URL(fileURLWithPath: zipPath))
            let check = try TestSupport.run(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    """
                    import zipfile, io, openpyxl, sys
                    z = zipfile.ZipFile(sys.argv[1])
                    names = z.namelist()
                    ws = openpyxl.load_workbook(io.BytesIO(z.read(names[0]))).active
                    print(names, list(ws.iter_rows(values_only=True)))
                    """, zipPath,
                ])
            #expect(
                check.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    == "['请求直接携带数据导出.xlsx'] [('姓名', '年龄'), ('李雷', 17), ('韩梅梅', 16)]", "\(check.output)")

            let history = try await server.request(.GET, "/v1/export/history?uid=1231", headers: [("Authorization", "Bearer \(token)")])
            let rows = try #require(history.json["data"] as? [[String: Any]])
            #expect(rows.map { $0["hash_key"] as? String } == [key])
            #expect(rows[0]["down_url"] == nil)
        }
    }

    @Test func csvExportAndRequestErrors() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let created = try await Self.post(
                server, "/v1/export/raw",
                [
                    "ext_type": "csv", "title": "a/b", "user_id": "u", "source_raw": #"[{"k":"Key","v":"Value"},{"k":"x,y","v":1.5},{"k":"q\"q"}]"#,
                ], token: token)
            let key = try #require((created.json["data"] as? [String: Any])?["hash_key"] as? String)
            let done = try await Self.waitForEnd(server, key: key, token: token)
            #expect(done["status"] as? Int == 2)
            // The owner's token downloads too, without the signed link.
            let download = try await server.request(.GET, "/v1/down/\(key).zip", headers: [("Authorization", "Bearer \(token)")])
            let zipPath = TestSupport.temporaryDirectory("dl") + "/x.zip"
            try Data(download.body).write(to: URL(fileURLWithPath: zipPath))
            let check = try TestSupport.run(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); n=z.namelist()[0]; print(n); print(repr(z.read(n).decode('utf-8-sig')))", zipPath,
                ])
            #expect(check.output == "a_b.csv\n'Key,Value\\r\\n\"x,y\",1.5\\r\\n\"q\"\"q\",\\r\\n'\n", "\(check.output)")

            let cases: [([String: Any], Int, String)] = [
                (["user_id": "u", "source_raw": "[1,2"], 400, "source_raw is not valid JSON: unexpected end in an array at byte 4"),
                (["user_id": "u", "source_raw": "[]"], 400, "source_raw must be a JSON array whose first element is the header"),
                (["user_id": "u", "ext_type": "PDF", "source_raw": #"[{"a":"A"}]"#], 400, "ext_type 'PDF' is not available (use one of CSV, XLSX)"),
                (["source_raw": #"[{"a":"A"}]"#], 400, "missing field 'user_id'"),
                (
                    ["user_id": "u", "callback": "http://example.com/hook", "source_raw": #"[{"a":"A"}]"#], 400,
                    "callback: host 'example.com' is not in the allow-list (http.allowHosts / GATEWAY_HTTP_ALLOW_HOSTS)"
                ),
                (["user_id": "u"], 400, "missing required field 'source_raw'"),
            ]
            for (body, status, message) in cases {
                let reply = try await Self.post(server, "/v1/export/raw", body, token: token)
                #expect(reply.status == status, "\(message)")
                #expect(reply.json["errcode"] as? Int == status)
                #expect(reply.json["msg"] as? String == message)
                #expect(reply.json["data"] is NSNull)
                #expect((reply.json["request_id"] as? String)?.isEmpty == false)
            }
            #expect(try await server.request(.POST, "/v1/export/raw", body: "{}").status == 401)
            let traversal = try await server.request(.GET, "/v1/down/..%2F..%2Fgateway.sqlite")
            #expect(traversal.status == 404)
            // The first 1,000 rows set the types; row 1,001 does not fit.
            let numbers = (1...1000).map { #"{"n":\#($0)}"# }.joined(separator: ",")
            let mixed = try await Self.post(
                server, "/v1/export/raw",
                [
                    "user_id": "u", "source_raw": #"[{"n":"N"},\#(numbers),{"n":"one"}]"#,
                ], token: token)
            let failedKey = try #require((mixed.json["data"] as? [String: Any])?["hash_key"] as? String)
            let failed = try await Self.waitForEnd(server, key: failedKey, token: token)
            #expect(failed["status"] as? Int == 3)
            #expect(failed["fail_reason"] as? String == "source_raw row 1001: column 'N' has the text 'one' where the first rows had whole numbers")
        }
    }

    /// Any export token could read other users' task keys through history and detail, and
    /// the key alone downloaded the file. Tasks now belong to the token that made them.
    @Test func tasksBelongToTheTokenThatMadeThem() async throws {
        let (gateway, alice) = try Self.gateway()
        let (_, bob) = try gateway.tokens.create(name: "bob", scopes: ["export"])
        let (_, admin) = try gateway.tokens.create(name: "ops", scopes: ["admin"])
        try await TestServer.with(gateway) { server in
            let created = try await Self.post(
                server, "/v1/export/raw",
                [
                    "ext_type": "CSV", "title": "private", "user_id": "1231", "source_raw": #"[{"a":"A"},{"a":"secret row"}]"#,
                ], token: alice)
            let key = try #require((created.json["data"] as? [String: Any])?["hash_key"] as? String)
            let detail = try await Self.waitForEnd(server, key: key, token: alice)
            let link = try #require(detail["down_url"] as? String)
            func get(_ path: String, _ token: String) async throws -> TestServer.Reply {
                try await server.request(.GET, path, headers: [("Authorization", "Bearer \(token)")])
            }
            // Bob sees nothing of it, whatever he tries.
            #expect(try await get("/v1/export/detail?key=\(key)", bob).status == 404)
            #expect(try await get("/v1/export/cancel?key=\(key)", bob).status == 404)
            #expect((try await get("/v1/export/history?user_id=1231", bob).json["data"] as? [Any])?.isEmpty == true)
            #expect(try await get("/v1/down/\(key).zip", bob).status == 404)
            #expect(try await server.request(.GET, "/v1/down/\(key).zip").status == 403)
            // The same request from Bob is a task of his own, not Alice's key.
            let his = try await Self.post(
                server, "/v1/export/raw",
                [
                    "ext_type": "CSV", "title": "private", "user_id": "1231", "source_raw": #"[{"a":"A"},{"a":"secret row"}]"#,
                ], token: bob)
            #expect((his.json["data"] as? [String: Any])?["hash_key"] as? String != key)
            // Alice, the signed link, and an admin do.
            #expect(try await get("/v1/export/detail?key=\(key)", alice).status == 200)
            #expect(try await server.request(.GET, String(link.dropFirst(server.base.count))).status == 200)
            #expect(try await get("/v1/down/\(key).zip", admin).status == 200)
            #expect((try await get("/v1/export/history?user_id=1231", admin).json["data"] as? [Any])?.count == 2)
            // A forged or stretched link is refused.
            let forged = link.replacingOccurrences(of: "expires=", with: "expires=9")
            #expect(try await server.request(.GET, String(forged.dropFirst(server.base.count))).status == 403)
        }
    }

    /// The upstream Authorization of an HTTP export was kept in clear in the store.
    @Test func upstreamSecretsStayOutOfTheStore() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let created = try await Self.post(
                server, "/v1/export/http",
                [
                    "user_id": "u", "ext_type": "CSV",
                    "source_http": ["url": "\(server.base)/demo/page", "header": ["Authorization": "Bearer upstream-s3cret"], "param": ["limit": 100]],
                ], token: token)
            let key = try #require((created.json["data"] as? [String: Any])?["hash_key"] as? String, "\(created.text)")
            #expect(try await Self.waitForEnd(server, key: key, token: token)["status"] as? Int == 2)
        }
        for file in ["gateway.sqlite", "gateway.sqlite-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: "\(gateway.dataDirectory)/\(file)"))) ?? Data()
            #expect(bytes.range(of: Data("upstream-s3cret".utf8)) == nil, "\(file) holds the secret")
        }
    }
}
