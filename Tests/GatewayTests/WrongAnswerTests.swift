import Foundation
import PluginKit
import Testing
@testable import Host

/// Answers that looked right and were not: bad text stored and breaking every later query,
/// filters dropped without a word, numbers changed on the way through.
@Suite struct WrongAnswerTests {
    static func gateway() throws -> (Gateway, String) {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.auth.signedKeys = ["xxx": "xxxxxx"]
            config.datasets = ["people": DatasetDefinition(table: "people(name text, age real, region text)")]
        }
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query", "export"])
        return (gateway, token)
    }

    /// A form-encoded push, `ds` given already percent-encoded (so any bytes can be sent).
    static func push(_ server: TestServer, encodedDS: String) async throws -> TestServer.Reply {
        let stamp = String(Int64(Date().timeIntervalSince1970 * 1000))
        let token = Crypto.hex(Crypto.sha1(Array("xxxxxx\(stamp)xxxpeople".utf8)))
        return try await server.request(.POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                        body: "visitor=xxx&type=people&stamp=\(stamp)&token=\(token)&ds=\(encodedDS)")
    }

    static func encode(_ ds: String) -> String {
        ds.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ds
    }

    /// Invalid UTF-8 was accepted, and every query of the dataset broke from then on.
    @Test func invalidUTF8IsRefusedAndTheDatasetStaysReadable() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            #expect(try await Self.push(server, encodedDS: Self.encode(#"[["name"],["ok"]]"#)).status == 200)
            // %FF%FE inside a JSON string: bytes that are no UTF-8.
            let bad = try await Self.push(server, encodedDS: Self.encode(#"[["name"],["a"#) + "%FF%FE" + Self.encode(#""]]"#))
            #expect(bad.status == 400, "\(bad.text)")
            #expect((bad.json["msg"] as? String)?.hasSuffix("is not valid UTF-8 text") == true, "\(bad.text)")
            let read = try await server.request(.GET, "/api/v1/dataset/people/query?token=\(token)")
            #expect(read.status == 200)
            #expect(read.text == #"[{"name":"ok","age":null,"region":null}]"#)
        }
    }

    /// 1e999 was stored as infinity, which JSON cannot carry back.
    @Test(arguments: [#"[["age"],[1e999]]"#, #"[["age"],[-1e400]]"#, #"[["age"],["1e999"]]"#])
    func nonFiniteNumbersAreRefused(ds: String) async throws {
        let (gateway, _) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await Self.push(server, encodedDS: Self.encode(ds))
            #expect(reply.status == 400, "\(reply.text)")
            let message = reply.json["msg"] as? String ?? ""
            #expect(message.contains("out of the range of a number") || message.contains("is not a number"), "\(message)")
            #expect(try SQLiteConnection(path: gateway.datasetTables.path).query("SELECT count(*) FROM people") == [[.int(0)]])
        }
    }

    /// `%24region=west` (what `requests` sends for `params={'$region': 'west'}`) was ignored
    /// and every row came back; `+` was not read as a space.
    @Test func queryStringsAreDecodedAsClientsEncodeThem() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            #expect(try await Self.push(server, encodedDS: Self.encode(#"[["name","region"],["a","west"],["b","north east"],["c","east"]]"#)).status == 200)
            let base = server.base
            let script = """
                import requests, sys
                r = requests.get(sys.argv[1], params={"$region": "north east", "token": sys.argv[2]})
                print(r.status_code, r.text)
                """
            let viaRequests = try await TestSupport.onThread {
                try TestSupport.run("/usr/bin/env", ["python3", "-c", script, "\(base)/api/v1/dataset/people/query", token])
            }
            #expect(viaRequests.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    == #"200 [{"name":"b","age":null,"region":"north east"}]"#)
            let plus = try await server.request(.GET, "/api/v1/dataset/people/query?%24region=west&token=\(token)")
            #expect(plus.text == #"[{"name":"a","age":null,"region":"west"}]"#)
        }
    }

    /// A parameter the store SQL never names was dropped; now it is a 400.
    @Test func aParameterTheSQLDoesNotNameIsABadRequest() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, "/api/v1/datasource/store/query?query=SELECT+1+AS+x&$regoin=west&token=\(token)")
            #expect(reply.status == 400)
            #expect((reply.json["error"] as? [String: Any])?["message"] as? String == "unknown parameter 'regoin': the query has no :regoin")
        }
    }

    /// 12345678901234567 in an export's parameters reached the crawled API as ...568.
    @Test func exportParametersKeepTheirNumbersExact() async throws {
        try await TestSupport.withHelperServer("page_server.py") { port in
            let (gateway, token) = try Self.gateway()
            try await TestServer.with(gateway) { server in
                let body = #"{"user_id":"1","ext_type":"CSV","source_http":{"url":"http://127.0.0.1:\#(port)/pages","param":{"big":12345678901234567,"tiny":0.1000000000000000055511151231257827,"total":3}}}"#
                let created = try await server.request(.POST, "/v1/export/http", headers: [("Authorization", "Bearer \(token)")], body: body)
                let key = try #require((created.json["data"] as? [String: Any])?["hash_key"] as? String, "\(created.text)")
                let detail = try await ExportTests.waitForEnd(server, key: key, token: token)
                #expect(detail["status"] as? Int == 2, "\(detail)")
                let seen = try TestSupport.run("/usr/bin/env", ["curl", "-s", "http://127.0.0.1:\(port)/seen"]).output
                #expect(seen.contains("big=12345678901234567&"), "\(seen)")
                #expect(seen.contains("tiny=0.1000000000000000055511151231257827&"), "\(seen)")
            }
        }
    }

    /// The hand-written UTF-8 check agrees with the standard library on edge cases and on
    /// 200,000 random byte strings biased towards multi-byte sequences.
    @Test func utf8ValidationAgreesWithTheStandardLibrary() {
        let edges: [[UInt8]] = [[], [0x41], [0xC0, 0x80], [0xC2, 0x80], [0xE0, 0x80, 0x80], [0xE0, 0xA0, 0x80], [0xED, 0xA0, 0x80],
                                [0xED, 0x9F, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
                                [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xE4, 0xB8], Array("价格 ok".utf8)]
        var generator = SystemRandomNumberGenerator()
        let pool: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE4, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        var cases = edges
        for _ in 0..<200_000 {
            cases.append((0..<Int.random(in: 0...12, using: &generator)).map { _ in pool.randomElement(using: &generator)! })
        }
        for bytes in cases {
            let expected = String(validating: bytes, as: UTF8.self) != nil
            guard UTF8Validation.isValid(bytes) == expected else {
                Issue.record("disagrees on \(bytes.map { String($0, radix: 16) })")
                return
            }
        }
    }
}
