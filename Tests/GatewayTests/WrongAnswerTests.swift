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
        return try await server.request(
            .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
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
            #expect(try SQLiteConnection(path: gateway.datasetsPath).query("SELECT count(*) FROM people") == [[.int(0)]])
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
            #expect(
                viaRequests.output.trimmingCharacters(in: .whitespacesAndNewlines)
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
                let body =
                    #"{"user_id":"1","ext_type":"CSV","source_http":{"url":"http://127.0.0.1:\#(port)/pages","param":{"big":12345678901234567,"tiny":0.1000000000000000055511151231257827,"total":3}}}"#
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
        let edges: [[UInt8]] = [
            [], [0x41], [0xC0, 0x80], [0xC2, 0x80], [0xE0, 0x80, 0x80], [0xE0, 0xA0, 0x80], [0xED, 0xA0, 0x80],
            [0xED, 0x9F, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xE4, 0xB8], Array("价格 ok".utf8),
        ]
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

    /// A text column's values checked in one pass (the whole, then where each value starts)
    /// agree with checking each value on its own, on 100,000 random columns of 0 to 5 values.
    @Test func utf8ColumnValidationAgreesWithValueByValue() {
        var generator = SystemRandomNumberGenerator()
        let pool: [UInt8] = [0x41, 0x80, 0xA0, 0xBF, 0xC3, 0xA9, 0xE4, 0xB8, 0xAD, 0xF0, 0x9F, 0x98, 0x80, 0xED, 0xFF]
        for _ in 0..<100_000 {
            let bytes = (0..<Int.random(in: 0...10, using: &generator)).map { _ in pool.randomElement(using: &generator)! }
            let cuts =
                ([0] + (0..<Int.random(in: 0...4, using: &generator)).map { _ in Int32.random(in: 0...Int32(bytes.count), using: &generator) }).sorted()
                + [Int32(bytes.count)]
            let expected = zip(cuts, cuts.dropFirst()).allSatisfy { String(validating: bytes[Int($0)..<Int($1)], as: UTF8.self) != nil }
            let found = bytes.withUnsafeBytes { data in cuts.withUnsafeBytes { UTF8Validation.isValid(data, cutAt: $0, count: cuts.count) } }
            guard found == expected else {
                Issue.record("disagrees on \(bytes.map { String($0, radix: 16) }) cut at \(cuts)")
                return
            }
        }
        // Offsets it was not promised: false, never a read past them.
        let text = Array("ab".utf8)
        for bad: [Int32] in [[0, -1], [0, 3], [0, Int32.max]] {
            #expect(!text.withUnsafeBytes { data in bad.withUnsafeBytes { UTF8Validation.isValid(data, cutAt: $0, count: 2) } })
        }
        #expect(!text.withUnsafeBytes { data in [Int32(0)].withUnsafeBytes { UTF8Validation.isValid(data, cutAt: $0, count: 2) } })
    }

    static func typedGateway() throws -> (Gateway, String) {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.auth.signedKeys = ["xxx": "xxxxxx"]
            config.limits.maxValueBytes = 4_096
            config.datasets = ["t": DatasetDefinition(table: "t(k text, price decimal, ok bool, ts timestamp, misc, n real)", keys: ["k"])]
            config.queries = ["one": NamedQuery(sql: "SELECT k FROM t WHERE k = :k")]
        }
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        return (gateway, token)
    }

    static func pushT(_ server: TestServer, _ ds: String, update: Bool = false) async throws -> TestServer.Reply {
        let stamp = String(Int64(Date().timeIntervalSince1970 * 1000))
        let token = Crypto.hex(Crypto.sha1(Array("xxxxxx\(stamp)xxxt".utf8)))
        return try await server.request(
            .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: "visitor=xxx&type=t&stamp=\(stamp)&token=\(token)&update=\(update ? 1 : 0)&ds=\(encode(ds))")
    }

    /// Decimal columns had NUMERIC affinity: 12345678901234567.5 came back ...568, and a
    /// 39-digit value was accepted and then broke every query of the dataset.
    @Test func decimalsKeepEveryDigit() async throws {
        let (gateway, token) = try Self.typedGateway()
        try await TestServer.with(gateway) { server in
            let ok = try await Self.pushT(
                server, #"[["k","price"],["a","12345678901234567.5"],["b",123456789.123456789],["c",0.1],["d",1.5e3],["e","99999999999999999999999999.99"]]"#)
            #expect(ok.status == 200, "\(ok.text)")
            let read = try await server.request(.GET, "/api/v1/dataset/t/query?token=\(token)")
            #expect(
                read.text.contains(#""price":12345678901234567.5"#) && read.text.contains(#""price":123456789.123456789"#)
                    && read.text.contains(#""price":0.1"#) && read.text.contains(#""price":1500"#)
                    && read.text.contains(#""price":99999999999999999999999999.99"#), "\(read.text)")
            let tooWide = try await Self.pushT(server, #"[["k","price"],["f","100000000000000000000000000000000000000"]]"#)
            #expect(tooWide.status == 400)
            #expect(
                (tooWide.json["msg"] as? String)?.hasSuffix("has more than 28 digits before the point or 10 after (decimal(38, 10))") == true, "\(tooWide.text)"
            )
            #expect(try await server.request(.GET, "/api/v1/dataset/t/query?token=\(token)").status == 200)
        }
    }

    /// Filters compared text with what pushes stored typed: `$ok=true` matched nothing, and
    /// so did a timestamp written as the API shows it. Timestamps are now stored in UTC.
    @Test func filtersReadTheirValuesAsTheColumnsType() async throws {
        let (gateway, token) = try Self.typedGateway()
        try await TestServer.with(gateway) { server in
            let ok = try await Self.pushT(
                server,
                #"[["k","ok","ts","misc"],["a",true,"2024-01-02 03:04:05+05:00",42],["b",false,"2024-01-01 23:00:00Z","42"],["c",null,"2024-01-01T22:30:00-01:00",7]]"#
            )
            #expect(ok.status == 200, "\(ok.text)")
            func keys(_ filter: String) async throws -> String {
                try await server.request(.GET, "/api/v1/dataset/t/query?token=\(token)&\(filter)").text
            }
            let okTrue = try await keys("$ok=true")
            #expect(okTrue.contains(#""k":"a""#) && !okTrue.contains(#""k":"b""#), "\(okTrue)")
            // 03:04:05+05:00 is 22:04:05 UTC the day before: found as the API shows it.
            let byTime = try await keys("$ts=2024-01-01T22:04:05Z")
            #expect(byTime.contains(#""k":"a""#), "\(byTime)")
            let untyped = try await keys("$misc=42&UnknownTypeHandle=CastToString")
            #expect(untyped.contains(#""k":"a""#) && untyped.contains(#""k":"b""#), "\(untyped)")
            // Sorted as times, not as the texts that were sent.
            let sorted = try await server.request(.GET, "/api/v1/datasource/store/query?token=\(token)&query=SELECT+k+FROM+t+ORDER+BY+ts")
            #expect(sorted.text == #"[{"k":"a"},{"k":"b"},{"k":"c"}]"#, "\(sorted.text)")
            let bad = try await server.request(.GET, "/api/v1/dataset/t/query?token=\(token)&$ok=maybe")
            #expect(bad.status == 400)
            let outOfRange = try await Self.pushT(server, #"[["k","ts"],["z","9999-12-31 23:59:59-14:00"]]"#)
            #expect(outOfRange.status == 400, "\(outOfRange.text)")
        }
    }

    /// Several values of a parameter the query compares to one value were bound as a JSON
    /// array, which matched nothing.
    @Test func severalValuesForOneValueParameterAreABadRequest() async throws {
        let (gateway, token) = try Self.typedGateway()
        try await TestServer.with(gateway) { server in
            let named = try await server.request(.GET, "/api/v1/dataset/one/query?token=\(token)&$k=a&$k=b")
            #expect(named.status == 400)
            #expect(
                (named.json["error"] as? [String: Any])?["message"] as? String
                    == "parameter 'k' takes one value (2 given); a query reads several with json_each(:k)")
            let list = try await server.request(
                .GET, "/api/v1/datasource/store/query?token=\(token)&$k=a&$k=b&query=" + "SELECT+count(*)+AS+n+FROM+json_each(:k)")
            #expect(list.text == #"[{"n":2}]"#)
        }
    }

    /// An untyped column whose first value is a number read "0x10", "nan" and "inf" as 0.
    @Test func textInANumberColumnIsAnErrorNotZero() async throws {
        let (gateway, token) = try Self.typedGateway()
        try await TestServer.with(gateway) { server in
            #expect(try await Self.pushT(server, #"[["k","misc"],["a",1.5],["b","0x10"]]"#).status == 200)
            let reply = try await server.request(.GET, "/api/v1/dataset/t/query?token=\(token)")
            #expect(reply.status == 400, "\(reply.text)")
            #expect(
                (reply.json["error"] as? [String: Any])?["message"] as? String
                    == "row 2, column 'misc': '0x10' is not a float64 value like the rows before it; declare the column's type, or query with UnknownTypeHandle=CastToString"
            )
        }
    }

    /// update=1 with a null key added the row again on every push; a value over
    /// limits.maxValueBytes made every later query fail; `rowid` hid the push order.
    @Test func pushesThatWouldBreakTheDatasetAreRefused() async throws {
        let (gateway, _) = try Self.typedGateway()
        try await TestServer.with(gateway) { server in
            let nullKey = try await Self.pushT(server, #"[["k","n"],[null,1]]"#, update: true)
            #expect(nullKey.status == 400)
            #expect(nullKey.json["msg"] as? String == "row 1, column 'k': a key column cannot be null with update=1")
            let big = try await Self.pushT(server, #"[["k","misc"],["a",""# + String(repeating: "x", count: 5_000) + #""]]"#)
            #expect(big.status == 400)
            #expect(big.json["msg"] as? String == "row 1, column 'misc': the value is larger than 4096 bytes (limits.maxValueBytes)")
        }
        #expect(throws: InvalidInput.self) { try Dataset(id: "r", definition: DatasetDefinition(table: "r(rowid integer, a)")) }
    }
}
