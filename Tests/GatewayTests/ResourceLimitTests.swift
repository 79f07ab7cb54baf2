import Foundation
import Testing
@testable import Host

/// Runaway work, greedy and slow clients: each is bounded, and each bound answers with a
/// clear status instead of hanging the gateway for everyone.
@Suite struct ResourceLimitTests {
    static func gateway(_ configure: (inout GatewayConfig) -> Void = { _ in }) throws -> (Gateway, String) {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.datasets = ["t": DatasetDefinition(table: "t(a integer, b text)")]
            configure(&config)
        }
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        return (gateway, token)
    }

    static let runaway = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) AS n FROM r"

    /// A gateway whose datasource `slow` never answers (a C fixture that sleeps in get_next,
    /// deaf to cancel): queries that hold their slot without burning the CPU the other
    /// suites running beside this one measure time with. Given up on 2 s after their
    /// client leaves.
    static func gatewayWithSlowSource(_ configure: (inout GatewayConfig) -> Void = { _ in }) throws -> (Gateway, String) {
        let dir = TestSupport.temporaryDirectory("slow-source")
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(dir)/slow.so", defines: ["FIXTURE_HANG_IN_NEXT"])
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) { config in
            config.datasources = ["slow": DatasourceDefinition(plugin: "fixture.good", config: .object(["rows": .number(10)]))]
            configure(&config)
        }
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        return (gateway, token)
    }

    static func slowQuery(token: String) -> String { "/api/v1/datasource/slow/query?token=\(token)" }

    static func storeQuery(_ sql: String, token: String) -> String {
        "/api/v1/datasource/store/query?token=\(token)&query=" + (sql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? sql)
    }

    /// Polls `condition` (every 50 ms, up to `seconds`): for events that happen on their own time.
    static func eventually(_ seconds: Double = 60, _ condition: () throws -> Bool) async rethrows -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try condition()
    }

    /// A WITH RECURSIVE without an end ran forever at 100% CPU.
    @Test func aRunawayQueryIsStoppedByItsTimeBudget() async throws {
        let (gateway, token) = try Self.gateway { $0.limits.queryTimeoutSeconds = 1 }
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, Self.storeQuery(Self.runaway, token: token))
            #expect(reply.status == 504)
            #expect(
                (reply.json["error"] as? [String: Any])?["message"] as? String
                    == "the query ran longer than 1 s and was stopped (limits.queryTimeoutSeconds)")
            #expect(await Self.eventually { gateway.limiter.running == 0 })
        }
    }

    /// The same query, its client gone after a moment: the work stops with it.
    @Test func aQueryStopsWhenItsClientHangsUp() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let port = server.port, path = Self.storeQuery(Self.runaway, token: token)
            let client = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "-c",
                        """
                        import socket, sys, time
                        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                        s.sendall(("GET " + sys.argv[2] + " HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n").encode())
                        time.sleep(0.5)
                        s.close()
                        print("closed")
                        """, String(port), path,
                    ])
            }
            #expect(client.output.contains("closed"))
            #expect(await Self.eventually { gateway.limiter.running == 0 }, "the query went on for nobody")
        }
    }

    /// One token's runaway queries filled every worker and hung every query and push. Now a
    /// client runs at most its share; more of its requests wait their turn (a bounded
    /// queue, a bounded wait), and another client's request takes a free slot at once.
    @Test func oneClientCannotTakeEveryWorker() async throws {
        let (gateway, token) = try Self.gatewayWithSlowSource { config in
            config.limits.maxConcurrentPerClient = 2
            config.limits.maxConcurrentRequests = 3
            config.limits.maxQueuedPerClient = 1
            config.limits.queueTimeoutSeconds = 10
            // Far beyond the waits below: the workers must come back because their clients
            // left, not because the budget ran out (a busy CI machine is slow, not broken).
            config.limits.queryTimeoutSeconds = 300
        }
        let (_, other) = try gateway.tokens.create(name: "other", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let path = Self.slowQuery(token: token)
            let slow = (0..<2).map { _ in Task { try await server.request(.GET, path) } }
            #expect(await Self.eventually { gateway.limiter.running == 2 })
            // A third of this client's waits its turn; a fourth finds its queue full.
            let waiting = Task { try await server.request(.GET, Self.storeQuery("SELECT 1 AS one", token: token)) }
            #expect(await Self.eventually { gateway.limiter.waiting == 1 })
            let fourth = try await server.request(.GET, path)
            #expect(fourth.status == 429)
            #expect(fourth.headers.first(name: "retry-after") == "1")
            #expect(
                (fourth.json["error"] as? [String: Any])?["message"] as? String
                    == "2 requests of this client are running and 1 are waiting (limits.maxConcurrentPerClient, limits.maxQueuedPerClient); retry when one has finished"
            )
            // Another token takes the free slot at once, ahead of the waiting request (which
            // is at its client's share).
            let first = try await server.request(.GET, Self.storeQuery("SELECT 1 AS one", token: other))
            #expect(first.text == #"[{"one":1}]"#)
            // The waiting request's wait runs out: 503, with when to try again.
            let waited = try await waiting.value
            #expect(waited.status == 503 && waited.headers.first(name: "retry-after") == "1")
            #expect(
                (waited.json["error"] as? [String: Any])?["message"] as? String
                    == "waited 10 s for one of the gateway's 3 request slots (limits.queueTimeoutSeconds); retry in a moment")
            for task in slow { task.cancel() }
            #expect(await Self.eventually { gateway.limiter.running == 0 })
            let after = try await server.request(.GET, Self.storeQuery("SELECT 1 AS one", token: token))
            #expect(after.text == #"[{"one":1}]"#)
        }
    }

    /// A 900 MB value took the server from 42 MB to 2.6 GB.
    @Test(arguments: [
        "SELECT zeroblob(900000000) AS z", "SELECT hex(zeroblob(10000000)) AS z",
        "SELECT group_concat(hex(zeroblob(1000))) AS z FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000) SELECT i FROM r)",
    ])
    func aHugeValueIsRefusedBeforeItIsBuilt(sql: String) async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, Self.storeQuery(sql, token: token))
            #expect(reply.status == 400)
            #expect(
                (reply.json["error"] as? [String: Any])?["message"] as? String
                    == "the query makes a value larger than 16777216 bytes (limits.maxValueBytes)")
        }
    }

    /// fts3_tokenizer() returns a pointer of the process and takes one back: only the
    /// documented functions are allowed.
    @Test(arguments: [
        "SELECT fts3_tokenizer('simple') AS p", "SELECT load_extension('/tmp/x.so') AS p",
        "SELECT sqlite_compileoption_get(0) AS p",
    ])
    func functionsOutsideTheAllowListAreRefused(sql: String) async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, Self.storeQuery(sql, token: token))
            #expect(reply.status == 400)
            let message = (reply.json["error"] as? [String: Any])?["message"] as? String ?? ""
            #expect(
                message.hasPrefix("the function ") && message.hasSuffix("() is not allowed in queries (see docs/api.md for the functions that are)"),
                "\(message)")
            let allowed = try await server.request(
                .GET, Self.storeQuery("SELECT upper('a') || json_extract('{\"x\":2}', '$.x') || count(*) AS v FROM t", token: token))
            #expect(allowed.text == #"[{"v":"A20"}]"#)
        }
    }

    /// A client that asks for a large result and never reads it: its connection is closed
    /// once the response has stalled for server.writeStallSeconds, and its work ends.
    @Test func aClientThatNeverReadsIsCutOff() async throws {
        let (gateway, token) = try Self.gateway { $0.server.writeStallSeconds = 1 }
        let db = try SQLiteConnection(path: gateway.datasetsPath)
        try db.execute(
            "INSERT INTO t SELECT i, printf('%0500d', i) FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 200000) SELECT i FROM r)"
        )
        try await TestServer.with(gateway) { server in
            let port = server.port
            let path = "/api/v1/dataset/t/query?token=\(token)"
            // The client sleeps 20 s without reading, then leaves: its work must end long before.
            let client = Task {
                try await TestSupport.onThread {
                    try TestSupport.run(
                        "/usr/bin/env",
                        [
                            "python3", "-c",
                            """
                            import socket, sys, time
                            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                            s.sendall(("GET " + sys.argv[2] + " HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n").encode())
                            time.sleep(20)
                            """, String(port), path,
                        ])
                }
            }
            defer { client.cancel() }
            #expect(await Self.eventually { gateway.limiter.running == 1 })
            #expect(await Self.eventually(10) { gateway.limiter.running == 0 }, "the stalled response kept its worker")
        }
    }

    /// Slowloris: a request head sent a byte at a time is cut off at the idle timeout, and
    /// so is a connection that sends nothing.
    @Test func slowAndSilentConnectionsAreClosed() async throws {
        let (gateway, _) = try Self.gateway { $0.server.idleTimeoutSeconds = 1 }
        try await TestServer.with(gateway) { server in
            let port = server.port
            let result = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "-c",
                        """
                        import socket, sys, time
                        port = int(sys.argv[1])
                        silent = socket.create_connection(("127.0.0.1", port))
                        slow = socket.create_connection(("127.0.0.1", port))
                        start = time.time()
                        closed = None
                        for c in b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nX-Pad: " + b"a" * 200:
                            try:
                                slow.send(bytes([c]))
                            except OSError:
                                closed = time.time() - start
                                break
                            time.sleep(0.05)
                            slow.setblocking(False)
                            try:
                                if slow.recv(1) == b"":
                                    closed = time.time() - start
                                    break
                            except BlockingIOError:
                                pass
                            except OSError:  # a reset is a close too
                                closed = time.time() - start
                                break
                            slow.setblocking(True)
                        silent.settimeout(10)
                        try:
                            silent_closed = silent.recv(1) == b""
                        except ConnectionResetError:
                            silent_closed = True
                        print("slow closed" if closed is not None else "slow open", "silent", "closed" if silent_closed else "open")
                        """, String(port),
                    ])
            }
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "slow closed silent closed", "\(result.output)")
            #expect(try await server.request(.GET, "/healthz").status == 200)
        }
    }

    /// With a descriptor limit of 300, 400 idle connections used to exhaust it: the server
    /// stopped answering and NIO's accept loop spun a core. Now connections beyond the cap
    /// wait to be accepted, idle ones are closed, and the gateway answers.
    @Test func idleConnectionsCannotExhaustDescriptors() async throws {
        let gateway = try GatewayProcess(config: ["server": ["idleTimeoutSeconds": 2]]) { _ in
            ["sh", "-c", "ulimit -n 300 && exec \"$0\" \"$@\""]
        }
        defer { gateway.stop() }
        let pid = gateway.process.pid
        let base = gateway.base, port = gateway.port
        let result = try await TestSupport.onThread {
            try TestSupport.run(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    """
                    import socket, sys, time, urllib.request
                    port, pid = int(sys.argv[1]), sys.argv[2]
                    def cpu():
                        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                        return (int(f[11]) + int(f[12])) / 100
                    conns = []
                    for _ in range(400):
                        try:
                            conns.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                        except OSError:
                            break
                    before = cpu()
                    time.sleep(3)
                    spent = cpu() - before
                    t = time.time()
                    body = urllib.request.urlopen(sys.argv[3] + "/healthz", timeout=30).read().decode()
                    print(len(conns), "connections;", "cpu %.2f s in 3 s;" % spent, "healthz after %.1f s:" % (time.time() - t), body[:30])
                    """, String(port), String(pid), base,
                ])
        }
        #expect(result.output.contains(#"healthz after"#) && result.output.contains(#"{"data":{"#), "\(result.output)")
        let cpu = Double(result.output.firstMatch(of: /cpu ([0-9.]+) s/)?.1 ?? "9") ?? 9
        #expect(cpu < 1.0, "the gateway spun while connections waited: \(result.output)")
        #expect(gateway.process.isRunning)
    }

    /// instr, replace and trim ran in time proportional to the product of their arguments'
    /// lengths, and a progress handler cannot stop a single call: one query held a core for
    /// minutes past its time budget. The gateway's own versions are linear.
    @Test func oneLongFunctionCallCannotOutliveTheTimeBudget() async throws {
        let (gateway, token) = try Self.gateway { $0.limits.queryTimeoutSeconds = 10 }
        try await TestServer.with(gateway) { server in
            let sql =
                "SELECT instr(printf('%.*c', 2000000, 'a'), printf('%.*c', 1000000, 'a') || 'b') AS i, "
                + "length(replace(printf('%.*c', 2000000, 'a'), printf('%.*c', 1000000, 'a') || 'b', 'x')) AS r, "
                + "length(trim(printf('%.*c', 2000000, 'a') || 'b', printf('%.*c', 1000000, 'a') || 'c')) AS t"
            // SQLite's own versions finish after minutes, past the budget: a 504.
            let reply = try await server.request(.GET, Self.storeQuery(sql, token: token))
            #expect(reply.text == #"[{"i":0,"r":2000000,"t":1}]"#, "\(reply.text)")
        }
    }

    /// Query connections are reused, and nothing of one query reaches the next: not its
    /// stop condition, not what its authorizer refused.
    @Test func readOnlyConnectionsAreReusedCleanly() throws {
        let (gateway, _) = try Self.gateway()
        let pool = try #require(gateway.datasetTables as? SQLiteDatasetTables).readers
        let stopped = RunControl(timeBudgetSeconds: 0)
        stopped.stop(.cancelled)
        var first: ObjectIdentifier?
        do {
            let db = try ReadOnlySQL.open(pool, control: stopped)
            first = ObjectIdentifier(db)
            let endless = try ReadOnlySQL.prepare(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")
            #expect(throws: SQLiteError.self) { _ = try endless.step() }
            #expect(throws: ReadOnlySQL.Refused.self) { _ = try ReadOnlySQL.prepare(db, "SELECT load_extension('x')") }
        }
        let again = try ReadOnlySQL.open(pool, control: RunControl(timeBudgetSeconds: 60))
        #expect(ObjectIdentifier(again) == first, "the idle connection was not reused")
        let count = try ReadOnlySQL.prepare(again, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) SELECT count(*) FROM n")
        #expect(try count.step() && count.row().first == .int(100_000))
    }

    /// The linear versions answer what SQLite's own do, on ASCII, multi-byte text, blobs,
    /// empty strings and NULLs.
    @Test func linearFunctionsAgreeWithSQLite() throws {
        let (gateway, _) = try Self.gateway()
        let ours = try ReadOnlySQL.connect(gateway.datasetsPath, maxValueBytes: 1 << 20, maxTempBytes: 1 << 30)
        let theirs = try SQLiteConnection(path: ":memory:")
        let texts = ["", " ", "a", "abc", "  abc  ", "价格价格 ok", "xxabcxx", "ab", "b", "价", "é e", "\u{1F600}x\u{1F600}", "aaaa"]
        var calls: [String] = []
        for x in texts {
            let qx = "'\(x)'"
            calls += ["trim(\(qx))", "ltrim(\(qx))", "rtrim(\(qx))", "trim(\(qx), NULL)", "instr(\(qx), NULL)", "replace(\(qx), NULL, 'z')"]
            for y in texts {
                let qy = "'\(y)'"
                calls += [
                    "instr(\(qx), \(qy))", "trim(\(qx), \(qy))", "ltrim(\(qx), \(qy))", "rtrim(\(qx), \(qy))",
                    "replace(\(qx), \(qy), 'Z')", "replace(\(qx), \(qy), '')", "instr(CAST(\(qx) AS BLOB), CAST(\(qy) AS BLOB))",
                    "instr(\(qx), CAST(\(qy) AS BLOB))", "instr(12345, \(qy))",
                ]
            }
        }
        for call in calls {
            let a = try ReadOnlySQL.prepare(ours, "SELECT \(call)").row(stepping: true)
            let b = try theirs.query("SELECT \(call)").first ?? []
            #expect(a == b, "\(call): \(a) vs SQLite's \(b)")
        }
    }
}

private extension SQLiteStatement {
    func row(stepping: Bool) throws -> [SQLValue] {
        guard try step() else { return [] }
        return row()
    }
}
