import Foundation
import Testing
@testable import Host

/// The datasets' rows on PostgreSQL (`store.datasets: "postgres"`): pushes through COPY in
/// one transaction with preSql and postSql, reads as a role that can only read them, and
/// two gateways on one database seeing one set of tables.
@Suite struct PostgresDatasetTests {
    static let key = "k3y"

    static func config(url: String, _ configure: (inout GatewayConfig) -> Void = { _ in }) -> GatewayConfig {
        var config = TestSupport.config(dataDir: TestSupport.temporaryDirectory("node"), pluginDirs: ["/nonexistent"])
        config.store.url = url
        config.store.datasets = "postgres"
        config.auth.signedKeys = ["alice": key]
        config.datasets = [
            "123": DatasetDefinition(
                table: "sales(region text, amount real, units integer, day date, note)", keys: ["region", "day"], visitors: ["alice"]),
            "logs": DatasetDefinition(table: "logs(A, B)", preSql: ["truncate table logs"], postSql: ["insert into logs_copy select * from logs"]),
        ]
        config.queries = [
            "by_region": NamedQuery(sql: "SELECT region, sum(units)::bigint AS units FROM sales WHERE region = :region GROUP BY region")
        ]
        configure(&config)
        return config
    }

    /// Runs `sql` as the store's owner, with the datasets' schema first on the search path.
    static func owner(_ gateway: Gateway, _ sql: String) throws {
        guard let tables = gateway.datasetTables as? PostgresDatasetTables else { throw InvalidInput("the datasets are not on PostgreSQL") }
        try tables.owner.withSession { session in
            try session.transaction {
                try session.run("SET LOCAL search_path TO datasets", [])
                try session.run(sql, [])
            }
        }
    }

