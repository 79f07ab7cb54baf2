import Foundation
import Testing

@testable import Host

/// The repositories' contract, run against both stores: the SQLite file and a PostgreSQL
/// database (a private server, see TestPostgres). Store calls block their thread, so each
/// test runs its body on a thread of its own, never on the cooperative pool.
@Suite struct StoreContractTests {
    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    static func open(_ kind: Kind, clock: any GatewayClock = SystemClock()) throws -> SQLStore {
        switch kind {
        case .sqlite:
            return SQLStore(database: try SQLiteDatabase(path: TestSupport.temporaryDirectory("store") + "/gateway.sqlite"), clock: clock)
        case .postgres:
            var config = GatewayConfig.defaults.store
            config.url = try TestPostgres.freshDatabase()
            return SQLStore(database: try PostgresDatabase(try StoreLocation(config)), clock: clock)
        }
    }

    /// Opens a store of `kind` and runs `body` with it on a thread of its own.
    static func with(_ kind: Kind, _ body: @escaping @Sendable (SQLStore) throws -> Void) async throws {
        try await TestSupport.onThread {
            let store = try open(kind)
            try body(store)
        }
    }

    @Test(arguments: Kind.allCases) func tokensAndSignedTokenReplays(_ kind: Kind) async throws {
        try await Self.with(kind) { store in
            let hash = Array(repeating: UInt8(0xAB), count: 32) + [0, 0xFF]
            let token = ApiToken(id: "tok_1", name: "ci", scopes: ["query", "admin"], createdAt: Date(timeIntervalSince1970: 1_700_000_000), revokedAt: nil)
            try store.insertToken(token, hash: hash)
            let found = try #require(try store.token(hash: hash))
            #expect(found.token == token && found.hash == hash)
            #expect(try store.token(hash: [1, 2, 3]) == nil)
            #expect(try store.tokens().map(\.id) == ["tok_1"])
            #expect(try store.revokeToken(id: "tok_1", at: Date(timeIntervalSince1970: 1_700_000_100)))
            #expect(try !store.revokeToken(id: "tok_1", at: Date()), "revoked once only")
            #expect(try store.token(hash: hash)?.token.revokedAt == Date(timeIntervalSince1970: 1_700_000_100))
            // A signed token is accepted once until it expires; expired ones are forgotten.
            #expect(try store.recordSignedToken(hash: [7], expiresAtMillis: 2_000, nowMillis: 1_000))
            #expect(try !store.recordSignedToken(hash: [7], expiresAtMillis: 2_000, nowMillis: 1_500), "a replay")
            #expect(try store.recordSignedToken(hash: [7], expiresAtMillis: 4_000, nowMillis: 3_000), "forgotten after expiry")
        }
    }

