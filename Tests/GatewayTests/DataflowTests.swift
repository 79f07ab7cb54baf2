import Foundation
import NIOHTTP1
import Testing
@testable import Host

/// Seed 004 through a live gateway: every route, its errors, and runs that really move rows.
@Suite(.serialized) struct DataflowTests {
    static func gateway(requireToken: Bool = true, _ configure: (inout GatewayConfig) -> Void = { _ in }) throws -> (Gateway, String) {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory]) { config in
            config.dataflows.requireToken = requireToken
            config.datasets = [
                "orders": DatasetDefinition(table: "orders(o_id integer, region text, amount real, day date)", keys: ["o_id"]),
                "orders_copy": DatasetDefinition(table: "orders_copy(o_id integer, area text, amount real, day date, source text)", keys: ["o_id"]),
                "orders_same": DatasetDefinition(table: "orders_same(o_id integer, region text, amount real, day date)", keys: ["o_id"]),
            ]
            configure(&config)
        }
        let (_, token) = try gateway.tokens.create(name: "flows", scopes: ["dataflow"])
        return (gateway, token)
    }

    /// `count` orders in the `orders` dataset.
    static func fillOrders(_ gateway: Gateway, count: Int) throws {
        guard let orders = try gateway.datasets.dataset("orders") else { throw InvalidInput("no orders dataset") }
        try gateway.datasetTables.prepare(orders)
        let db = try SQLiteConnection(path: gateway.datasetsPath)
        try db.transaction {
            for i in 0..<count {
                try db.run(
                    "INSERT INTO orders VALUES (?, ?, ?, ?)",
                    [
                        .int(Int64(i)), .text(["east", "west", "north"][i % 3]),
                        .double(Double(i) + 0.5), .text("2026-11-\(String(format: "%02d", i % 28 + 1))"),
                    ])
            }
        }
    }

    static func call(_ server: TestServer, _ method: HTTPMethod, _ path: String, token: String?, body: Any? = nil) async throws -> (Int, [String: Any]) {
        let text = try body.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let reply = try await server.request(method, "/api/data-flow" + path, headers: headers, body: text)
        return (reply.status, reply.json)
    }

    /// Creates a flow with `config` (no token needed), executes it and waits for its end.
    static func runToEnd(_ server: TestServer, name: String, config: [String: Any]) async throws -> (id: Int, ended: [String: Any]) {
        let created = try await call(server, .POST, "/add-dataflow", token: nil, body: ["name": name, "description": "d", "config": config])
        let id = try #require((created.1["data"] as? [String: Any])?["id"] as? Int, "\(created)")
        _ = try await call(server, .POST, "/execute-dataflow/\(id)", token: nil, body: [:])
        return (id, try await waitForEnd(server, flow: id, token: ""))
    }

    static func waitForEnd(_ server: TestServer, flow: Int, token: String) async throws -> [String: Any] {
        for _ in 0..<600 {
            let (_, status) = try await call(server, .GET, "/get-dataflow-status/\(flow)", token: token)
            let data = status["data"] as? [String: Any] ?? [:]
            if let s = data["status"] as? String, ["completed", "failed", "cancelled"].contains(s) { return data }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw InvalidInput("the run did not end")
    }

    @Test func englishNamesArePinyinWordsAndUnique() {
        #expect(EnglishName.make("客户数据同步流程") == "ke_hu_shu_ju_tong_bu_liu_cheng")
        #expect(EnglishName.make("用户数据ETL流程") == "yong_hu_shu_ju_etl_liu_cheng")
        #expect(EnglishName.make("Daily DataFlow: v2!") == "daily_data_flow_v2")
        #expect(EnglishName.make("！！") == "dataflow")
    }

    @Test func cronTimesFollowTheFieldsAndTheZone() throws {
        let shanghai = try #require(TimeZone(identifier: "Asia/Shanghai"))
        let at2 = try CronSchedule("0 2 * * *", timeZone: shanghai)
        let start = Date(timeIntervalSince1970: 1_763_683_200)  // 2025-11-21 00:00:00 UTC = 08:00 in Shanghai
        #expect(at2.next(after: start) == Date(timeIntervalSince1970: 1_763_683_200 + 18 * 3_600))  // 02:00 next day, Shanghai
        let quarter = try CronSchedule("*/15 9-17 * * mon-fri", timeZone: TimeZone(identifier: "UTC")!)
        // Friday 2025-11-21 17:50 UTC: the next is Monday 09:00.
        #expect(
            quarter.next(after: Date(timeIntervalSince1970: 1_763_683_200 + 17 * 3_600 + 50 * 60))
                == Date(timeIntervalSince1970: 1_763_683_200 + 3 * 86_400 + 9 * 3_600))
        #expect(try CronSchedule("30 0 29 2 *", timeZone: TimeZone(identifier: "UTC")!).next(after: start) != nil)  // leap day, 2028
        for bad in ["* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "5-1 * * * *", "x * * * *"] {
            #expect(throws: CronSchedule.Invalid.self) { try CronSchedule(bad, timeZone: shanghai) }
        }
    }

    @Test func everyRouteAndItsErrors() async throws {
        let (gateway, token) = try Self.gateway()
        try await TestServer.with(gateway) { server in
            // No token, a wrong one.
            #expect(try await Self.call(server, .GET, "/get-dataflows-list", token: nil).0 == 401)
            let (_, other) = try gateway.tokens.create(name: "q", scopes: ["query"])
            #expect(try await Self.call(server, .GET, "/get-dataflows-list", token: other).0 == 403)
            // Required fields, types and the config's shape.
            for (body, message) in [
                (["description": "d"], "参数错误: 缺少必填字段: name"),
                (["name": "n"], "参数错误: 缺少必填字段: description"),
                (["name": "n", "description": "d", "status": "paused"], "参数错误: status must be \"active\" or \"inactive\", not 'paused'"),
                (["name": "n", "description": "d", "config": "x"], "参数错误: config must be a JSON object"),
                (
                    ["name": "n", "description": "d", "config": ["schedule": "every day"]],
                    "参数错误: config.schedule: schedule 'every day' must have 5 fields (minute hour day month weekday), not 2"
                ),
                (
                    ["name": "n", "description": "d", "config": ["transforms": [["explode": ["a"]]]]],
                    "参数错误: config.transforms[0]: unknown transform 'explode' (use select, rename, cast, constant, filter or dedupe)"
                ),
                (["name": "n", "description": "d", "children_ids": [99]], "children_ids: there is no dataflow 99"),
                (["name": "n", "description": "d", "tag_id": 7], "tag_id: there is no tag 7 (create one with POST /api/data-flow/add-tag)"),
            ] as [([String: Any], String)] {
                let (status, reply) = try await Self.call(server, .POST, "/add-dataflow", token: token, body: body)
                #expect(status == 400 && reply["code"] as? Int == 400, "\(body)")
                #expect(reply["message"] as? String == message)
                #expect(reply["data"] is NSNull)
            }
            // Create with defaults; config comes back as the text given, keys in order.
            let (status, created) = try await Self.call(server, .POST, "/add-dataflow", token: token, body: ["name": "客户数据同步流程", "description": "同步"])
            #expect(status == 200 && created["message"] as? String == "数据流创建成功")
            let flow = try #require(created["data"] as? [String: Any])
            #expect(flow["status"] as? String == "inactive" && flow["created_by"] as? String == "system" && flow["config"] as? String == "{}")
            #expect(flow["en_name"] as? String == "ke_hu_shu_ju_tong_bu_liu_cheng")
            let id = try #require(flow["id"] as? Int)
            let tag = try await Self.call(server, .POST, "/add-tag", token: token, body: ["name": "ETL"]).1["data"] as? [String: Any]
            let tagId = try #require(tag?["id"] as? Int)
            let rawConfig = #"{"target":{"type":"dataset","id":"orders_copy"},"source":{"type":"mysql","host":"h"},"schedule":"0 2 * * *","batch_size":1000}"#
            let second = try await server.request(
                .POST, "/api/data-flow/add-dataflow", headers: [("Authorization", "Bearer \(token)")],
                body:
                    #"{"name":"客户数据同步流程","description":"子流程","status":"active","created_by":"admin","config":\#(rawConfig),"children_ids":[\#(id)],"tag_id":\#(tagId)}"#
            )
            let child = try #require(second.json["data"] as? [String: Any])
            #expect(child["en_name"] as? String == "ke_hu_shu_ju_tong_bu_liu_cheng_2")
            #expect(child["config"] as? String == rawConfig)
            let parentId = try #require(child["id"] as? Int)
            // Detail: tags, children, parents, the next scheduled time.
            let detail = try await Self.call(server, .GET, "/get-dataflow/\(parentId)", token: token).1["data"] as? [String: Any] ?? [:]
            #expect((detail["tags"] as? [[String: Any]])?.first?["name"] as? String == "ETL")
            #expect((detail["children"] as? [[String: Any]])?.map { $0["id"] as? Int } == [id])
            #expect(detail["next_run_at"] is String)
            let childDetail = try await Self.call(server, .GET, "/get-dataflow/\(id)", token: token).1["data"] as? [String: Any] ?? [:]
            #expect((childDetail["parents"] as? [[String: Any]])?.map { $0["id"] as? Int } == [parentId])
            // A cycle is refused.
            let cycle = try await Self.call(server, .PUT, "/update-dataflow/\(id)", token: token, body: ["children_ids": [parentId]])
            #expect(cycle.0 == 400 && ((cycle.1["message"] as? String) ?? "").contains("would make a cycle"))
            // Partial update.
            let updated = try await Self.call(server, .PUT, "/update-dataflow/\(id)", token: token, body: ["description": "新的", "config": ["timeout": 300]])
            #expect((updated.1["data"] as? [String: Any])?["description"] as? String == "新的")
            #expect((updated.1["data"] as? [String: Any])?["name"] as? String == "客户数据同步流程")
            #expect((updated.1["data"] as? [String: Any])?["config"] as? String == #"{"timeout":300}"#)
            // List: search over name and description, pagination.
            let list =
                try await Self.call(server, .GET, "/get-dataflows-list?page=1&page_size=1&search=%E5%AD%90%E6%B5%81", token: token).1["data"] as? [String: Any]
                ?? [:]
            #expect((list["list"] as? [[String: Any]])?.count == 1)
            #expect((list["pagination"] as? [String: Any])?["total"] as? Int == 1)
            #expect(try await Self.call(server, .GET, "/get-dataflows-list?page_size=101", token: token).0 == 400)
            let all = try await Self.call(server, .GET, "/get-dataflows-list", token: token).1["data"] as? [String: Any] ?? [:]
            #expect((all["pagination"] as? [String: Any])?["total_pages"] as? Int == 1)
            // Unknown ids.
            for path in ["/get-dataflow/999", "/get-dataflow-status/999", "/get-dataflow-logs/999"] {
                let (code, reply) = try await Self.call(server, .GET, path, token: token)
                #expect(code == 404 && reply["code"] as? Int == 404, "\(path)")
            }
            #expect(try await Self.call(server, .GET, "/get-dataflow/abc", token: token).0 == 400)
            #expect(try await Self.call(server, .DELETE, "/delete-dataflow/999", token: token).0 == 404)
            // A never-run flow's status.
            let never = try await Self.call(server, .GET, "/get-dataflow-status/\(id)", token: token).1["data"] as? [String: Any] ?? [:]
            #expect(never["status"] is NSNull && never["progress"] as? Int == 0)
            // The doc's mysql config is stored, and its run fails saying what is missing.
            let run = try await Self.call(server, .POST, "/execute-dataflow/\(parentId)", token: token, body: ["params": ["start_date": "2023-12-01"]])
            #expect(run.0 == 200 && run.1["message"] as? String == "数据流执行成功")
            let started = try #require(run.1["data"] as? [String: Any])
            #expect(((started["execution_id"] as? String) ?? "").hasPrefix("exec_\(parentId)_"))
            #expect((started["params"] as? [String: Any])?["start_date"] as? String == "2023-12-01")
            let ended = try await Self.waitForEnd(server, flow: parentId, token: token)
            #expect(ended["status"] as? String == "failed")
            let reason = (ended["error_message"] as? String) ?? ""
            #expect(reason.contains("source type 'mysql' is not available"), "\(ended)")
            let logs = try await Self.call(server, .GET, "/get-dataflow-logs/\(parentId)?level=ERROR", token: token).1["data"] as? [String: Any] ?? [:]
            let firstError = ((logs["logs"] as? [[String: Any]])?.first?["message"] as? String) ?? ""
            #expect(firstError.contains("failed"))
            // Delete takes its relations with it.
            #expect(try await Self.call(server, .DELETE, "/delete-dataflow/\(parentId)", token: token).0 == 200)
            let orphan = try await Self.call(server, .GET, "/get-dataflow/\(id)", token: token).1["data"] as? [String: Any] ?? [:]
            #expect((orphan["parents"] as? [Any])?.isEmpty == true)
            // No script endpoint configured: 503 saying how to configure one.
            let script = try await Self.call(server, .POST, "/create-script", token: token, body: ["request_data": "a CSV script"])
            #expect(script.0 == 503 && ((script.1["message"] as? String) ?? "").contains("dataflows.script.baseUrl"))
        }
    }

    @Test func aRunCopiesADatasetThroughTransformsAndAFailedRunLeavesTheTargetAsItWas() async throws {
        let (gateway, token) = try Self.gateway()
        try Self.fillOrders(gateway, count: 5_000)
        try await TestServer.with(gateway) { server in
            let config: [String: Any] = [
                "source": ["type": "dataset", "id": "orders"],
                "transforms": [
                    ["filter": ["column": "region", "op": "in", "value": ["east", "west"]]],
                    ["rename": ["region": "area"]],
                    ["constant": ["source": "flow"]],
                    ["dedupe": ["o_id"]],
                ],
                "target": ["type": "dataset", "id": "orders_copy", "mode": "replace"],
                "batch_size": 700,
            ]
            let created = try await Self.call(
                server, .POST, "/add-dataflow", token: token, body: ["name": "copy", "description": "orders → copy", "config": config])
            let id = try #require((created.1["data"] as? [String: Any])?["id"] as? Int)
            _ = try await Self.call(server, .POST, "/execute-dataflow/\(id)", token: token, body: [:])
            let ended = try await Self.waitForEnd(server, flow: id, token: token)
            #expect(ended["status"] as? String == "completed" && ended["progress"] as? Int == 100, "\(ended)")
            let expected = (0..<5_000).filter { $0 % 3 != 2 }.count
            #expect(ended["rows_written"] as? Int == expected && ended["rows_read"] as? Int == 5_000)
            let db = try SQLiteConnection(path: gateway.datasetsPath)
            #expect(
                try db.query("SELECT count(*), count(DISTINCT area), min(source) FROM orders_copy").first == [.int(Int64(expected)), .int(2), .text("flow")])
            // Now a cast that fails on a later batch: the replace is rolled back whole.
            var failing = config
            failing["transforms"] = [["rename": ["region": "area"]], ["constant": ["source": "flow"]], ["cast": ["o_id": "date"]]]
            _ = try await Self.call(server, .PUT, "/update-dataflow/\(id)", token: token, body: ["config": failing])
            let run = try await Self.call(server, .POST, "/execute-dataflow/\(id)", token: token, body: [:])
            #expect(run.0 == 200)
            let failed = try await Self.waitForEnd(server, flow: id, token: token)
            #expect(failed["status"] as? String == "failed")
            let failure = (failed["error_message"] as? String) ?? ""
            #expect(failure.contains("is not a date32 value"), "\(failed)")
            #expect(try db.query("SELECT count(*) FROM orders_copy").first == [.int(Int64(expected))])
            // History and logs of both runs.
            let runs = try await Self.call(server, .GET, "/get-dataflow-runs/\(id)", token: token).1["data"] as? [String: Any] ?? [:]
            #expect((runs["runs"] as? [[String: Any]])?.map { $0["status"] as? String } == ["failed", "completed"])
            let logs = try await Self.call(server, .GET, "/get-dataflow-logs/\(id)?page_size=100", token: token).1["data"] as? [String: Any] ?? [:]
            let components = Set((logs["logs"] as? [[String: Any]] ?? []).compactMap { $0["component"] as? String })
            #expect(components.isSuperset(of: ["dataflow", "source", "transform", "target"]))
        }
    }

    @Test func oneRunAtATimeCancelAndExportTargets() async throws {
        let (gateway, token) = try Self.gateway()
        try Self.fillOrders(gateway, count: 2_000)
        try await TestServer.with(gateway) { server in
            // A slow source: SQL that takes a while per row.
            let slow: [String: Any] = [
                "source": [
                    "type": "sql", "query": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) SELECT count(*) AS c FROM n",
                ],
                "target": ["type": "dataset", "id": "orders_copy"],
            ]
            let created = try await Self.call(server, .POST, "/add-dataflow", token: token, body: ["name": "slow", "description": "d", "config": slow])
            let id = try #require((created.1["data"] as? [String: Any])?["id"] as? Int)
            let first = try await Self.call(server, .POST, "/execute-dataflow/\(id)", token: token, body: [:])
            let execution = try #require((first.1["data"] as? [String: Any])?["execution_id"] as? String)
            let second = try await Self.call(server, .POST, "/execute-dataflow/\(id)", token: token, body: [:])
            #expect(second.0 == 409 && ((second.1["message"] as? String) ?? "").contains(execution))
            let cancel = try await Self.call(server, .POST, "/cancel-execution/\(execution)", token: token)
            #expect(cancel.0 == 200)
            let ended = try await Self.waitForEnd(server, flow: id, token: token)
            #expect(ended["status"] as? String == "cancelled")
            #expect(try await Self.call(server, .POST, "/cancel-execution/\(execution)", token: token).0 == 409)
            #expect(try await Self.call(server, .POST, "/cancel-execution/exec_0_0", token: token).0 == 404)

            // An export target: a CSV file read back through seed 002's detail and download.
            let export: [String: Any] = [
                "source": ["type": "sql", "query": "SELECT o_id, region FROM orders WHERE o_id < :n ORDER BY o_id"],
                "target": ["type": "export", "format": "csv", "title": "first orders"],
            ]
            let made = try await Self.call(server, .POST, "/add-dataflow", token: token, body: ["name": "export", "description": "d", "config": export])
            let exportId = try #require((made.1["data"] as? [String: Any])?["id"] as? Int)
            _ = try await Self.call(server, .POST, "/execute-dataflow/\(exportId)", token: token, body: ["params": ["n": 10]])
            let done = try await Self.waitForEnd(server, flow: exportId, token: token)
            #expect(done["status"] as? String == "completed" && done["rows_written"] as? Int == 10, "\(done)")
            let key = try #require(done["export_key"] as? String)
            let (_, admin) = try gateway.tokens.create(name: "a", scopes: ["admin", "export"])
            let detail = try await server.request(.GET, "/v1/export/detail?key=\(key)", headers: [("Authorization", "Bearer \(admin)")])
            let url = try #require((detail.json["data"] as? [String: Any])?["down_url"] as? String)
            let zip = try await server.request(.GET, String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }))
            #expect(zip.status == 200 && zip.body.starts(with: [0x50, 0x4B]))
        }
    }

    /// The document's own client class and workflow, unchanged but for the base URL and a
    /// token (sent as a default header), against a live gateway.
    @Test func theDocumentsClientWorkflow() async throws {
        let (gateway, token) = try Self.gateway()
        try Self.fillOrders(gateway, count: 100)
        try await TestServer.with(gateway) { server in
            let result = try await TestSupport.onThread {
                try TestSupport.run("/usr/bin/env", ["python3", TestSupport.fixtures + "/dataflow_client.py", server.base + "/api/data-flow", token])
            }
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("最终状态: failed"), "\(result.output)")  // the doc's config names "mysql"
            #expect(result.output.contains("copy final: completed"), "\(result.output)")
        }
    }

    /// Seed 003 end to end as a flow: Jushuitan orders → mapping → a dataset keyed by o_id.
    /// Each run fetches only what changed since the last delivered one; a failed run leaves
    /// the table and the cursor as they were, and the next run delivers what it missed.
    @Test func seed003AsAFlowDeliversEveryOrderOnce() async throws {
        try await JushuitanTests.withMock { base in
            let (gateway, token) = try Self.gateway { config in
                config.datasets["jst_orders"] = DatasetDefinition(
                    table: "jst_orders(o_id integer, so_id text, modified text, pay_amount real, shop text)", keys: ["o_id"])
            }
            let connector = try JSONSerialization.jsonObject(
                with: Data(
                    JushuitanTests.config(base).replacingOccurrences(
                        of: #","end":"2026-11-20 00:00:00""#, with: #","lag_seconds":0"#
                    ).utf8))
            let config: [String: Any] = [
                "source": ["type": "plugin", "plugin": "jushuitan", "config": connector],
                "transforms": [["select": ["o_id", "so_id", "modified", "pay_amount", "shop.name"]], ["rename": ["shop.name": "shop"]]],
                "target": ["type": "dataset", "id": "jst_orders", "mode": "upsert"],
            ]
            try await TestServer.with(gateway) { server in
                let created = try await Self.call(
                    server, .POST, "/add-dataflow", token: token, body: ["name": "聚水潭订单同步", "description": "seed 003", "config": config])
                let id = try #require((created.1["data"] as? [String: Any])?["id"] as? Int)
                let db = try SQLiteConnection(path: gateway.datasetsPath)
                func run() async throws -> [String: Any] {
                    let started = try await Self.call(server, .POST, "/execute-dataflow/\(id)", token: token, body: [:])
                    #expect(started.0 == 200, "\(started.1)")
                    return try await Self.waitForEnd(server, flow: id, token: token)
                }
                func count() throws -> [SQLValue]? { try db.query("SELECT count(*), count(DISTINCT o_id) FROM jst_orders").first }

                let first = try await run()
                #expect(first["status"] as? String == "completed" && first["rows_written"] as? Int == 230, "\(first)")
                #expect(try count() == [.int(230), .int(230)])
                #expect(try db.query("SELECT shop, pay_amount FROM jst_orders WHERE o_id = 1000").first == [.text("旗舰店"), .double(0.5)])

                _ = try JushuitanTests.mock(base, "/control", post: ["add_orders": 3])
                try await Task.sleep(for: .milliseconds(1_100))
                let second = try await run()
                #expect(second["status"] as? String == "completed" && second["rows_written"] as? Int == 3, "\(second)")
                #expect(try count() == [.int(233), .int(233)])

                // The platform fails: the run fails, nothing is written, the cursor stays.
                _ = try JushuitanTests.mock(base, "/control", post: ["add_orders": 2, "fail_after": 0])
                try await Task.sleep(for: .milliseconds(1_100))
                let failed = try await run()
                #expect(failed["status"] as? String == "failed", "\(failed)")
                #expect(try count() == [.int(233), .int(233)])
                _ = try JushuitanTests.mock(base, "/control", post: ["fail_after": NSNull()])
                let third = try await run()
                #expect(third["status"] as? String == "completed" && third["rows_written"] as? Int == 2, "\(third)")
                #expect(try count() == [.int(235), .int(235)])
            }
        }
    }

    /// A run left running by a gateway that stopped ends failed when the gateway starts again.
    @Test func aRunLeftRunningEndsInterruptedByRestart() throws {
        let (gateway, _) = try Self.gateway()
        let flow = try gateway.store.insertDataflow(
            .init(name: "n", description: "d", status: "inactive", createdBy: "t", config: "{}", childrenIds: [], tagId: nil), enNameBase: "n")
        let run = try gateway.store.insertRun(flow: flow.id, trigger: "manual", params: "{}")
        try gateway.store.markRunning(run: run.id)
        #expect(throws: RunConflict.self) { try gateway.store.insertRun(flow: flow.id, trigger: "manual", params: "{}") }
        let again = try Gateway(config: gateway.config)
        let ended = try #require(try again.store.run(executionId: run.executionId))
        #expect(ended.status == .failed && ended.errorMessage == "interrupted by restart")
        // The store's own constraint holds even past the check in code.
        #expect(throws: (any Error).self) {
            try again.sql { db in
                try db.run(
                    "INSERT INTO dataflow_runs (execution_id, dataflow_id, status, trigger, params, started_at) VALUES ('a', ?, 'running', 'm', '{}', 0)",
                    [.int(flow.id)])
                try db.run(
                    "INSERT INTO dataflow_runs (execution_id, dataflow_id, status, trigger, params, started_at) VALUES ('b', ?, 'pending', 'm', '{}', 0)",
                    [.int(flow.id)])
            }
        }
    }

    /// create-script through a local OpenAI-compatible endpoint: the script, and each failure
    /// as a clear error.
    @Test func createScriptAsksTheConfiguredEndpoint() async throws {
        try await TestSupport.withHelperServer("chat_mock.py") { port in
            let (gateway, token) = try Self.gateway { config in
                config.dataflows.script = .init(baseUrl: "http://127.0.0.1:\(port)/v1", model: "deepseek-chat", apiKey: "sk-test", timeoutSeconds: 2)
            }
            try await TestServer.with(gateway) { server in
                let ok = try await Self.call(server, .POST, "/create-script", token: token, body: ["request_data": "读取销售数据"])
                #expect(ok.0 == 200 && ok.1["message"] as? String == "脚本生成成功")
                let data = ok.1["data"] as? [String: Any] ?? [:]
                #expect(data["script_content"] as? String == "# 读取销售数据\nprint('ok')" && data["format"] as? String == "txt")
                let missing = try await Self.call(server, .POST, "/create-script", token: token, body: ["request_data": " "])
                #expect(missing.0 == 400 && missing.1["message"] as? String == "参数错误: 缺少必填字段: request_data")
                let failed = try await Self.call(server, .POST, "/create-script", token: token, body: ["request_data": "fail"])
                #expect(failed.0 == 502 && failed.1["message"] as? String == "the script endpoint answered HTTP 500: overloaded")
                let slow = try await Self.call(server, .POST, "/create-script", token: token, body: ["request_data": "slow"])
                #expect(slow.0 == 504, "\(slow.1)")
            }
        }
    }

    /// Scheduled runs: an active flow runs at its cron times; missed times are not caught
    /// up; a time that finds it still running is skipped with a WARNING.
    @Test func schedulesFireAtTheirTimesAndSkipWhileRunning() throws {
        let (gateway, _) = try Self.gateway()
        let config =
            #"{"schedule":"*/5 * * * *","timezone":"UTC","source":{"type":"sql","query":"SELECT 1 AS o_id"},"target":{"type":"dataset","id":"orders_copy"}}"#
        let flow = try gateway.store.insertDataflow(
            .init(name: "s", description: "d", status: "active", createdBy: "t", config: config, childrenIds: [], tagId: nil), enNameBase: "s")
        let flows = gateway.dataflows
        let t0 = Date(timeIntervalSince1970: 1_763_683_200 + 60)  // 00:01 UTC
        flows.runSchedules(now: t0)  // learns: next is 00:05
        #expect(flows.nextRun(of: flow, now: t0) == Date(timeIntervalSince1970: 1_763_683_200 + 300))
        flows.runSchedules(now: t0.addingTimeInterval(120))  // 00:03: not yet
        #expect(try gateway.store.latestRun(flow: flow.id) == nil)
        // A run is still going at 00:05: that time is skipped with a warning.
        let blocking = try gateway.store.insertRun(flow: flow.id, trigger: "manual", params: "{}")
        flows.runSchedules(now: t0.addingTimeInterval(240))
        let warnings = try gateway.store.flowLogs(flow.id, page: 1, pageSize: 10, level: .warning, runId: nil, newestFirst: false).list
        #expect(warnings.contains { $0.message.contains("scheduled run skipped") && $0.component == "scheduler" })
        try gateway.store.finishRun(run: blocking.id, status: .completed)
        // Hours later (missed times are not caught up): one run, at once.
        flows.runSchedules(now: t0.addingTimeInterval(3 * 3_600))
        let scheduled = try #require(try gateway.store.latestRun(flow: flow.id))
        #expect(scheduled.trigger == "schedule" && scheduled.id != blocking.id)
        #expect(try gateway.store.runs(flow: flow.id, page: 1, pageSize: 10).total == 2)
    }

    /// Same columns and types at both ends, no transform: one INSERT … SELECT, with params as
    /// filters, an upsert on the keys, and the same rows the pump would have written.
    @Test func aPlainDatasetCopyRunsInsideTheDatasetsFile() async throws {
        let (gateway, token) = try Self.gateway()
        try Self.fillOrders(gateway, count: 300)
        try await TestServer.with(gateway) { server in
            let config: [String: Any] = ["source": ["type": "dataset", "id": "orders"], "target": ["type": "dataset", "id": "orders_same", "mode": "upsert"]]
            let created = try await Self.call(server, .POST, "/add-dataflow", token: token, body: ["name": "same", "description": "d", "config": config])
            let id = try #require((created.1["data"] as? [String: Any])?["id"] as? Int)
            for _ in 0..<2 {  // twice: the upsert keeps one row per key
                _ = try await Self.call(server, .POST, "/execute-dataflow/\(id)", token: token, body: ["params": ["region": ["east", "west"]]])
                let ended = try await Self.waitForEnd(server, flow: id, token: token)
                #expect(ended["status"] as? String == "completed" && ended["rows_written"] as? Int == 200, "\(ended)")
            }
            let db = try SQLiteConnection(path: gateway.datasetsPath)
            #expect(
                try db.query("SELECT count(*), sum(amount), min(day), max(region) FROM orders_same").first
                    == db.query("SELECT count(*), sum(amount), min(day), max(region) FROM orders WHERE region IN ('east', 'west')").first)
            let logs = try await Self.call(server, .GET, "/get-dataflow-logs/\(id)?page_size=100", token: token).1["data"] as? [String: Any] ?? [:]
            #expect((logs["logs"] as? [[String: Any]] ?? []).contains { ($0["message"] as? String ?? "").contains("copied in one INSERT … SELECT") })
            // A param that is no column is recorded, not a filter and not an error (seed 004's
            // clients send run options there): the run's log names it. (A flow that declares
            // its params refuses it at execute: ExecuteParamsTests.)
            _ = try await Self.call(server, .POST, "/execute-dataflow/\(id)", token: token, body: ["params": ["regoin": "east"]])
            let unfiltered = try await Self.waitForEnd(server, flow: id, token: token)
            #expect(unfiltered["status"] as? String == "completed" && unfiltered["rows_written"] as? Int == 300, "\(unfiltered)")
            let recorded =
                try await Self.call(server, .GET, "/get-dataflow-logs/\(id)?page_size=100&order=desc", token: token).1["data"] as? [String: Any] ?? [:]
            #expect(
                (recorded["logs"] as? [[String: Any]] ?? []).contains {
                    ($0["message"] as? String ?? "") == "params not read by dataset 'orders', recorded on the run: regoin"
                }, "\(recorded)")
            // Unfiltered, replacing: the whole table in SQLite's transfer form, every row as it was.
            let whole: [String: Any] = ["source": ["type": "dataset", "id": "orders"], "target": ["type": "dataset", "id": "orders_same", "mode": "replace"]]
            let wholeFlow = try await Self.call(server, .POST, "/add-dataflow", token: token, body: ["name": "whole", "description": "d", "config": whole])
            let wholeId = try #require((wholeFlow.1["data"] as? [String: Any])?["id"] as? Int)
            _ = try await Self.call(server, .POST, "/execute-dataflow/\(wholeId)", token: token, body: [:])
            let copied = try await Self.waitForEnd(server, flow: wholeId, token: token)
            #expect(copied["status"] as? String == "completed" && copied["rows_written"] as? Int == 300, "\(copied)")
            for (a, b) in [("orders", "orders_same"), ("orders_same", "orders")] {
                #expect(try db.query("SELECT count(*) FROM (SELECT * FROM \(a) EXCEPT SELECT * FROM \(b))").first == [.int(0)])
            }
        }
    }

    /// The gateway killed (SIGKILL) in the middle of a run that replaces a dataset: after the
    /// restart the run is failed, "interrupted by restart", and the table is as it was.
    @Test func aKilledGatewayLeavesTheTargetAsItWas() async throws {
        let config: [String: Any] = ["datasets": ["big": ["table": "big(n integer)"]]]
        let first = try GatewayProcess(config: config)
        let token = first.adminToken
        func call(_ g: GatewayProcess, _ method: String, _ path: String, _ body: String? = nil) throws -> [String: Any] {
            let result = try TestSupport.run(
                "/usr/bin/env",
                [
                    "curl", "-s", "-X", method, "-H", "Authorization: Bearer \(token)",
                    "-H", "Content-Type: application/json",
                ] + (body.map { ["-d", $0] } ?? []) + [g.base + "/api/data-flow" + path])
            return (try? JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]) ?? [:]
        }
        // 1,000 rows to keep; then a run that replaces them with 50 million, killed half-way.
        let seed =
            #"{"name":"seed","description":"d","config":{"source":{"type":"sql","query":"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000) SELECT n FROM c"},"target":{"type":"dataset","id":"big","mode":"replace"},"transforms":[{"select":["n"]}]}}"#
        let seedId = try #require((try call(first, "POST", "/add-dataflow", seed)["data"] as? [String: Any])?["id"] as? Int)
        _ = try call(first, "POST", "/execute-dataflow/\(seedId)", "{}")
        for _ in 0..<200 where (try call(first, "GET", "/get-dataflow-status/\(seedId)")["data"] as? [String: Any])?["status"] as? String != "completed" {
            try await Task.sleep(for: .milliseconds(50))
        }
        let flow =
            #"{"name":"huge","description":"d","config":{"source":{"type":"sql","query":"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 50000000) SELECT n FROM c"},"target":{"type":"dataset","id":"big","mode":"replace"},"transforms":[{"select":["n"]}]}}"#
        let id = try #require((try call(first, "POST", "/add-dataflow", flow)["data"] as? [String: Any])?["id"] as? Int)
        let execution = try #require((try call(first, "POST", "/execute-dataflow/\(id)", "{}")["data"] as? [String: Any])?["execution_id"] as? String)
        // Rows are being written when the process dies.
        var written = 0
        for _ in 0..<400 where written < 100_000 {
            try await Task.sleep(for: .milliseconds(50))
            written = (try call(first, "GET", "/get-dataflow-status/\(id)")["data"] as? [String: Any])?["rows_written"] as? Int ?? 0
        }
        #expect(written >= 100_000)
        kill(first.process.pid, SIGKILL)
        first.process.wait()

        let second = try GatewayProcess(config: config, restarting: first)
        defer { second.stop() }
        let status = try call(second, "GET", "/get-dataflow-status/\(id)")["data"] as? [String: Any] ?? [:]
        #expect(status["execution_id"] as? String == execution)
        #expect(status["status"] as? String == "failed" && status["error_message"] as? String == "interrupted by restart", "\(status)")
        let db = try SQLiteConnection(path: "\(second.dataDir)/datasets.sqlite")
        #expect(try db.query("SELECT count(*), sum(n) FROM big").first == [.int(1_000), .int(500_500)])
    }
}