    func push(_ server: TestServer, type: String, ds: String, update: Bool = false) async throws -> TestServer.Reply {
        try await server.request(
            .POST, "/echart/dataset_api/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: DatasetPushTests.signed(type: type, ds: ds, update: update ? "1" : nil))
    }

    func get(_ server: TestServer, _ path: String, _ token: String) async throws -> TestServer.Reply {
        try await server.request(.GET, path + (path.contains("?") ? "&" : "?") + "token=\(token)")
    }

    func sql(_ server: TestServer, _ query: String, _ token: String, _ options: String = "") async throws -> TestServer.Reply {
        let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return try await get(server, "/api/v1/datasource/store/query?queryType=sql&query=\(encoded)\(options)", token)
    }

    /// A push to one gateway is read on the other; upserts keep the last row of a key;
    /// a refused row, a NUL or a duplicate key leaves the table as it was and names the row.
    @Test func twoGatewaysShareTheDatasets() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let (a, b) = try await TestSupport.onThread { (try Gateway(config: Self.config(url: url)), try Gateway(config: Self.config(url: url))) }
        let token = try b.tokens.create(name: "reader", scopes: ["query"]).secret
        try await TestServer.with(a) { pushed in
            try await TestServer.with(b) { read in
                let first = try await push(
                    pushed, type: "123",
                    ds: #"[["region","amount","units","day","note"],["东区",10.5,3,"2026-11-01","x\ty\\z"],["west","7",2,"2026/11/02",null]]"#)
                #expect(first.status == 200, "\(first.text)")
                let all = try await get(read, "/api/v1/dataset/123/query", token)
                #expect(
                    all.text
                        == #"[{"region":"东区","amount":10.5,"units":3,"day":"2026-11-01","note":"x\ty\\z"},{"region":"west","amount":7,"units":2,"day":"2026-11-02","note":null}]"#,
                    "\(all.text)")

                let upsert = try await push(
                    pushed, type: "123", ds: #"[["region","amount","units","day","note"],["west",8,5,"2026-11-02","y"],["west",9,6,"2026-11-02","z"]]"#,
                    update: true)
                #expect(upsert.status == 200, "\(upsert.text)")
                #expect(
                    try await get(read, "/api/v1/dataset/123/query?$region=west", token).text
                        == #"[{"region":"west","amount":9,"units":6,"day":"2026-11-02","note":"z"}]"#)
                #expect(try await get(read, "/api/v1/dataset/by_region/query?$region=west", token).text == #"[{"region":"west","units":6}]"#)

                let refused: [(String, String)] = [
                    (#"[["region","units","day"],["a",1,"2026-01-01"],["b","x","2026-01-01"]]"#, "row 2, column 'units': 'x' is not an integer"),
                    (#"[["region","note","day"],["a","x\u0000y","2026-01-01"]]"#, "NUL"),
                    (#"[["region","day"],["n","2026-01-01"],["west","2026-11-02"]]"#, "row 2: duplicate key"),
                ]
                for (ds, message) in refused {
                    let reply = try await push(pushed, type: "123", ds: ds)
                    #expect(reply.status == 400 && reply.text.contains(message), "\(ds): \(reply.text)")
                }
                let count = try await sql(read, "select count(*) as n from sales", token)
                #expect(count.text == #"[{"n":2}]"#, "\(count.text)")
            }
        }
        // preSql, the rows and postSql are one transaction: a failing postSql undoes them.
        try await TestSupport.onThread { try Self.owner(a, "INSERT INTO logs VALUES ('old', '1')") }
        try await TestServer.with(a) { server in
            let failed = try await push(server, type: "logs", ds: #"[["A","B"],["new",2]]"#)
            #expect(failed.status == 500 && failed.text.contains("postSql of dataset 'logs' failed"), "\(failed.text)")
            try await TestSupport.onThread { try Self.owner(a, "CREATE TABLE logs_copy (A text, B text)") }
            let ok = try await push(server, type: "logs", ds: #"[["A","B"],["new",2]]"#)
            #expect(ok.status == 200, "\(ok.text)")
            let copied = try await sql(server, "select a, b from logs_copy", token)
            #expect(copied.text == #"[{"a":"new","b":"2"}]"#, "\(copied.text)")
        }
    }

    /// Queries run as the reader role in read-only transactions: no write, no gateway table,
    /// no way back to the owner's role, and statement_timeout holds.
    @Test func queriesCannotWriteNorReachTheGatewaysTables() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        // A budget no ordinary query here comes near on a loaded machine; the sleep goes far past it.
        let gateway = try await TestSupport.onThread { try Gateway(config: Self.config(url: url) { $0.limits.queryTimeoutSeconds = 5 }) }
        let token = try gateway.tokens.create(name: "reader", scopes: ["query"]).secret
        try await TestServer.with(gateway) { server in
            #expect(try await push(server, type: "123", ds: #"[["region","day"],["a","2026-01-01"]]"#).status == 200)
            let owner = try #require(URLComponents(string: url)?.user)
            let refused = [
                "delete from sales", "select 1; delete from sales", "with d as (delete from sales returning *) select * from d",
                "select * from public.api_tokens", "select set_config('role', '\(owner)', false)", "create table t (a int)",
                "select * from sales for update", "select pg_read_file('/etc/passwd')",
            ]
            for bad in refused {
                let reply = try await sql(server, bad, token)
                #expect(reply.status == 400, "\(bad): \(reply.status) \(reply.text)")
            }
            let slow = try await sql(server, "select pg_sleep(30)", token)
            #expect(slow.status == 504, "\(slow.text)")
            // Its slot is free once the closed connection ends the sleep on the server.
            for _ in 0..<600 where gateway.limiter.running > 0 { try await Task.sleep(for: .milliseconds(50)) }
            #expect(gateway.limiter.running == 0)
            #expect(try await sql(server, "select count(*) as n from sales", token).text == #"[{"n":1}]"#)
            // Types with no Arrow equivalent: left out by default, text when asked.
            let uuid = "select gen_random_uuid() as id, 1 as n, '{\"a\": 1}'::jsonb as doc, 'x:y'::text as colons"
            #expect(try await sql(server, uuid, token).text == #"[{"n":1,"colons":"x:y"}]"#)
            let cast = try await sql(server, uuid, token, "&UnknownTypeHandle=CastToString")
            let row = try #require((try JSONSerialization.jsonObject(with: Data(cast.body)) as? [[String: Any]])?.first, "\(cast.text)")
            #expect((row["id"] as? String)?.count == 36 && row["doc"] as? String == #"{"a": 1}"#, "\(row)")
            // Numerics, a sum of bigints (numeric in PostgreSQL) and timestamps, decoded.
            let numbers = try await sql(
                server,
                "select 12.50::numeric(10,2) as d, sum(x) as s, avg(x) as a, timestamp '2026-01-02 03:04:05.25' as t from (values (1::bigint), (2)) v(x)",
                token)
            #expect(numbers.text == #"[{"d":12.5,"s":3,"a":1.5,"t":"2026-01-02T03:04:05.250000Z"}]"#, "\(numbers.text)")
            // Named parameters, a cast and a string holding ':x' side by side.
            let bound = try await sql(server, "select :v::integer + 1 as n, ':x' as s", token, "&$v=41")
            #expect(bound.text == #"[{"n":42,"s":":x"}]"#, "\(bound.text)")
        }
    }

    /// Rows small at first, then large: one read from the server is stopped at its byte budget
    /// (twice the largest row allowed) with a 400 that says so, never held whole; and what a
    /// query's SQL left in its session (an advisory lock) is gone before a write needs it.
    @Test func readsStayBoundedAndLeaveNothingBehind() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let gateway = try await TestSupport.onThread { try Gateway(config: Self.config(url: url) { $0.limits.maxValueBytes = 1 << 20 }) }
        let token = try gateway.tokens.create(name: "reader", scopes: ["query"]).secret
        try await TestServer.with(gateway) { server in
            let growing = "select case when i > 100 then repeat('x', 1000000) end as v from generate_series(1, 3000) i"
            let reply = try await sql(server, growing, token)
            #expect(reply.status == 400 && reply.text.contains("outgrew 8 MB in one read"), "\(reply.status) \(reply.text.prefix(300))")
            // A session-level advisory lock taken by a query does not outlive it.
            _ = try await sql(server, "select pg_advisory_lock(hashtext('gateway.datasets.sales')) is not null as took", token)
            let push = try await push(server, type: "123", ds: #"[["region","day"],["a","2026-01-01"]]"#)
            #expect(push.status == 200, "\(push.text)")
        }
    }

    /// A reader role the administrator made (administration.md's statements, as written
    /// there but for the names) is the one queries run as; the gateway makes none.
    @Test func aReaderRoleTheAdministratorMadeIsUsed() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let parts = try #require(URLComponents(string: url))
        let owner = try #require(parts.user), database = String(parts.path.dropFirst())
        let role = "reader_" + UUID().uuidString.prefix(8).lowercased()
        let statements = """
            CREATE SCHEMA IF NOT EXISTS datasets AUTHORIZATION \(owner);
            CREATE ROLE \(role) LOGIN PASSWORD 'secret';
            GRANT CONNECT ON DATABASE \(database) TO \(role);
            GRANT USAGE ON SCHEMA datasets TO \(role);
            GRANT SELECT ON ALL TABLES IN SCHEMA datasets TO \(role);
            ALTER DEFAULT PRIVILEGES FOR ROLE \(owner) IN SCHEMA datasets GRANT SELECT ON TABLES TO \(role);
            """
        let made = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", ["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", statements]) }
        #expect(made.status == 0, "\(made.output)")
        var reader = parts
        reader.user = role
        reader.password = "secret"
        let readerUrl = try #require(reader.string)
        let gateway = try await TestSupport.onThread { try Gateway(config: Self.config(url: url) { $0.store.readerUrl = readerUrl }) }
        let token = try gateway.tokens.create(name: "reader", scopes: ["query"]).secret
        try await TestServer.with(gateway) { server in
            #expect(try await push(server, type: "123", ds: #"[["region","day"],["a","2026-01-01"]]"#).status == 200)
            let who = try await sql(server, "select current_user as u, count(*) as n from sales", token)
            #expect(who.text == #"[{"u":"\#(role)","n":1}]"#, "\(who.text)")
        }
        let made2 = try await TestSupport.onThread {
            try TestSupport.run("/usr/bin/env", ["psql", url, "-qAtc", "SELECT count(*) FROM pg_roles WHERE rolname = '\(database)_reader'"])
        }
        #expect(made2.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the gateway made a role of its own: \(made2.output)")
    }

    /// A dataflow copying one dataset into another runs in the database (one INSERT …
    /// SELECT); one from SQL runs through the pump into the table.
    @Test func dataflowsWriteIntoDatasetsOnPostgres() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let gateway = try await TestSupport.onThread {
            try Gateway(
                config: Self.config(url: url) { config in
                    config.dataflows.requireToken = false
                    config.datasets["copy"] = DatasetDefinition(table: "sales_copy(region text, amount real, units integer, day date, note)")
                })
        }
        try await TestServer.with(gateway) { server in
            let rows = (1...500).map { #"["r\#($0)",\#($0).5,\#($0),"2026-01-\#(String(format: "%02d", $0 % 28 + 1))","n\#($0)"]"# }
            #expect(try await push(server, type: "123", ds: #"[["region","amount","units","day","note"],"# + rows.joined(separator: ",") + "]").status == 200)
            let copy = try await DataflowTests.runToEnd(
                server, name: "copy", config: ["source": ["type": "dataset", "id": "123"], "target": ["type": "dataset", "id": "copy", "mode": "replace"]])
            #expect(copy.ended["status"] as? String == "completed" && copy.ended["rows_written"] as? Int == 500, "\(copy.ended)")
            let fromSQL = try await DataflowTests.runToEnd(
                server, name: "sql",
                config: [
                    "source": ["type": "sql", "query": "select region, amount * 2 as amount, units, day, note from sales where units <= 10"],
                    "target": ["type": "dataset", "id": "copy", "mode": "append"],
                ])
            #expect(fromSQL.ended["status"] as? String == "completed" && fromSQL.ended["rows_written"] as? Int == 10, "\(fromSQL.ended)")
            let token = try gateway.tokens.create(name: "reader", scopes: ["query"]).secret
            let summary = try await sql(server, "select count(*) as n, sum(units) as u from sales_copy", token)
            #expect(summary.text == #"[{"n":510,"u":125305}]"#, "\(summary.text)")
        }
    }

    /// The seed's data models, checked from outside by the same Python script as on SQLite:
    /// the model's month is PostgreSQL's to_char, everything else is the same definition.
    @Test func dataModelsAnswerWhatPythonComputes() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        var model = DataModelTests.salesModel()
        model.dimensions["month"] = .init(sql: "to_char(orders.day, 'YYYY-MM')", type: .text)
        let sales = model
        let gateway = try await TestSupport.onThread {
            var config = DataModelTests.config(dataDir: TestSupport.temporaryDirectory("node"))
            config.store.url = url
            config.store.datasets = "postgres"
            config.datamodels["sales"] = sales
            return try Gateway(config: config)
        }
        let admin = try gateway.tokens.create(name: "admin", scopes: ["admin"]).secret
        let narrow = try gateway.tokens.create(name: "narrow", scopes: ["query:dataset/orders"]).secret
        try await TestServer.with(gateway) { server in
            let result = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env", ["python3", "\(TestSupport.fixtures)/datamodel_check.py", server.base, admin, narrow, DataModelTests.key, "postgres"])
            }
            #expect(result.status == 0 && result.output.hasSuffix("ok\n"), "\(result.output)")
        }
    }
}

/// The numbering of a client's SQL for PostgreSQL: parameters outside literals, comments and
/// quoted names only; casts stay casts; a name keeps its number.
@Suite struct PostgresParameterTests {
    @Test func parametersAreNumberedOutsideLiteralsOnly() {
        let sql = #"SELECT :a, :b::int, ':c', "x:y", $$ :d $$, $t$ ? $t$, E'\':e', -- :f"# + "\n" + "/* :g /* :h */ */ ? FROM t WHERE x = :a AND y = ?1"
        let numbered = PostgresParameters.number(sql)
        #expect(numbered.names == ["a", "b", nil, nil])
        #expect(
            numbered.sql == #"SELECT $1, $2::int, ':c', "x:y", $$ :d $$, $t$ ? $t$, E'\':e', -- :f"# + "\n"
                + "/* :g /* :h */ */ $3 FROM t WHERE x = $1 AND y = $4 1")
        // An unclosed literal or comment runs to the end; nothing in it is a parameter.
        #expect(PostgresParameters.number("select ':a").names.isEmpty)
        #expect(PostgresParameters.number("select /* :a").names.isEmpty)
        #expect(PostgresParameters.number("select $tag$ :a").names.isEmpty)
        // A dollar sign inside a name, and a parameter, are not dollar quotes.
        #expect(PostgresParameters.number("select a$b$ :x, $1").names == ["x"])
    }