    @Test(arguments: Kind.allCases) func definitionsAndPluginState(_ kind: Kind) async throws {
        try await Self.with(kind) { store in
            try store.saveDefinition(.dataset, id: "sales", json: #"{"a":1}"#)
            try store.saveDefinition(.dataset, id: "sales", json: #"{"a":2}"#)
            try store.saveDefinition(.datamodel, id: "sales", json: #"{"m":1}"#)
            #expect(try store.definition(.dataset, id: "sales") == #"{"a":2}"#)
            #expect(try store.definitions(.datamodel).map(\.json) == [#"{"m":1}"#])
            #expect(try store.deleteDefinition(.dataset, id: "sales"))
            #expect(try !store.deleteDefinition(.dataset, id: "sales"))
            #expect(try store.definition(.dataset, id: "sales") == nil)

            let bytes: [UInt8] = [0, 1, 0xFF, 0x27, 0x5C]
            try store.setPluginState(plugin: "p", instance: "i", key: "k", value: bytes)
            #expect(try store.pluginState(plugin: "p", instance: "i", key: "k") == bytes)
            try store.setPluginState(plugin: "p", instance: "i", key: "k", value: [])
            #expect(try store.pluginState(plugin: "p", instance: "i", key: "k") == [])
            #expect(try store.pluginState(plugin: "p", instance: "other", key: "k") == nil)
            #expect(try store.deletePluginState(plugin: "p", instance: "i", key: "k"))
            #expect(try !store.deletePluginState(plugin: "p", instance: "i", key: "k"))
        }
    }

    @Test(arguments: Kind.allCases) func exportTasks(_ kind: Kind) async throws {
        try await Self.with(kind) { store in
            func insert(_ key: String, user: String, owner: String = "") throws -> ExportTask {
                try store.insertTask(
                    hashKey: key, requestHash: "req-\(user)", owner: owner, userId: user, title: "t", extType: "xlsx",
                    sourceType: "http", request: "{}", callback: "")
            }
            let a = try insert("a", user: "u1", owner: "tok_1")
            let b = try insert("b", user: "u2")
            #expect(a.status == .processing && a.progressTotal == -1 && a.owner == "tok_1")
            #expect(try store.task(hashKey: "b") == b)
            #expect(try store.task(requestHash: "req-u1")?.hashKey == "a")
            #expect(try store.tasks(userId: "u1", since: .distantPast, owner: nil).map(\.hashKey) == ["a"])
            #expect(try store.tasks(userId: nil, since: .distantPast, owner: "tok_1").map(\.hashKey) == ["a"])
            #expect(try Set(store.ownUnfinishedTasks().map(\.hashKey)) == ["a", "b"])
            try store.updateProgress(taskId: a.id, attempt: 1, done: 5, total: 10)
            #expect(try store.task(hashKey: "a")?.progressDone == 5)
            #expect(try store.finishTask(id: a.id, status: .success, file: "a.xlsx"))
            #expect(try !store.finishTask(id: a.id, status: .failed, failReason: "late"), "a task ends once")
            try store.updateProgress(taskId: a.id, attempt: 1, done: 9, total: 10)
            let ended = try #require(try store.task(hashKey: "a"))
            #expect(ended.status == .success && ended.file == "a.xlsx" && ended.progressDone == 5 && ended.finishedAt != nil)
            for line in ["one", "two", "three"] { try store.logTask(id: b.id, line) }
            #expect(try store.taskLogs(id: b.id) == ["one", "two", "three"])
            try store.deleteTask(id: b.id)
            #expect(try store.task(hashKey: "b") == nil)
            #expect(try store.taskLogs(id: b.id).isEmpty)
        }
    }

    @Test(arguments: Kind.allCases) func dataflowsTagsAndLinks(_ kind: Kind) async throws {
        try await Self.with(kind) { store in
            func flow(_ name: String, children: [Int64] = []) throws -> Dataflow {
                try store.insertDataflow(
                    NewFlow(name: name, description: "d \(name)", status: "active", createdBy: "me", config: "{}", childrenIds: children),
                    enNameBase: "flow")
            }
            let leaf = try flow("leaf")
            let top = try flow("top", children: [leaf.id])
            #expect(leaf.enName == "flow" && top.enName == "flow_2")
            #expect(try store.children(of: top.id) == [DataflowRef(id: leaf.id, name: "leaf")])
            #expect(try store.parents(of: leaf.id) == [DataflowRef(id: top.id, name: "top")])
            #expect(throws: FlowInputError.self) { try store.updateDataflow(id: leaf.id, FlowChanges(childrenIds: [top.id])) }
            let tag = try store.createTag(name: "nightly")
            #expect(try store.createTag(name: "nightly") == tag, "a tag's name is its identity")
            let updated = try #require(try store.updateDataflow(id: leaf.id, FlowChanges(name: "leaf2", tagId: tag.id)))
            _ = try store.updateDataflow(id: leaf.id, FlowChanges(tagId: tag.id))
            #expect(try updated.name == "leaf2" && store.tags(of: leaf.id) == [tag])
            #expect(try store.activeConfig(id: leaf.id)?.revision == 2)
            #expect(try store.updateDataflow(id: 999_999, FlowChanges(name: "x")) == nil)
            let (page, total) = try store.dataflows(page: 1, pageSize: 1, search: "leaf")
            #expect(total == 1 && page.map(\.id) == [leaf.id])
            #expect(try store.dataflows(page: 1, pageSize: 10, search: "%").total == 0, "LIKE's wildcards are escaped")
            #expect(try store.deleteDataflow(id: top.id))
            #expect(try store.parents(of: leaf.id).isEmpty)
        }
    }

    @Test(arguments: Kind.allCases) func runsAndLogs(_ kind: Kind) async throws {
        try await Self.with(kind) { store in
            let flow = try store.insertDataflow(
                NewFlow(name: "f", description: "", status: "active", createdBy: "", config: "{}", childrenIds: []), enNameBase: "f")
            let at = Date(timeIntervalSince1970: 1_700_000_000)
            let run = try store.insertRun(flow: flow.id, trigger: "manual", params: "{}", now: at)
            #expect(run.status == .pending && run.executionId == "exec_\(flow.id)_1700000000")
            #expect(throws: RunConflict.self) { try store.insertRun(flow: flow.id, trigger: "manual", params: "{}", now: at) }
            #expect(throws: RunConflict.self) { try store.deleteDataflow(id: flow.id) }
            // A scheduled time runs once, even after its run ended.
            let tick = at.addingTimeInterval(300)
            let scheduledFlow = try store.insertDataflow(
                NewFlow(name: "s", description: "", status: "active", createdBy: "", config: "{}", childrenIds: []), enNameBase: "s")
            let ticked = try store.insertRun(flow: scheduledFlow.id, trigger: "schedule", params: "{}", now: tick, scheduledFor: tick)
            _ = try store.finishRun(run: ticked.id, status: .completed)
            #expect(throws: TickTaken.self) { try store.insertRun(flow: scheduledFlow.id, trigger: "schedule", params: "{}", now: tick, scheduledFor: tick) }
            _ = try store.insertRun(flow: scheduledFlow.id, trigger: "schedule", params: "{}", now: tick, scheduledFor: tick.addingTimeInterval(300))
            try store.markRunning(run: run.id)
            try store.updateRunProgress(run: run.id, attempt: 1, progress: 50, rowsRead: 10, rowsWritten: 8)
            try store.logFlow(flow.id, run: run.id, .info, component: "pump", "started")
            try store.logFlow(flow.id, run: nil, .error, component: "schedule", "oops")
            #expect(try store.finishRun(run: run.id, status: .completed, rowsRejected: 2, at: at.addingTimeInterval(5)))
            #expect(try !store.finishRun(run: run.id, status: .failed), "a run ends once")
            let ended = try #require(try store.run(executionId: run.executionId))
            #expect(ended.status == .completed && ended.rowsRead == 10 && ended.rowsWritten == 8 && ended.rowsRejected == 2)
            #expect(ended.errorMessage == nil && ended.completedAt == at.addingTimeInterval(5))
            let second = try store.insertRun(flow: flow.id, trigger: "schedule", params: "{}", now: at)
            #expect(second.executionId == "exec_\(flow.id)_1700000000_2", "the same second twice")
            #expect(try store.latestRun(flow: flow.id)?.id == second.id)
            #expect(try Set(store.ownActiveRuns().map(\.dataflowId)) == [flow.id, scheduledFlow.id])
            #expect(try store.runs(flow: flow.id, page: 1, pageSize: 1).total == 2)
            let logs = try store.flowLogs(flow.id, page: 1, pageSize: 10, level: nil, runId: nil, newestFirst: false)
            #expect(logs.total == 2 && logs.list.map(\.message) == ["started", "oops"])
            #expect(try store.flowLogs(flow.id, page: 1, pageSize: 10, level: .error, runId: nil, newestFirst: true).list.map(\.component) == ["schedule"])
            #expect(try store.flowLogs(flow.id, page: 1, pageSize: 10, level: nil, runId: run.id, newestFirst: true).total == 1)
            _ = try store.finishRun(run: second.id, status: .cancelled)
            #expect(try store.deleteRuns(before: Date()) == 3, "the ended ones")
            #expect(try store.runs(flow: flow.id, page: 1, pageSize: 10).total == 0)
        }
    }

    /// Many threads start a run of one flow at once: exactly one wins, on either store
    /// (PostgreSQL: several connections, the partial unique index decides).
    @Test(arguments: Kind.allCases) func oneRunPerFlowUnderContention(_ kind: Kind) async throws {
        let store = try await TestSupport.onThread { try Self.open(kind) }
        let flow = try await TestSupport.onThread {
            try store.insertDataflow(NewFlow(name: "f", description: "", status: "active", createdBy: "", config: "{}", childrenIds: []), enNameBase: "f")
        }
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<16 {
                group.addTask {
                    try await TestSupport.onThread {
                        do {
                            _ = try store.insertRun(flow: flow.id, trigger: "t\(i)", params: "{}", now: Date(timeIntervalSince1970: Double(i)))
                            return true
                        } catch is RunConflict {
                            return false
                        }
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
        #expect(try await TestSupport.onThread { try store.ownActiveRuns().count } == 1)
    }

    /// Gateways starting together on a new database migrate it once.
    @Test func postgresMigratesOnceUnderConcurrentStarts() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        var config = GatewayConfig.defaults.store
        config.url = url
        let location = try StoreLocation(config)
        let opened = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await TestSupport.onThread {
                        _ = try PostgresDatabase(location); return true
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(opened == 4)
        let versions = try await TestSupport.onThread {
            try PostgresDatabase(location).withSession { try $0.query("SELECT version FROM schema_migrations ORDER BY version", []) }
        }
        #expect(versions == PostgresMigrations.steps.indices.map { [.int(Int64($0 + 1))] })
    }

    /// A server that is not there: the gateway refuses to start, saying where it looked,
    /// within the connect timeout.
    @Test func unreachablePostgresIsAClearError() async throws {
        var config = GatewayConfig.defaults.store
        config.url = "postgres://gateway:hunter2@127.0.0.1:1/db?sslmode=disable"
        config.connectTimeoutSeconds = 2
        let location = try StoreLocation(config)
        let error = await #expect(throws: StoreUnavailable.self) {
            try await TestSupport.onThread { _ = try PostgresDatabase(location) }
        }
        #expect(error?.message.contains("127.0.0.1:1/db") == true, "\(String(describing: error))")
        #expect(error?.message.contains("hunter2") == false)
    }

    @Test func storeURLIsCheckedAndItsPasswordNeverShown() throws {
        var config = GatewayConfig.defaults.store
        config.url = "postgres://ann:s%40cret@db.example:6543/gw?sslmode=require"
        let location = try StoreLocation(config)
        #expect(location.user == "ann" && location.password == "s@cret" && location.host == "db.example" && location.port == 6543)
        #expect(location.database == "gw" && location.tls == .require)
        #expect(StoreLocation.redacted(config.url) == "postgres://ann:********@db.example:6543/gw?sslmode=require")
        let file = TestSupport.temporaryDirectory("pw") + "/password"
        try "from-file\nignored\n".write(toFile: file, atomically: true, encoding: .utf8)
        config.passwordFile = file
        #expect(try StoreLocation(config).password == "from-file")
        config.url = "postgres:///gw?host=/var/run/postgresql"
        #expect(try StoreLocation(config).socketPath == "/var/run/postgresql/.s.PGSQL.5432")
        for bad in ["mysql://a@b/c", "postgres://a@b/c?sslmode=maybe", "postgres://a@b/c?schema=x", "postgres:///nohost"] {
            config.url = bad
            #expect(throws: InvalidInput.self, "\(bad)") { try StoreLocation(config) }
        }
        var gateway = GatewayConfig.defaults
        gateway.store.url = "postgres://ann:s3cret@db.example/gw"
        #expect(try !gateway.redactedJSON().contains("s3cret"))
    }
}

/// What a gateway on PostgreSQL says when its database stops answering, and after.
@Suite struct PostgresStoreHealthTests {
    @Test func healthzSaysWhenTheStoreIsUnreachableAndRecovers() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let admin = try TestPostgres.server.get()
        let database = try #require(url.split(separator: "/").last?.split(separator: "?").first.map(String.init))
        func psql(_ sql: String) async throws {
            let result = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", ["psql", admin, "-qAtc", sql]) }
            #expect(result.status == 0, "\(result.output)")
        }
        var config = TestSupport.config(dataDir: TestSupport.temporaryDirectory("health"), pluginDirs: ["/nonexistent"])
        config.store.url = url
        config.store.connectTimeoutSeconds = 2
        config.dataflows.requireToken = false
        let gateway = try await TestSupport.onThread { [config] in try Gateway(config: config) }
        try await TestServer.with(gateway) { server in
            let healthy = try await server.request(.GET, "/healthz")
            #expect(healthy.status == 200 && (healthy.json["data"] as? [String: Any])?["store"] as? String == "postgres", "\(healthy.text)")

            try await psql("ALTER DATABASE \(database) ALLOW_CONNECTIONS false")
            try await psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)'")
            let refused = try await server.request(.GET, "/api/data-flow/get-dataflows-list")
            #expect(refused.status == 503, "\(refused.text)")
            #expect(refused.json["message"] as? String ?? "" != "", "\(refused.text)")
            let down = try await server.request(.GET, "/healthz")
            #expect(down.status == 503 && down.text.contains("not currently accepting connections"), "\(down.text)")

            try await psql("ALTER DATABASE \(database) ALLOW_CONNECTIONS true")
            // /healthz itself tries the store again (on a worker); a few asks see it back.
            var status = 0
            for _ in 0..<100 where status != 200 {
                status = Int(try await server.request(.GET, "/healthz").status)
                if status != 200 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(status == 200)
            #expect(try await server.request(.GET, "/api/data-flow/get-dataflows-list").status == 200)
            // The outage shows in /metrics: failed connects, and the connections open now.
            let metrics = try await TestSupport.onThread { try gateway.tokens.create(name: "m", scopes: ["metrics"]).secret }
            let scraped = try await server.request(.GET, "/metrics", headers: [("Authorization", "Bearer \(metrics)")])
            #expect(scraped.text.contains("gateway_store_connect_failures_total "), "\(scraped.text.prefix(300))")
            #expect(scraped.text.contains("gateway_store_connections "), "\(scraped.text.prefix(300))")
        }
    }
}

/// `gateway store migrate --to postgres://…`, run as an administrator runs it.
@Suite struct StoreMigrateTests {
    @Test func everythingMovesToPostgresAndKeepsItsIds() async throws {
        let dataDir = TestSupport.temporaryDirectory("migrate")
        var config = TestSupport.config(dataDir: dataDir, pluginDirs: ["/nonexistent"])
        config.store.url = ""
        config.store.datasets = ""
        config.datasets = [
            "typed": DatasetDefinition(table: "typed(k text, n integer, r real, d decimal, day date, at timestamp, ok bool, b blob, x)", keys: ["k"])
        ]
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let before = try await TestSupport.onThread { [config] in
            let gateway = try Gateway(config: config)
            let store = gateway.store
            // The datasets' rows move too: every column type, and a table preSql made.
            let typed = try #require(try gateway.datasets.dataset("typed"))
            let rows =
                #"[["k","n","r","d","day","at","ok","b","x"],["a",1,1.5,"12.50","2026-01-02","2026-01-02 03:04:05.25+08:00",true,"\t",7],"#
                + #"["b",null,null,null,null,null,null,null,"text"]]"#
            _ = try gateway.datasetTables.write(typed, update: false) { try DatasetPushRoutes.feed(Array(rows.utf8), into: &$0) }
            try SQLiteConnection(path: gateway.datasetsPath).execute("CREATE TABLE extra (a TEXT, n INTEGER); INSERT INTO extra VALUES ('x', 1), ('y', 2)")
            let (_, secret) = try gateway.tokens.create(name: "ops", scopes: ["admin"])
            try store.saveDefinition(.dataset, id: "sales", json: #"{"table":"sales(region, amount)"}"#)
            try store.setPluginState(plugin: "jst", instance: "main", key: "token", value: [0, 1, 2, 0xFF])
            let task = try store.insertTask(
                hashKey: "k1", requestHash: "r", owner: "", userId: "u", title: "t", extType: "xlsx", sourceType: "http", request: "{}",
                callback: "")
            for line in ["b", "a", "c"] { try store.logTask(id: task.id, line) }
            let leaf = try store.insertDataflow(
                NewFlow(name: "leaf", description: "", status: "active", createdBy: "", config: "{}", childrenIds: []), enNameBase: "leaf")
            let top = try store.insertDataflow(
                NewFlow(
                    name: "top", description: "", status: "active", createdBy: "", config: "{}", childrenIds: [leaf.id],
                    tagId: try store.createTag(name: "t").id),
                enNameBase: "top")
            let run = try store.insertRun(flow: top.id, trigger: "manual", params: "{}")
            try store.logFlow(top.id, run: run.id, .info, component: "pump", "done")
            _ = try store.finishRun(run: run.id, status: .completed, rowsRead: 3, rowsWritten: 3)
            return (secret, top, run)
        }
        let gatewayBinary = try TestSupport.product("gateway")
        let migrated = try await TestSupport.onThread { try TestSupport.run(gatewayBinary, ["store", "migrate", "--data-dir", dataDir, "--to", url]) }
        #expect(migrated.status == 0, "\(migrated.output)")
        #expect(migrated.output.contains("dataflow_runs: 1") && migrated.output.contains("export_logs: 3"), "\(migrated.output)")
        #expect(migrated.output.contains("datasets.typed: 2") && migrated.output.contains("datasets.extra: 2"), "\(migrated.output)")

        config.store.url = url
        try await TestSupport.onThread { [config] in
            let gateway = try Gateway(config: config)
            let store = gateway.store
            #expect(store.kind == "postgres")
            #expect(try gateway.tokens.authenticate(before.0)?.name == "ops")
            #expect(try store.definition(.dataset, id: "sales") == #"{"table":"sales(region, amount)"}"#)
            #expect(try store.pluginState(plugin: "jst", instance: "main", key: "token") == [0, 1, 2, 0xFF])
            let task = try #require(try store.task(hashKey: "k1"))
            // (The restart adds its own line: the task was still processing.)
            #expect(try store.taskLogs(id: task.id).prefix(3) == ["b", "a", "c"])
            #expect(try store.run(executionId: before.2.executionId)?.rowsWritten == 3)
            #expect(try store.children(of: before.1.id).map(\.name) == ["leaf"] && store.tags(of: before.1.id).map(\.name) == ["t"])
            #expect(try store.flowLogs(before.1.id, page: 1, pageSize: 5, level: nil, runId: nil, newestFirst: false).list.map(\.message) == ["done"])
            // The datasets' rows, read on PostgreSQL as the gateway wrote them on SQLite.
            let tables = try #require(gateway.datasetTables as? PostgresDatasetTables)
            let typed = try tables.owner.withSession {
                try $0.query(
                    "SELECT k, n, r, d::text, day::text, at::text, ok, encode(b, 'escape'), x FROM datasets.typed ORDER BY k", [])
            }
            #expect(
                typed == [
                    [
                        .text("a"), .int(1), .double(1.5), .text("12.5000000000"), .text("2026-01-02"), .text("2026-01-01 19:04:05.25"), .int(1), .text("\t"),
                        .text("7"),
                    ],
                    [.text("b"), .null, .null, .null, .null, .null, .null, .null, .text("text")],
                ], "\(typed)")
            #expect(try tables.rowCounts([try #require(try gateway.datasets.dataset("typed"))]) == ["typed": 2])
            #expect(
                try tables.owner.withSession { try $0.query("SELECT a, n FROM datasets.extra ORDER BY a", []) } == [
                    [.text("x"), .int(1)], [.text("y"), .int(2)],
                ])
            // New rows are numbered after the copied ones.
            let next = try store.insertDataflow(
                NewFlow(name: "n", description: "", status: "active", createdBy: "", config: "{}", childrenIds: []), enNameBase: "n")
            #expect(next.id > before.1.id)
        }
        // Into a store that holds rows already: refused, nothing changed.
        let again = try await TestSupport.onThread { try TestSupport.run(gatewayBinary, ["store", "migrate", "--data-dir", dataDir, "--to", url]) }
        #expect(again.status != 0 && again.output.contains("already holds rows"), "\(again.output)")
        // Into a schema that lacks a column the source has (another gateway version): refused by name.
        let older = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let dropped = try await TestSupport.onThread { () -> TestSupport.ProcessResult in
            var location = GatewayConfig.defaults.store
            location.url = older
            _ = try PostgresDatabase(try StoreLocation(location))  // the schema, made
            return try TestSupport.run("/usr/bin/env", ["psql", older, "-qc", "ALTER TABLE dataflow_runs DROP COLUMN lease_until"])
        }
        #expect(dropped.status == 0, "\(dropped.output)")
        let skewed = try await TestSupport.onThread { try TestSupport.run(gatewayBinary, ["store", "migrate", "--data-dir", dataDir, "--to", older]) }
        #expect(skewed.status != 0 && skewed.output.contains("no column dataflow_runs.lease_until"), "\(skewed.output)")
    }
}

extension StoreMigrateTests {
    /// A datasets' table that cannot move (a value its column's type refuses) fails the whole
    /// migration by name, and leaves the target as it was: no table half-copied, no store row.
    @Test func aMigrationThatFailsLeavesNothingBehind() async throws {
        let dataDir = TestSupport.temporaryDirectory("migrate-bad")
        var config = TestSupport.config(dataDir: dataDir, pluginDirs: ["/nonexistent"])
        (config.store.url, config.store.datasets) = ("", "")
        config.datasets = ["a": DatasetDefinition(table: "a(n integer)"), "b": DatasetDefinition(table: "b(n integer)")]
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        try await TestSupport.onThread { [config] in
            let gateway = try Gateway(config: config)
            _ = try gateway.tokens.create(name: "ops", scopes: ["admin"])
            // SQLite keeps what it is given: a text in b's integer column, past the gateway's checks.
            try SQLiteConnection(path: gateway.datasetsPath).execute("INSERT INTO a VALUES (1); INSERT INTO b VALUES ('not a number')")
        }
        let failed = try await TestSupport.onThread {
            try TestSupport.run(try TestSupport.product("gateway"), ["store", "migrate", "--data-dir", dataDir, "--to", url])
        }
        #expect(failed.status != 0 && failed.output.contains("copying the datasets' table b failed"), "\(failed.output)")
        let left = try await TestSupport.onThread {
            try TestSupport.run(
                "/usr/bin/env",
                ["psql", url, "-qAtc", "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'datasets') || ' ' || (SELECT count(*) FROM api_tokens)"])
        }
        #expect(left.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0 0", "\(left.output)")
    }
}

/// Two gateways on one PostgreSQL store: what one starts, the other neither fails at its
/// start nor runs twice; a signed token used on one is refused on the other.
@Suite struct SharedStoreTests {
    @Test func twoGatewaysShareOneStore() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        func config() -> GatewayConfig {
            var config = TestSupport.config(dataDir: TestSupport.temporaryDirectory("node"), pluginDirs: ["/nonexistent"])
            config.store.url = url
            return config
        }
        let (configA, configB) = (config(), config())
        try await TestSupport.onThread {
            let a = try Gateway(config: configA)
            let flow = try a.store.insertDataflow(
                NewFlow(name: "f", description: "", status: "active", createdBy: "", config: "{}", childrenIds: []), enNameBase: "f")
            let run = try a.store.insertRun(flow: flow.id, trigger: "manual", params: "{}")
            let task = try a.store.insertTask(
                hashKey: "k", requestHash: "r", owner: "", userId: "u", title: "t", extType: "xlsx", sourceType: "http", request: "{}",
                callback: "")
            // B starting is not A restarting: A's work goes on.
            let b = try Gateway(config: configB)
            #expect(try b.store.run(executionId: run.executionId)?.status == .pending)
            #expect(try b.store.task(hashKey: "k")?.status == .processing)
            #expect(throws: RunConflict.self) { try b.store.insertRun(flow: flow.id, trigger: "manual", params: "{}") }
            // The seed-000 token A accepted is a replay on B.
            let stamp = String(Int64(Date().timeIntervalSince1970 * 1000))
            let token = Crypto.hex(Crypto.sha1(Array("k\(stamp)visitorsales".utf8)))
            #expect(throws: Never.self) { try a.signedTokens.verify(visitor: "visitor", type: "sales", stamp: stamp, token: token, key: "k") }
            #expect(throws: SignedTokenVerifier.Failure.replayed) {
                try b.signedTokens.verify(visitor: "visitor", type: "sales", stamp: stamp, token: token, key: "k")
            }
            // A cron time fires once across the gateways: both schedulers reach it, one run.
            let every5 =
                #"{"source":{"type":"sql","query":"SELECT 1 AS n"},"target":{"type":"export","format":"csv"},"schedule":"*/5 * * * *","timezone":"UTC"}"#
            let scheduled = try a.store.insertDataflow(
                NewFlow(name: "every 5", description: "", status: "active", createdBy: "", config: every5, childrenIds: []), enNameBase: "every_5")
            let t0 = Date(timeIntervalSince1970: 1_764_547_200)  // 00:00 UTC
            for gateway in [a, b] { gateway.dataflows.runSchedules(now: t0) }
            for gateway in [a, b] { gateway.dataflows.runSchedules(now: t0.addingTimeInterval(301)) }
            let runs = try a.store.runs(flow: scheduled.id, page: 1, pageSize: 10)
            #expect(runs.total == 1 && runs.list.first?.trigger == "schedule", "\(runs)")
            let warnings = try a.store.flowLogs(scheduled.id, page: 1, pageSize: 10, level: .warning, runId: nil, newestFirst: false)
            #expect(warnings.total == 0, "the second gateway does not call the tick skipped: \(warnings.list)")
            // A restarting (its data folder, so its id) fails its own unfinished work.
            let restarted = try Gateway(config: configA)
            #expect(try restarted.store.run(executionId: run.executionId)?.errorMessage == "interrupted by restart")
            #expect(try restarted.store.task(hashKey: task.hashKey)?.status == .failed)
        }
    }

    /// A gateway that stops renewing its claims: once they run out, another gateway takes its
    /// unfinished work over, once: a run whose target had not begun to commit runs again there
    /// (attempt 2), an export with a sealed request restarts there; a run caught committing
    /// and a task that cannot restart end failed, saying which gateway stopped. The stopped
    /// one's late writes name the old attempt and change nothing. A gateway never takes over
    /// its own work.
    @Test func theWorkOfAGatewayThatStoppedIsTakenOverOnce() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let t0 = Date(timeIntervalSince1970: 1_764_547_200)
        let clock = ManualClock(t0)
        func config() -> GatewayConfig {
            var config = TestSupport.config(dataDir: TestSupport.temporaryDirectory("node"), pluginDirs: ["/nonexistent"])
            config.store.url = url
            config.store.leaseSeconds = 60
            config.auth.secretKey = "one key for both"
            return config
        }
        let (configA, configB) = (config(), config())
        try await TestSupport.onThread {
            let a = try Gateway(config: configA, clock: clock)
            let b = try Gateway(config: configB, clock: clock)
            let workerA = try #require((a.store as? SQLStore)?.worker)
            let workerB = try #require((b.store as? SQLStore)?.worker)
            let runnable = #"{"source":{"type":"sql","query":"SELECT 1 AS n UNION ALL SELECT 2"},"target":{"type":"export","format":"csv"}}"#
            func flow(_ name: String) throws -> Dataflow {
                try a.store.insertDataflow(
                    NewFlow(name: name, description: "", status: "active", createdBy: "", config: runnable, childrenIds: []), enNameBase: name)
            }
            let (again, committing) = (try flow("again"), try flow("committing"))
            let run = try a.store.insertRun(flow: again.id, trigger: "manual", params: "{}")
            try a.store.markRunning(run: run.id)
            let caught = try a.store.insertRun(flow: committing.id, trigger: "manual", params: "{}")
            try a.store.markRunning(run: caught.id)
            #expect(try a.store.beginCommit(run: caught.id, attempt: 1))
            _ = try a.store.insertTask(
                hashKey: "k", requestHash: "r", owner: "", userId: "u", title: "t", extType: "xlsx", sourceType: "http", request: "{}",
                callback: "")
            let body = #"{"ext_type":"csv","user_id":"u","title":"again","source_raw":"[{\"i\":1},{\"i\":2}]"}"#
            let sealed = try #require(a.secret.seal(Array(body.utf8), purpose: ExportService.sealPurpose))
            let restartable = try a.store.insertTask(
                hashKey: "0123456789abcdef0123456789abcdef", requestHash: "r2", owner: "", userId: "u", title: "again", extType: "CSV",
                sourceType: "raw", request: "{}", callback: "", sealedRequest: sealed)
            clock.advance(by: 50)
            try a.store.renewLeases()  // A's upkeep: claims now hold until t0 + 110
            clock.advance(by: 40)
            try b.dataflows.takeOverOthers()
            try b.exports.takeOverOthers()
            #expect(try a.store.run(executionId: run.executionId)?.status == .running, "renewed: still A's")
            clock.advance(by: 30)  // t0 + 120: A said nothing for 70 s
            try a.dataflows.takeOverOthers()
            #expect(try a.store.run(executionId: run.executionId)?.gateway == workerA, "a gateway never takes over its own work")
            try b.dataflows.takeOverOthers()
            try b.exports.takeOverOthers()
            // The run that had not committed runs again on B, and completes there.
            var ranAgain = try #require(try b.store.run(executionId: run.executionId))
            for _ in 0..<400 where ranAgain.status.isActive {
                usleep(25_000)
                ranAgain = try #require(try b.store.run(executionId: run.executionId))
            }
            #expect(ranAgain.status == .completed && ranAgain.attempt == 2 && ranAgain.gateway == workerB && ranAgain.rowsWritten == 2, "\(ranAgain)")
            let lines = try a.store.flowLogs(again.id, page: 1, pageSize: 20, level: .warning, runId: run.id, newestFirst: false).list.map(\.message)
            #expect(
                lines.contains("\(run.executionId) runs again from the start here (attempt 2 of 3): gateway \(workerA) stopped before its target committed"),
                "\(lines)")
            // The run caught committing, and the task without a sealed request, end failed.
            let ended = try #require(try a.store.run(executionId: caught.executionId))
            #expect(
                ended.status == .failed
                    && ended.errorMessage == "interrupted: gateway \(workerA) stopped while its target committed (not run again: the target may hold its rows)",
                "\(ended)")
            let task = try #require(try a.store.task(hashKey: "k"))
            #expect(task.status == .failed && task.failReason == "interrupted: gateway \(workerA) stopped", "\(task)")
            // The export restarts on B from its sealed request, into its own attempt's file.
            var restarted = try #require(try b.store.task(hashKey: restartable.hashKey))
            for _ in 0..<400 where restarted.status == .processing {
                usleep(25_000)
                restarted = try #require(try b.store.task(hashKey: restartable.hashKey))
            }
            #expect(restarted.status == .success && restarted.attempt == 2 && restarted.file == "\(restartable.hashKey).a2.zip", "\(restarted)")
            #expect(try b.store.taskLogs(id: restartable.id).contains { $0.hasPrefix("restarted from its first page (attempt 2 of 3): gateway \(workerA)") })
            // A comes back: its late writes name attempt 1 and change nothing; nothing is taken twice.
            #expect(try !a.store.finishRun(run: run.id, status: .failed, attempt: 1))
            #expect(try !a.store.beginCommit(run: run.id, attempt: 1))
            try a.store.updateRunProgress(run: run.id, attempt: 1, progress: 100, rowsRead: 5, rowsWritten: 5)
            #expect(try a.store.run(executionId: run.executionId)?.rowsWritten == 2)
            #expect(try !a.store.finishTask(id: restartable.id, status: .failed, failReason: "late", attempt: 1))
            let second = try b.store.takeOverRuns(maxAttempts: 3)
            #expect(second.failed.isEmpty && second.requeued.isEmpty)
            #expect(try b.store.takeOverTasks(maxAttempts: 3).failed.isEmpty)
        }
    }

    /// An export made on one gateway downloads from another: one store, one exports folder,
    /// one secret key (the signed link verifies on either).
    @Test func anExportMadeOnOneGatewayDownloadsFromAnother() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let exports = TestSupport.temporaryDirectory("shared-exports")
        @Sendable func gateway() throws -> Gateway {
            try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
                config.store.url = url
                config.exports.directory = exports
                config.auth.secretKey = "one key for the whole cluster"
            }
        }
        let (a, b) = try await TestSupport.onThread { (try gateway(), try gateway()) }
        let token = try await TestSupport.onThread { try a.tokens.create(name: "exporter", scopes: ["export"]).secret }
        try await TestServer.with(a) { serverA in
            try await TestServer.with(b) { serverB in
                let made = try await ExportTests.post(
                    serverA, "/v1/export/raw", ["ext_type": "csv", "user_id": "u", "source_raw": #"[{"city":"杭州","n":1},{"city":"北京","n":2}]"#],
                    token: token)
                let key = try #require((made.json["data"] as? [String: Any])?["hash_key"] as? String, "\(made.text)")
                let done = try await ExportTests.waitForEnd(serverB, key: key, token: token)
                #expect(done["status"] as? Int == 2, "\(done)")
                let link = try #require(done["down_url"] as? String)
                let path = try #require(link.firstRange(of: "/v1/down/").map { String(link[$0.lowerBound...]) })
                let file = try await serverB.request(.GET, path)
                #expect(file.status == 200 && file.text.contains("杭州") && file.text.contains("北京"), "\(file.status) \(file.text)")
            }
        }
    }
}

