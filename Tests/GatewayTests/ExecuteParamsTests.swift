import Foundation
import NIOHTTP1
import Testing
@testable import Host

/// Seed 004's execute `params`, sent as the seed's own examples send them, on every kind of
/// source: run options are honoured, variables the source reads bind, the rest is recorded
/// (never a failed run), and a flow that declares its params refuses others at execute.
@Suite(.serialized) struct ExecuteParamsTests {
    /// The seed's two request bodies, verbatim.
    static let seedDates = #"{"params": {"start_date": "2023-12-01", "end_date": "2023-12-07", "force_refresh": true}}"#
    static let seedWorkers = #"{"params": {"batch_size": 500, "parallel_workers": 4}}"#

    static func execute(_ server: TestServer, _ token: String, _ flow: Int, body: String) async throws -> (Int, [String: Any]) {
        let reply = try await server.request(
            .POST, "/api/data-flow/execute-dataflow/\(flow)",
            headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(token)")], body: body)
        return (reply.status, reply.json)
    }

    static func logs(_ server: TestServer, _ token: String, _ flow: Int) async throws -> [String] {
        let data = try await DataflowTests.call(server, .GET, "/get-dataflow-logs/\(flow)?page_size=100", token: token).1["data"] as? [String: Any] ?? [:]
        return (data["logs"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
    }

    @Test func theSeedsExamplesRunOnEverySourceKind() async throws {
        let (gateway, token) = try DataflowTests.gateway()
        try DataflowTests.fillOrders(gateway, count: 1_200)
        try await TestServer.with(gateway) { server in
            let target: [String: Any] = ["type": "export", "format": "csv"]
            let dataset = try await HardeningRound2Tests.flow(
                server, token, name: "from a dataset", config: ["source": ["type": "dataset", "id": "orders"], "target": target])
            let sql = try await HardeningRound2Tests.flow(
                server, token, name: "from SQL",
                config: ["source": ["type": "sql", "query": "SELECT o_id, day FROM orders WHERE day >= :start_date"], "target": target])
            let plugin = try await HardeningRound2Tests.flow(
                server, token, name: "from a plugin",
                config: ["source": ["type": "plugin", "plugin": "example.sequence", "config": ["rows": 1_200]], "target": target])
            for flow in [dataset, sql, plugin] {
                for body in [Self.seedDates, Self.seedWorkers] {
                    let started = try await Self.execute(server, token, flow, body: body)
                    #expect(started.0 == 200 && (started.1["data"] as? [String: Any])?["status"] != nil, "\(started)")
                    let ended = try await DataflowTests.waitForEnd(server, flow: flow, token: token)
                    #expect(ended["status"] as? String == "completed", "flow \(flow) with \(body): \(ended)")
                    #expect(
                        ended["params"] as? [String: AnyHashable] == (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["params"]
                            as? [String: AnyHashable])
                }
            }
            // What each run did with them, in its log.
            let datasetLog = try await Self.logs(server, token, dataset)
            #expect(datasetLog.contains("params not read by dataset 'orders', recorded on the run: end_date, start_date"), "\(datasetLog)")
            #expect(datasetLog.contains("params not read by dataset 'orders', recorded on the run: parallel_workers"))
            #expect(datasetLog.contains("run option force_refresh: dataset 'orders' keeps no cursor: every run reads it whole"))
            #expect(datasetLog.contains("run option batch_size: 500 rows per batch"))
            #expect(datasetLog.contains { $0.hasPrefix("wrote 1200 rows into a CSV export") && $0.hasSuffix("in 3 batches") }, "\(datasetLog)")
            let sqlLog = try await Self.logs(server, token, sql)
            #expect(sqlLog.contains("params not read by SQL over the datasets, recorded on the run: end_date"), "\(sqlLog)")
            let pluginLog = try await Self.logs(server, token, plugin)
            #expect(!pluginLog.contains { $0.hasPrefix("params not read") }, "\(pluginLog)")
            #expect(pluginLog.contains("run option force_refresh: the source plugin reads from its configured start, not its saved cursor"))
        }
    }

    /// A flow that declares its params is strict: an unknown one, or a required one missing,
    /// is the execute's 400, before any run starts; run options stay allowed; defaults fill in.
    @Test func declaredParamsAreCheckedAtExecute() async throws {
        let (gateway, token) = try DataflowTests.gateway()
        try DataflowTests.fillOrders(gateway, count: 30)
        try await TestServer.with(gateway) { server in
            let config: [String: Any] = [
                "source": ["type": "dataset", "id": "orders"], "target": ["type": "export", "format": "csv"],
                "params": ["region": ["default": "east"], "since": ["required": true]],
            ]
            let flow = try await HardeningRound2Tests.flow(server, token, name: "strict", config: config)
            let missing = try await Self.execute(server, token, flow, body: #"{"params": {}}"#)
            #expect(missing.0 == 400 && missing.1["message"] as? String == "参数错误: params.since is required by this dataflow (config.params)", "\(missing)")
            let unknown = try await Self.execute(server, token, flow, body: #"{"params": {"since": "2026-11-01", "regoin": "west"}}"#)
            #expect(
                unknown.0 == 400
                    && unknown.1["message"] as? String == "参数错误: params 'regoin' are not parameters of this dataflow (config.params declares region, since)",
                "\(unknown)")
            let badOption = try await Self.execute(server, token, flow, body: #"{"params": {"since": "x", "batch_size": "many"}}"#)
            #expect(
                badOption.0 == 400 && badOption.1["message"] as? String == "参数错误: params.batch_size must be a whole number from 1 to 1000000", "\(badOption)")
            #expect(
                try await DataflowTests.call(server, .GET, "/get-dataflow-status/\(flow)", token: token).1["data"].map {
                    ($0 as? [String: Any])?["status"] is NSNull
                } == true)
            // region defaults to east (a column: it filters); since is no column: recorded.
            let ok = try await Self.execute(server, token, flow, body: #"{"params": {"since": "2026-11-01", "batch_size": 5}}"#)
            #expect(ok.0 == 200, "\(ok)")
            let ended = try await DataflowTests.waitForEnd(server, flow: flow, token: token)
            #expect(ended["status"] as? String == "completed" && ended["rows_written"] as? Int == 10, "\(ended)")
            let bad: [String: Any] = ["name": "bad", "description": "d", "config": ["params": ["x": ["requried": true]]]]
            let refused = try await DataflowTests.call(server, .POST, "/add-dataflow", token: token, body: bad)
            #expect(
                refused.0 == 400 && refused.1["message"] as? String == "参数错误: config.params.x: unknown key 'requried' (use required, default)", "\(refused)")
        }
    }

    /// The incremental Jushuitan connector reads a date window from start_date and end_date
    /// (a backfill: its cursor stays), and force_refresh reads from its configured start.
    @Test func anIncrementalPluginHonoursTheWindowAndForceRefresh() async throws {
        try await JushuitanTests.withMock { base in
            let (gateway, token) = try DataflowTests.gateway { config in
                config.datasources = [
                    "jst": DatasourceDefinition(
                        plugin: "jushuitan", config: try! JSONDecoder().decode(JSONValue.self, from: Data(JushuitanTests.config(base).utf8)))
                ]
            }
            try await TestServer.with(gateway) { server in
                let flow = try await HardeningRound2Tests.flow(
                    server, token, name: "orders",
                    config: [
                        "source": ["type": "datasource", "id": "jst"], "target": ["type": "export", "format": "csv"],
                    ])
                func run(_ body: String) async throws -> Int {
                    let started = try await Self.execute(server, token, flow, body: body)
                    #expect(started.0 == 200, "\(started)")
                    let ended = try await DataflowTests.waitForEnd(server, flow: flow, token: token)
                    #expect(ended["status"] as? String == "completed", "\(ended)")
                    return ended["rows_read"] as? Int ?? -1
                }
                #expect(try await run(#"{"params": {"start_date": "2026-11-01", "end_date": "2026-11-01"}}"#) == 13)
                #expect(try await run(Self.seedDates) == 0)  // 2023: no orders then
                #expect(try await run(#"{"params": {}}"#) == 230)  // the windows left the cursor at the start
                #expect(try await run(#"{"params": {}}"#) == 0)
                #expect(try await run(#"{"params": {"force_refresh": true}}"#) == 230)
            }
        }
    }
}