    /// The fuzzer's invariants over its whole corpus (the crashes it found are in it): a name
    /// keeps one number, and numbering the numbered SQL again finds no `:name`.
    @Test func theFuzzCorpusKeepsItsInvariants() throws {
        let folder = TestSupport.packageRoot.appendingPathComponent("Fuzz/Corpus/FuzzPostgresParameters").path
        let files = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(files.count >= 5)
        var inputs = try files.map { name in String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name)")), as: UTF8.self) }
        // And 200,000 short strings of the characters that change how SQL is read, from a
        // fixed seed: the fuzzer's search, small and repeatable.
        let alphabet = Array(":$'E e1?-/*\"\\\nx_(".unicodeScalars).map(Character.init)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200_000 {
            var text = ""
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            for _ in 0..<Int(seed >> 59) + 1 {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                text.append(alphabet[Int(seed >> 33) % alphabet.count])
            }
            inputs.append(text)
        }
        var failures: [String] = []
        for sql in inputs {
            let numbered = PostgresParameters.number(sql)
            let named = numbered.names.compactMap { $0 }
            let again = PostgresParameters.number(numbered.sql)
            if Set(named).count != named.count || !again.names.allSatisfy({ $0 == nil }) { failures.append(sql) }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5).map { $0.debugDescription })")
    }

    /// Found by FuzzPostgresParameters: in `:E'\':t'` the E is the parameter's name, so what
    /// PostgreSQL reads after `$1` is a standard string (`'\'`), and `:t` is outside it. It
    /// was taken for an escape string, leaving `:t` unnumbered; numbering again found it.
    @Test func anEBelongingToANameDoesNotOpenAnEscapeString() {
        let numbered = PostgresParameters.number(#"SELECT :E'\':t'y, :y"#)
        #expect(numbered.names == ["E", "t"])
        #expect(numbered.sql == #"SELECT $1'\'$2'y, :y"#)
        #expect(PostgresParameters.number(numbered.sql).names.allSatisfy { $0 == nil })
        // A placeholder never joins what stands before it (found by FuzzPostgresParameters:
        // `$:d` became `$$1`, which opened a dollar quote).
        let dollar = PostgresParameters.number("SELECT $:d, :e $$ :f $$")
        #expect(dollar.sql == "SELECT $ $1, $2 $$ :f $$" && dollar.names == ["d", "e"])
        #expect(PostgresParameters.number(dollar.sql).names.isEmpty)
        #expect(PostgresParameters.number("SELECT a:b").sql == "SELECT a $1")
        // A standalone E (after a space or a parameter's space) still opens one.
        #expect(PostgresParameters.number(#"SELECT E'\':t', ?E'\':u'"#).names == [nil])
    }
}

