import Foundation
import Testing

@testable import Host

/// Three real `gateway serve` processes on one PostgreSQL store, as an administrator runs
/// them: dataflow runs and exports submitted across them, one gateway killed (SIGKILL) in the
/// middle of a run and of an export's crawl. Every run and task ends exactly once; the killed
/// gateway's run runs again on another gateway once its claim ran out (its target had not
/// committed), and its export restarts there; every gateway sees it. Rows pushed to each
/// gateway are read, once each, on every other.
@Suite(.serialized) struct ClusterTests {
    @Test func threeGatewaysOneStoreOneKilled() async throws {
        try await TestSupport.withHelperServer("page_server.py") { pagePort in
            try await threeGatewaysOneStoreOneKilled(pages: "http://127.0.0.1:\(pagePort)")
        }
    }

    func threeGatewaysOneStoreOneKilled(pages: String) async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        let config: [String: Any] = [
            "store": ["url": url, "leaseSeconds": 15],
            "http": ["allowHosts": ["127.0.0.1"]],
            "exports": ["directory": TestSupport.temporaryDirectory("cluster-exports"), "requireToken": false],
            "dataflows": ["requireToken": false],
            "auth": ["secretKey": "one key for the cluster", "signedKeys": ["alice": "k"]],
            "datasets": ["sales": ["table": "sales(k integer, v text)", "keys": ["k"]]],
        ]
        let nodes = try (0..<3).map { _ in try GatewayProcess(config: config) }
        defer { for node in nodes { node.stop() } }
        // curl on a thread of its own: a test blocking Swift's cooperative threads starves
        // the other tests' gateways in this process.
        func call(_ node: GatewayProcess, _ method: String, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
            let arguments = ["curl", "-s", "-X", method, "-H", "Content-Type: application/json"] + (body.map { ["-d", $0] } ?? []) + [node.base + path]
            let output = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", arguments).output }
            return (try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]) ?? [:]
        }
        func flowStatus(_ node: GatewayProcess, _ flow: Int) async throws -> [String: Any] {
            try await call(node, "GET", "/api/data-flow/get-dataflow-status/\(flow)")["data"] as? [String: Any] ?? [:]
        }
        func waitForEnd(_ node: GatewayProcess, _ flow: Int) async throws -> [String: Any] {
            for _ in 0..<1_200 {
                let status = try await flowStatus(node, flow)
                if ["completed", "failed", "cancelled"].contains(status["status"] as? String ?? "") { return status }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw InvalidInput("flow \(flow) never ended")
        }

        // Pushes to each gateway (the seed-000 form), read on every gateway: one set of tables.
        for (i, node) in nodes.enumerated() {
            let stamp = String(Int64(Date().timeIntervalSince1970 * 1000) + Int64(i))
            let token = Crypto.hex(Crypto.sha1(Array("k\(stamp)alicesales".utf8)))
            let rows = (0..<100).map { "[\(i * 100 + $0),\"node \(i)\"]" }.joined(separator: ",")
            let url = node.base + "/echart/dataset_api/"
            let pushed = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "curl", "-s", "-d", "visitor=alice", "-d", "type=sales", "-d", "stamp=\(stamp)", "-d", "token=\(token)",
                        "--data-urlencode", "ds=[[\"k\",\"v\"],\(rows)]", url,
                    ])
            }
            #expect(pushed.output == #"{"status":200,"msg":"success"}"#, "\(pushed.output)")
        }
        let admin = try #require(nodes.map(\.adminToken).first { !$0.isEmpty }, "no gateway wrote an admin token")
        for node in nodes {
            let base = node.base
            let read = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env", ["curl", "-s", "-H", "Authorization: Bearer \(admin)", base + "/api/v1/dataset/sales/query"])
            }
            let rows = (try? JSONSerialization.jsonObject(with: Data(read.output.utf8)) as? [[String: Any]]) ?? []
            #expect(Set(rows.compactMap { $0["k"] as? Int }) == Set(0..<300) && rows.count == 300, "\(read.output.prefix(300))")
        }

        // 10 flows on a schedule of every minute, made on each gateway in turn: each minute's
        // tick runs once, whichever gateway reaches it first.
        let everyMinute =
            #"{"source":{"type":"sql","query":"SELECT 1 AS n"},"target":{"type":"export","format":"csv"},"schedule":"* * * * *","timezone":"UTC"}"#
        var scheduled: [Int] = []
        for i in 0..<10 {
            let made = try await call(
                nodes[i % 3], "POST", "/api/data-flow/add-dataflow", #"{"name":"tick \#(i)","description":"d","status":"active","config":\#(everyMinute)}"#)
            scheduled.append(try #require((made["data"] as? [String: Any])?["id"] as? Int, "\(made)"))
        }
        let scheduledSince = Date()

        // A slow run on the third gateway, which is then killed while it writes.
        let slow =
            #"{"name":"slow","description":"d","config":{"source":{"type":"sql","query":"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3000000) SELECT n FROM c"},"target":{"type":"export","format":"csv"}}}"#
        let slowId = try #require((try await call(nodes[0], "POST", "/api/data-flow/add-dataflow", slow)["data"] as? [String: Any])?["id"] as? Int)
        let slowRun = try await call(nodes[2], "POST", "/api/data-flow/execute-dataflow/\(slowId)", "{}")
        let slowExecution = try #require((slowRun["data"] as? [String: Any])?["execution_id"] as? String, "\(slowRun)")

        // 10 flows, each run 3 times, each time on the next of the first two gateways.
        let quick = #"{"source":{"type":"sql","query":"SELECT 1 AS n"},"target":{"type":"export","format":"csv"}}"#
        var flows: [Int] = []
        for i in 0..<10 {
            let made = try await call(nodes[i % 2], "POST", "/api/data-flow/add-dataflow", #"{"name":"quick \#(i)","description":"d","config":\#(quick)}"#)
            flows.append(try #require((made["data"] as? [String: Any])?["id"] as? Int, "\(made)"))
        }
        // 30 exports, 10 on each gateway, while the slow run goes on.
        var exports: [String] = []
        for i in 0..<30 {
            let made = try await call(
                nodes[i % 3], "POST", "/v1/export/raw", #"{"ext_type":"csv","user_id":"u","source_raw":"[{\"i\":\#(i)}]"}"#)
            exports.append(try #require((made["data"] as? [String: Any])?["hash_key"] as? String, "\(made)"))
        }
        var written = 0
        for _ in 0..<400 where written < 50_000 {
            try await Task.sleep(for: .milliseconds(50))
            written = try await flowStatus(nodes[0], slowId)["rows_written"] as? Int ?? 0
        }
        #expect(written >= 50_000, "the slow run is writing when its gateway dies")
        // And a crawl of 100 pages of 300 ms each, with an upstream header, on the same gateway.
        let crawl = try await call(
            nodes[2], "POST", "/v1/export/http",
            #"{"ext_type":"csv","user_id":"u","title":"crawl","source_http":{"url":"\#(pages)/slow","header":{"Authorization":"Bearer upstream"},"param":{"limit":10,"total":1000}}}"#
        )
        let crawlKey = try #require((crawl["data"] as? [String: Any])?["hash_key"] as? String, "\(crawl)")
        for _ in 0..<200 {
            let detail = try await call(nodes[0], "GET", "/v1/export/detail?key=\(crawlKey)")["data"] as? [String: Any] ?? [:]
            if ((detail["progress"] as? [String: Any])?["done"] as? Int ?? 0) > 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(nodes[2].process.pid, SIGKILL)
        nodes[2].process.wait()

        for round in 0..<3 {
            for (i, flow) in flows.enumerated() {
                let started = try await call(nodes[(i + round) % 2], "POST", "/api/data-flow/execute-dataflow/\(flow)", "{}")
                #expect((started["data"] as? [String: Any])?["execution_id"] is String, "\(started)")
                let ended = try await waitForEnd(nodes[(i + round + 1) % 2], flow)
                #expect(ended["status"] as? String == "completed", "\(ended)")
            }
        }
        // Every run once: three per flow, each completed, seen alike from both survivors.
        for flow in flows {
            for node in nodes.prefix(2) {
                let runs = try await call(node, "GET", "/api/data-flow/get-dataflow-runs/\(flow)?page_size=10")["data"] as? [String: Any] ?? [:]
                let list = runs["runs"] as? [[String: Any]] ?? []
                #expect(list.count == 3 && list.allSatisfy { $0["status"] as? String == "completed" }, "\(runs)")
            }
        }
        // Every export once, done, downloadable from a gateway that did not make it.
        for (i, key) in exports.enumerated() {
            let node = nodes[(i + 1) % 2]
            var detail: [String: Any] = [:]
            for _ in 0..<600 {
                detail = try await call(node, "GET", "/v1/export/detail?key=\(key)")["data"] as? [String: Any] ?? [:]
                if detail["status"] as? Int != 1 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(detail["status"] as? Int == 2, "\(detail)")
        }
        // The killed gateway's run: taken over by a survivor once its claim (15 s) ran out,
        // run again from the start there (its target had not committed), every row once.
        let killed = try String(contentsOfFile: "\(nodes[2].dataDir)/gateway.id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let ended = try await waitForEnd(nodes[0], slowId)
        #expect(ended["execution_id"] as? String == slowExecution)
        #expect(ended["status"] as? String == "completed" && ended["rows_written"] as? Int == 3_000_000, "\(ended)")
        #expect(ended["attempt"] as? Int == 2 && ended["gateway"] as? String != killed, "\(ended)")
        let logs = try await call(nodes[1], "GET", "/api/data-flow/get-dataflow-logs/\(slowId)?level=WARNING&page_size=50")["data"] as? [String: Any] ?? [:]
        let lines = (logs["logs"] as? [[String: Any]] ?? []).filter {
            ($0["message"] as? String ?? "").hasSuffix("runs again from the start here (attempt 2 of 3): gateway \(killed) stopped before its target committed")
        }
        #expect(lines.count == 1, "taken over once, by one survivor: \(logs)")
        let runs = try await call(nodes[1], "GET", "/api/data-flow/get-dataflow-runs/\(slowId)?page_size=10")["data"] as? [String: Any] ?? [:]
        #expect((runs["runs"] as? [[String: Any]] ?? []).count == 1, "one run, not a second: \(runs)")
        // The killed gateway's crawl: restarted by a survivor from its first page, whole.
        var detail: [String: Any] = [:]
        for _ in 0..<1_200 {
            detail = try await call(nodes[1], "GET", "/v1/export/detail?key=\(crawlKey)")["data"] as? [String: Any] ?? [:]
            if detail["status"] as? Int != 1 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(detail["status"] as? Int == 2 && detail["attempt"] as? Int == 2 && detail["gateway"] as? String != killed, "\(detail)")
        let link = try #require(detail["down_url"] as? String, "\(detail)")
        let rows = try await TestSupport.onThread { () -> String in
            let zip = TestSupport.temporaryDirectory("crawl") + "/crawl.zip"
            _ = try TestSupport.run("/usr/bin/env", ["curl", "-s", "-o", zip, link])
            return try TestSupport.run(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(sum(z.read(n).decode().count(chr(10)) for n in z.namelist()))", zip,
                ]
            ).output
        }
        #expect(rows.trimmingCharacters(in: .whitespacesAndNewlines) == "1001", "a header and 1000 rows, once each: \(rows)")

        // Every minute's tick of every scheduled flow ran once, and completed: those from a
        // few seconds after the flows were made (each gateway reads a new flow's schedule
        // within its 5 s upkeep) to a few seconds before now (a tick just reached may still run).
        func minutes(from: Date, to: Date) -> [Int64] {
            let first = (Int64(from.timeIntervalSince1970) / 60 + 1) * 60
            return Array(stride(from: first, through: Int64(to.timeIntervalSince1970), by: 60))
        }
        if minutes(from: scheduledSince.addingTimeInterval(6), to: Date().addingTimeInterval(-10)).isEmpty {
            try await Task.sleep(for: .seconds(70 - Int(Date().timeIntervalSince1970) % 60))  // a whole tick and its run
        }
        let expected = minutes(from: scheduledSince.addingTimeInterval(6), to: Date().addingTimeInterval(-10))
        let ticks = try await TestSupport.onThread {
            try TestSupport.run(
                "/usr/bin/env",
                [
                    "psql", url, "-qAtF", " ", "-c",
                    "SELECT dataflow_id, scheduled_for, count(*), string_agg(status, ',') FROM dataflow_runs WHERE trigger = 'schedule' GROUP BY 1, 2 ORDER BY 1, 2",
                ]
            ).output
        }
        var ran: [Int: [Int64: String]] = [:]
        for line in ticks.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 4, let flow = Int(f[0]), let at = Int64(f[1]) else { continue }
            #expect(f[2] == "1", "tick \(at) of flow \(flow) ran \(f[2]) times")
            ran[flow, default: [:]][at] = f[3]
        }
        #expect(!expected.isEmpty)
        for flow in scheduled {
            for at in expected { #expect(ran[flow]?[at] == "completed", "flow \(flow), tick \(at): \(ran[flow] ?? [:])") }
        }
    }

    /// Seed 003 on three gateways at once: one Jushuitan app, three flows (one a gateway)
    /// pulling its orders into one dataset. The app's limits (5 calls a second) hold for the
    /// three together, its tokens are refreshed one gateway at a time (a second refresh with
    /// a spent refresh token would fail a run), and every order is in the dataset once.
    @Test func jushuitanLimitsHoldAcrossThreeGateways() async throws {
        let url = try await TestSupport.onThread { try TestPostgres.freshDatabase() }
        try await JushuitanTests.withMock { base in
            let config: [String: Any] = [
                "store": ["url": url],
                "dataflows": ["requireToken": false],
                "http": ["allowHosts": ["127.0.0.1"]],
                "datasets": ["jst_orders": ["table": "jst_orders(o_id integer, so_id text, pay_amount real)", "keys": ["o_id"]]],
            ]
            let nodes = try (0..<3).map { _ in try GatewayProcess(config: config) }
            defer { for node in nodes { node.stop() } }
            let connector = try JSONSerialization.jsonObject(with: Data(JushuitanTests.config(base).utf8))
            let flow: [String: Any] = [
                "source": ["type": "plugin", "plugin": "jushuitan", "config": connector],
                "transforms": [["select": ["o_id", "so_id", "pay_amount"]]],
                "target": ["type": "dataset", "id": "jst_orders", "mode": "upsert"],
            ]
            func call(_ node: GatewayProcess, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
                let data = try body.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
                let arguments =
                    ["curl", "-s", "-H", "Content-Type: application/json"] + (data.map { ["-d", $0] } ?? []) + [node.base + "/api/data-flow" + path]
                let output = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", arguments).output }
                return (try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]) ?? [:]
            }
            var flows: [Int] = []
            for (i, node) in nodes.enumerated() {
                let made = try await call(node, "/add-dataflow", ["name": "jst \(i)", "description": "seed 003", "config": flow])
                flows.append(try #require((made["data"] as? [String: Any])?["id"] as? Int, "\(made)"))
            }
            for (node, id) in zip(nodes, flows) {
                let started = try await call(node, "/execute-dataflow/\(id)", [:])
                #expect((started["data"] as? [String: Any])?["execution_id"] is String, "\(started)")
            }
            for (node, id) in zip(nodes, flows) {
                var ended: [String: Any] = [:]
                for _ in 0..<1_200 {
                    ended = try await call(node, "/get-dataflow-status/\(id)")["data"] as? [String: Any] ?? [:]
                    if ["completed", "failed", "cancelled"].contains(ended["status"] as? String ?? "") { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(ended["status"] as? String == "completed" && ended["rows_written"] as? Int == 230, "\(ended)")
                #expect(
                    ended["gateway"] as? String
                        == String(try String(contentsOfFile: "\(node.dataDir)/gateway.id", encoding: .utf8).prefix(64)).trimmingCharacters(
                            in: .whitespacesAndNewlines), "\(ended)")
            }
            // Every order once in the one dataset.
            let rows = try await TestSupport.onThread {
                try TestSupport.run("/usr/bin/env", ["psql", url, "-qAtc", "SELECT count(*) || ' ' || count(DISTINCT o_id) FROM datasets.jst_orders"])
            }
            #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "230 230", "\(rows.output)")
            // The pacer's calls, as the store counted them for the three gateways: never 6 in a second.
            let paced = try await TestSupport.onThread { () -> [Double] in
                var storeConfig = GatewayConfig.defaults.store
                storeConfig.url = url
                let store = try SQLStore.open(storeConfig, dataDirectory: TestSupport.temporaryDirectory("pace"))
                return try PluginCoordination(shared: store).recentCalls(plugin: "jushuitan", bucket: "app")
            }
            #expect(paced.count >= 15, "\(paced.count) calls counted")
            for (i, t) in paced.enumerated() where i >= 5 { #expect(t - paced[i - 5] >= 1.0, "6 calls paced within a second") }
            // At the mock: no gross breach (see JushuitanTests.expectNoGrossBreach), and no
            // minute's limit was ever hit.
            let stats = try JushuitanTests.mock(base, "/stats")
            let calls = (stats["calls"] as? [Double] ?? []).sorted()
            JushuitanTests.expectNoGrossBreach(stats)
            #expect((stats["codes"] as? [String: Any])?["200"] == nil, "\(stats["codes"] ?? [:])")
            print("cluster jushuitan: \(calls.count) calls from 3 gateways, codes \(stats["codes"] ?? [:]), \(stats["refreshes"] ?? 0) refreshes")
        }
    }
}
