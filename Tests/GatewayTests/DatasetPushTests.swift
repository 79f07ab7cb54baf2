import Foundation
import Testing
@testable import Host

/// Seed 000 `POST /echart/dataset_api/`: every error comes back with the exact reply, and
/// a failed push leaves the table exactly as it was.
@Suite struct DatasetPushTests {
    static let key = "k3y"

    static func gateway() throws -> Gateway {
        try TestSupport.gateway { config in
            config.auth.signedKeys = ["alice": key, "bob": "bobkey"]
            config.datasets = [
                "123": DatasetDefinition(
                    table: "sales(region text, amount real, units integer, day date, note)",
                    keys: ["region", "day"], visitors: ["alice"]),
                "logs": DatasetDefinition(table: "logs(A, B)", preSql: ["truncate table logs"], postSql: ["insert into logs_copy select * from logs"]),
            ]
        }
    }

    static func form(_ fields: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    /// Each request gets its own stamp: a token is valid once, and two requests signed in
    /// the same millisecond for the same visitor and dataset would carry the same token.
    static let sequence = Counter()
    static func signed(
        type: String, ds: String, visitor: String = "alice", key: String = key, update: String? = nil,
        stamp: Int64 = Int64(Date().timeIntervalSince1970 * 1000) + sequence.next()
    ) -> String {
        var fields = [
            "visitor": visitor, "type": type, "stamp": String(stamp), "ds": ds,
            "token": Crypto.hex(Crypto.sha1(Array("\(key)\(stamp)\(visitor)\(type)".utf8))),
        ]
        if let update { fields["update"] = update }
        return form(fields)
    }

    func push(_ server: TestServer, _ body: String) async throws -> TestServer.Reply {
        try await server.request(.POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: body)
    }

    func rows(_ gateway: Gateway, _ sql: String) throws -> [[SQLValue]] {
        try SQLiteConnection(path: gateway.datasetsPath).query(sql)
    }

    @Test func pushAddsThenUpdatesByKey() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let first = try await push(
                server,
                Self.signed(type: "123", ds: #"[["region","amount","units","day","note"],["东区",10.5,3,"2026-11-01","x"],["west","7",2,"2026/11/02",null]]"#))
            #expect(first.status == 200)
            #expect(first.text == #"{"status":200,"msg":"success"}"#)
            #expect(
                try rows(gateway, "SELECT region, amount, units, day, note FROM sales ORDER BY day") == [
                    [.text("东区"), .double(10.5), .int(3), .text("2026-11-01"), .text("x")],
                    [.text("west"), .double(7), .int(2), .text("2026-11-02"), .null],
                ])
            let update = try await push(
                server, Self.signed(type: "123", ds: #"[["region","day","amount"],["west","2026-11-02",8],["north","2026-11-03",1]]"#, update: "1"))
            #expect(update.status == 200)
            #expect(
                try rows(gateway, "SELECT region, amount, units FROM sales ORDER BY day") == [
                    [.text("东区"), .double(10.5), .int(3)], [.text("west"), .double(8), .int(2)], [.text("north"), .double(1), .null],
                ])
        }
    }

    @Test func everyErrorHasItsExactReplyAndWritesNothing() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            _ = try await push(server, Self.signed(type: "123", ds: #"[["region","day","amount"],["a","2026-01-01",1]]"#))
            let before = try rows(gateway, "SELECT * FROM sales")
            let old = Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000
            let cases: [(String, Int, String)] = [
                (Self.signed(type: "123", ds: "[[\"region\"]]", key: "wrong"), 401, "token does not match SHA1(key + stamp + visitor + type)"),
                (
                    Self.signed(type: "123", ds: "[[\"region\"]]", stamp: old), 401,
                    "stamp is more than 300 seconds away from the server's clock; make a new token"
                ),
                (Self.signed(type: "nope", ds: "[[\"A\"]]"), 404, "unknown dataset 'nope'"),
                (Self.signed(type: "123", ds: "[[\"region\"]]", visitor: "bob", key: "bobkey"), 403, "visitor 'bob' may not write dataset '123'"),
                (
                    Self.signed(type: "123", ds: #"[["region","colour"],["a","red"]]"#), 400,
                    "header column 'colour' is not a column of sales (region, amount, units, day, note)"
                ),
                (Self.signed(type: "123", ds: #"[["region","day"],["b","2026-01-02"],["c"]]"#), 400, "row 2 has 1 cells, the header has 2"),
                (
                    Self.signed(type: "123", ds: #"[["region","day","amount"],["b","2026-01-02",1],["c","2026-01-03","lots"]]"#), 400,
                    "row 2, column 'amount': 'lots' is not a number"
                ),
                (Self.signed(type: "123", ds: #"[["region","day"],["b","2026-02-30"]]"#), 400, "row 1, column 'day': '2026-02-30' is not a date (YYYY-MM-DD)"),
                (
                    Self.signed(type: "123", ds: #"[["region","day"],["z","2026-01-09"],["a","2026-01-01"]]"#), 400,
                    "row 2: duplicate key or constraint violated (UNIQUE constraint failed: sales.region, sales.day)"
                ),
                (Self.signed(type: "123", ds: #"[["region","day"],["b","#), 400, "ds is not a valid 2-D JSON array: ds ends in the middle of row 1"),
                (Self.signed(type: "123", ds: #"[["amount"],[1]]"#, update: "1"), 400, "update=1 needs the key column 'region' in the header"),
                (Self.signed(type: "123", ds: #"[["region"]]"#, update: "2"), 400, "update must be 0 (add rows) or 1 (update rows by key, add the rest)"),
                (Self.form(["visitor": "alice", "type": "123"]), 400, "missing field 'stamp'"),
            ]
            for (body, status, message) in cases {
                let reply = try await push(server, body)
                #expect(reply.status == status, "\(message)")
                #expect(reply.json["status"] as? Int == status)
                #expect(reply.json["msg"] as? String == message)
            }
            #expect(try rows(gateway, "SELECT * FROM sales") == before)
        }
    }

    /// Rows go into the table a block of 32 at a time: a push of 100 rows fills three
    /// blocks and part of a fourth, an error in a block still names its own row, and an
    /// upsert that repeats a key inside one block and across two keeps the last values.
    @Test func rowsInBlocksAreAllWrittenAndAnErrorNamesItsRow() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            func ds(_ rows: [(String, Int)]) -> String {
                #"[["region","day","amount"],"# + rows.map { #"["\#($0.0)","2026-01-01",\#($0.1)]"# }.joined(separator: ",") + "]"
            }
            let hundred = (1...100).map { ("r\($0)", $0) }
            let pushed = try await push(server, Self.signed(type: "123", ds: ds(hundred)))
            #expect(pushed.status == 200)
            #expect(
                try rows(gateway, "SELECT count(*), sum(amount), min(region), max(amount) FROM sales") == [
                    [.int(100), .double(5050), .text("r1"), .double(100)]
                ])

            // Row 70 repeats row 5's key, inside the third block.
            var clash = (1...100).map { ("s\($0)", $0) }
            clash[69] = ("s5", 0)
            let failed = try await push(server, Self.signed(type: "123", ds: ds(clash)))
            #expect(failed.status == 400)
            #expect(failed.json["msg"] as? String == "row 70: duplicate key or constraint violated (UNIQUE constraint failed: sales.region, sales.day)")
            #expect(try rows(gateway, "SELECT count(*) FROM sales") == [[.int(100)]])

            // A key three times: twice in the first block, once in the second.
            var repeats = (1...40).map { ("u\($0)", $0) }
            repeats[2] = ("r7", 1_000)
            repeats[9] = ("r7", 2_000)
            repeats[35] = ("r7", 3_000)
            let upsert = try await push(server, Self.signed(type: "123", ds: ds(repeats), update: "1"))
            #expect(upsert.status == 200)
            #expect(try rows(gateway, "SELECT amount FROM sales WHERE region = 'r7'") == [[.double(3_000)]])
            #expect(try rows(gateway, "SELECT count(*) FROM sales") == [[.int(137)]])
        }
    }

    /// The WAL is copied into the database file beside the writes (WALCheckpointer), not in
    /// the commit: after a push of over 1,000 pages the file grows to hold them, and every
    /// row reads back.
    @Test func aLargePushIsCheckpointedInTheBackground() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let note = String(repeating: "n", count: 1_000)
            let rows = (1...6_000).map { #"["c\#($0)","2026-01-01","\#(note)"]"# }
            let pushed = try await push(server, Self.signed(type: "123", ds: #"[["region","day","note"],"# + rows.joined(separator: ",") + "]"))
            #expect(pushed.status == 200)
            let path = try gateway.datasetsPath
            func fileBytes() -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
            // Nothing else writes: the file reaches 6 MB only by a checkpoint.
            for _ in 0..<200 where fileBytes() < 6_000_000 { try await Task.sleep(for: .milliseconds(50)) }
            #expect(fileBytes() >= 6_000_000)
            #expect(try self.rows(gateway, "SELECT count(*), sum(length(note)) FROM sales") == [[.int(6_000), .int(6_000_000)]])
        }
    }

    @Test func replayIsRefused() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let body = Self.signed(type: "123", ds: #"[["region","day"],["a","2026-01-01"]]"#)
            #expect(try await push(server, body).status == 200)
            let again = try await push(server, body)
            #expect(again.status == 401)
            #expect(again.json["msg"] as? String == "token was already used; make a new one for each request")
        }
    }

    @Test func preSqlRowsAndPostSqlAreOneTransaction() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            // postSql needs logs_copy, which does not exist yet: the push fails after
            // preSql emptied the table and the rows went in, so everything rolls back.
            let seeded = try SQLiteConnection(path: gateway.datasetsPath)
            try seeded.execute("INSERT INTO logs VALUES ('old', 1)")
            let failed = try await push(server, Self.signed(type: "logs", ds: #"[["A","B"],["new",2]]"#))
            #expect(failed.status == 500)
            #expect(failed.json["msg"] as? String == "postSql of dataset 'logs' failed: no such table: logs_copy")
            #expect(try rows(gateway, "SELECT A, B FROM logs") == [[.text("old"), .int(1)]])

            try seeded.execute("CREATE TABLE logs_copy (A, B)")
            let ok = try await push(server, Self.signed(type: "logs", ds: #"[["A","B"],["new",2]]"#))
            #expect(ok.status == 200)
            #expect(try rows(gateway, "SELECT A, B FROM logs") == [[.text("new"), .int(2)]])
            #expect(try rows(gateway, "SELECT A, B FROM logs_copy") == [[.text("new"), .int(2)]])
        }
    }

    @Test func jsonBodyWithARealArrayWorksToo() async throws {
        let gateway = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let stamp = Int64(Date().timeIntervalSince1970 * 1000)
            let token = Crypto.hex(Crypto.sha1(Array("\(Self.key)\(stamp)alicelogs".utf8)))
            try SQLiteConnection(path: gateway.datasetsPath).execute("CREATE TABLE logs_copy (A, B)")
            let body = #"{"visitor":"alice","token":"\#(token)","stamp":\#(stamp),"type":"logs","ds":[["A","B"],["a1","b1"],["a2","b2"]],"update":0}"#
            let reply = try await server.request(.POST, "/echart/dataset_api/", headers: [("Content-Type", "application/json")], body: body)
            #expect(reply.status == 200, "\(reply.text)")
            #expect(try rows(gateway, "SELECT count(*) FROM logs") == [[.int(2)]])
        }
    }

    @Test func theSeedsPythonClientWorksAsWritten() async throws {
        let gateway = try TestSupport.gateway { config in
            config.auth.signedKeys = ["xxx": "xxxxxx"]
            config.datasets = ["123": DatasetDefinition(table: "abc(A, B)")]
        }
        try await TestServer.with(gateway) { server in
            let script = TestSupport.temporaryDirectory("py") + "/client.py"
            // The seed's post_data(), verbatim but for the URL; the seed leaves time and
            // json to the surrounding script.
            try """
            import time, json
            def post_data():
                import requests
                import hashlib
                url='\(server.base)/echart/dataset_api/'
                visitor = 'xxx'
                key = 'xxxxxx'
                chart_type = 123
                ContentType="application/x-www-form-urlencoded"
                stamp = int(time.time() * 1000)
                token = hashlib.sha1(f"{key}{stamp}{visitor}{chart_type}".encode('utf-8')).hexdigest()
                ds= json.dumps([["A", "B"],["a1", "b1"],["a2", "b2"]])
                data={
                "visitor": visitor,
                "token": token,
                "stamp": stamp,
                "type": chart_type,
                "ds": ds
                }
                res = requests.post(url, data=data, headers={'Content-Type': ContentType})
                print(res.json())
            post_data()
            """.write(toFile: script, atomically: true, encoding: .utf8)
            let result = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", ["python3", script]) }
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "{'status': 200, 'msg': 'success'}")
            #expect(try rows(gateway, "SELECT A, B FROM abc") == [[.text("a1"), .text("b1")], [.text("a2"), .text("b2")]])
        }
    }
}

final class Counter: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var value: Int64 = 0
    func next() -> Int64 {
        lock.withLock {
            value += 1; return value
        }
    }
}

@Suite struct DatasetAdminTests {
    @Test func administratorsDefineDatasetsThroughTheAPI() async throws {
        let gateway = try DatasetPushTests.gateway()
        try gateway.ensureAdminToken()
        let admin = try String(contentsOfFile: gateway.adminTokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let auth = [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")]
        try await TestServer.with(gateway) { server in
            let created = try await server.request(
                .PUT, "/admin/datasets/orders", headers: auth,
                body: #"{"table": "orders(id integer, total decimal)", "keys": ["id"]}"#)
            #expect(created.status == 200, "\(created.text)")
            #expect((created.json["data"] as? [String: Any])?["source"] as? String == "admin")
            let bad = try await server.request(.PUT, "/admin/datasets/x", headers: auth, body: #"{"table": "x(a; drop table y)"}"#)
            #expect(bad.status == 400)
            #expect(
                (bad.json["error"] as? [String: Any])?["message"] as? String
                    == "dataset 'x': column 'a; drop table y' must be a name and an optional type")
            let missing = try await server.request(.PUT, "/admin/datasets/y", headers: auth, body: #"{"keys": []}"#)
            #expect((missing.json["error"] as? [String: Any])?["message"] as? String == "missing required field 'table'")
            let configured = try await server.request(.PUT, "/admin/datasets/123", headers: auth, body: #"{"table": "t(a)"}"#)
            #expect(configured.status == 400)
            let list = try await server.request(.GET, "/admin/datasets", headers: auth)
            #expect((list.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["123", "logs", "orders"])
            #expect(try await server.request(.DELETE, "/admin/datasets/orders", headers: auth).status == 200)
            #expect(try await server.request(.DELETE, "/admin/datasets/orders", headers: auth).status == 404)
        }
    }
}

/// Pushes over a megabyte are parsed on a second thread (RowRelay): same rows, same errors.
@Suite struct LargePushTests {
    static func rows(_ n: Int, badAt: Int? = nil, prefix: String = "r") -> String {
        var parts = [#"["region","day","amount","units"]"#]
        for i in 0..<n {
            let amount = i == badAt ? #""lots""# : String(Double(i) * 0.25)
            let day = i % 28 + 1
            parts.append(#"["\#(prefix)\#(i)","2026-01-\#(day < 10 ? "0" : "")\#(day)",\#(amount),\#(i)]"#)
        }
        return "[" + parts.joined(separator: ",") + "]"
    }

    @Test func largePushesWriteEveryRowOrNone() async throws {
        let gateway = try DatasetPushTests.gateway()
        try await TestServer.with(gateway) { server in
            let big = Self.rows(40_000)
            #expect(big.utf8.count > RowRelayThreshold.value)
            let ok = try await server.request(
                .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: DatasetPushTests.signed(type: "123", ds: big))
            #expect(ok.status == 200, "\(ok.text)")
            let db = try SQLiteConnection(path: gateway.datasetsPath)
            #expect(
                try db.query("SELECT count(*), sum(units), min(region), max(amount) FROM sales") == [
                    [.int(40_000), .int(799_980_000), .text("r0"), .double(9999.75)]
                ])

            let failing = try await server.request(
                .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: DatasetPushTests.signed(type: "123", ds: Self.rows(40_000, badAt: 30_001, prefix: "s")))
            #expect(failing.status == 400)
            #expect(failing.json["msg"] as? String == "row 30002, column 'amount': 'lots' is not a number")
            let broken = String(Self.rows(40_000, prefix: "t").dropLast(40))
            let parse = try await server.request(
                .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: DatasetPushTests.signed(type: "123", ds: broken))
            #expect(parse.status == 400)
            #expect((parse.json["msg"] as? String)?.hasPrefix("ds is not a valid 2-D JSON array") == true)
            #expect(try db.query("SELECT count(*) FROM sales") == [[.int(40_000)]])
        }
    }
}

enum RowRelayThreshold { static let value = DatasetPushRoutes.relayThreshold }