/// PostgreSQL's binary numeric, as the reads decode it: base-10,000 digits with a weight.
@Suite struct PostgresBinaryValueTests {
    static func numeric(_ weight: Int16, _ sign: UInt16, _ scale: Int16, _ digits: [Int16]) -> [UInt8] {
        var bytes: [UInt8] = []
        for v in [UInt16(digits.count), UInt16(bitPattern: weight), sign, UInt16(scale)] + digits.map({ UInt16(bitPattern: $0) }) {
            bytes += [UInt8(v >> 8), UInt8(v & 0xFF)]
        }
        return bytes
    }

    @Test(arguments: [
        (Int16(0), UInt16(0), Int16(2), [Int16(12), 5000], "12.50"),
        (-1, 0x4000, 4, [1], "-0.0001"),
        (2, 0, 1, [1, 2345, 6789, 5000], "123456789.5"),
        (0, 0, 0, [], "0"),
        (1, 0, 0, [7], "70000"),
    ])
    func numericsReadAsDecimalText(_ weight: Int16, _ sign: UInt16, _ scale: Int16, _ digits: [Int16], _ text: String) {
        let bytes = Self.numeric(weight, sign, scale, digits)
        #expect(bytes.withUnsafeBytes { PostgresBinaryValues.numericText($0) } == text)
    }