/// Plugins' `shared_lock` and `pace` across gateways sharing a PostgreSQL store: two
/// gateways' coordinations, each with its own threads, as two processes would be.
@Suite struct SharedCoordinationTests {
    static func twoGateways() throws -> (PluginCoordination, PluginCoordination, SQLStore) {
        var config = GatewayConfig.defaults.store
        config.url = try TestPostgres.freshDatabase()
        let location = try StoreLocation(config)
        let a = SQLStore(database: try PostgresDatabase(location), worker: "gw-a")
        let b = SQLStore(database: try PostgresDatabase(location), worker: "gw-b")
        return (PluginCoordination(shared: a), PluginCoordination(shared: b), a)
    }

    /// 5 calls a second for the bucket, asked for by 8 threads on each of two gateways: no
    /// second of the run holds more than 5 counted calls.
    @Test func paceHoldsAcrossGateways() async throws {
        let (a, b, store) = try await TestSupport.onThread { try Self.twoGateways() }
        let results = try await withThrowingTaskGroup(of: [PluginCoordination.PaceResult].self) { group in
            for coordination in [a, b] {
                for _ in 0..<8 {
                    group.addTask {
                        try await TestSupport.onThread {
                            (0..<2).map { _ in coordination.pace(plugin: "jst", bucket: "app", perSecond: 5, perMinute: 0, cancelled: { false }) }
                        }
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(results.count == 32 && results.allSatisfy { $0 == .counted })
        let calls = try await TestSupport.onThread { try store.database.withSession { try $0.query("SELECT at FROM pace_calls ORDER BY at", []) } }
        let times = calls.compactMap { row -> Double? in if case .double(let at) = row[0] { at } else { nil } }
        #expect(times.count == 32)
        for (i, t) in times.enumerated() {
            let inOneSecond = times[i...].prefix { $0 < t + 1 }.count
            #expect(inOneSecond <= 5, "\(inOneSecond) calls within a second from \(t)")
        }
    }

    /// A lock one gateway holds, the other waits for (and times out on); released, it takes it.
    @Test func aLockHoldsAcrossGateways() async throws {
        let (a, b, _) = try await TestSupport.onThread { try Self.twoGateways() }
        try await TestSupport.onThread {
            #expect(a.lock(plugin: "jst", name: "refresh", timeout: 1, cancelled: { false }) == .acquired)
            #expect(b.lock(plugin: "jst", name: "refresh", timeout: 0.2, cancelled: { false }) == .timedOut)
            #expect(b.lock(plugin: "jst", name: "other", timeout: 0.2, cancelled: { false }) == .acquired, "names are separate")
            #expect(b.lock(plugin: "other-plugin", name: "refresh", timeout: 0.2, cancelled: { false }) == .acquired, "plugins are separate")
            a.unlock(plugin: "jst", name: "refresh")
            #expect(b.lock(plugin: "jst", name: "refresh", timeout: 1, cancelled: { false }) == .acquired)
            #expect(a.lock(plugin: "jst", name: "refresh", timeout: 0.1, cancelled: { true }) == .cancelled)
        }
    }
}