    @Test func longFractionsRoundToTheDecimalScale() {
        #expect(PostgresBinaryValues.rounded("1.5000000000000000", scale: 10) == "1.5000000000")
        #expect(PostgresBinaryValues.rounded("-0.33333333336", scale: 10) == "-0.3333333334")
        #expect(PostgresBinaryValues.rounded("9.99999999995", scale: 10) == "10.0000000000")
        #expect(PostgresBinaryValues.rounded("12.5", scale: 10) == "12.5")
    }

    @Test func malformedValuesAreRefusedNotRead() {
        // NaN, a digit count past the bytes, a record whose field length runs past its end.
        #expect(Self.numeric(0, 0xC000, 0, []).withUnsafeBytes { PostgresBinaryValues.numericText($0) } == nil)
        // Digits outside 0…9999 (found by FuzzPostgresValues: a negative one put a '-' inside
        // the text, and rounding it then read past its digits).
        #expect(Self.numeric(0, 0, 2, [-5, 12]).withUnsafeBytes { PostgresBinaryValues.numericText($0) } == nil)
        #expect(Self.numeric(0, 0, 0, [10_000]).withUnsafeBytes { PostgresBinaryValues.numericText($0) } == nil)
        #expect(PostgresBinaryValues.rounded("1-5.123456789012", scale: 10) == "1-5.123456789012")
        #expect(([0, 5, 0, 0, 0, 0, 0, 0] as [UInt8]).withUnsafeBytes { PostgresBinaryValues.numericText($0) } == nil)
        var fields: [(type: UInt32, bytes: UnsafeRawBufferPointer?)] = []
        let record: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 25, 0x7F, 0xFF, 0xFF, 0xFF, 65]
        #expect(record.withUnsafeBytes { PostgresBinaryValues.fields($0, expected: 1, into: &fields) } == false)
        let good: [UInt8] = [0, 0, 0, 2, 0, 0, 0, 25, 0, 0, 0, 1, 65, 0, 0, 0, 20, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(good.withUnsafeBytes { PostgresBinaryValues.fields($0, expected: 2, into: &fields) } == true)
        #expect(fields.count == 2 && fields[0].bytes?.count == 1 && fields[1].bytes == nil)
    }
}
