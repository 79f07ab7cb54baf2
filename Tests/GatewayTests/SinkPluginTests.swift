import Foundation
import PluginKit
import Testing
@testable import Host

/// ABI 1.2's sink kind, through a fixture sink written in C: loading, `verify`, a dataflow
/// writing into it with rows refused one by one, and the handshake (a failed commit never
/// finishes the source).
@Suite struct SinkPluginTests {
    static func fixtureSink(_ dir: String, defines: [String] = []) throws {
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_sink.c", output: "\(dir)/sink.so", defines: defines)
    }

    @Test func verifyExercisesTheSink() throws {
        let dir = TestSupport.temporaryDirectory("sink")
        try Self.fixtureSink(dir)
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        let plugin = try #require(gateway.registry.plugin(id: "fixture.sink"))
        #expect(plugin.kinds == [.sink] && plugin.abiMinor == 3)
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory).verify(path: "\(dir)/sink.so")
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        #expect(checks.map(\.name).contains("sink aborts after a batch"))
        #expect(checks.first { $0.name.hasPrefix("sink writes every ABI type") }?.detail == "8 rows committed")
    }

    /// A plugin built for ABI 1.1 (a descriptor that ends before the sink table) loads and
    /// reads as before.
    @Test func anABI11PluginKeepsLoading() throws {
        let dir = TestSupport.temporaryDirectory("abi11")
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(dir)/old.so", defines: ["FIXTURE_ABI_1_1"])
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        let plugin = try #require(gateway.registry.plugin(id: "fixture.good"))
        #expect(plugin.abiMinor == 1 && plugin.kinds == [.source])
        let context = InstanceContext(pluginId: plugin.id, instanceName: "old", services: gateway.services)
        let stream = try SourceHandle(plugin: plugin, config: #"{"rows": 3}"#, context: context).read(requestJSON: "{}")
        var rows = 0
        while let batch = try stream.next() { rows += batch.length }
        #expect(rows == 3)
    }

    /// A flow into the C sink: rows with a negative qty are refused one by one (logged and
    /// counted, the run still completes); the others are in the file once committed. The
    /// same in the gateway's process and in a worker process (`plugins.isolation`).
    @Test(arguments: ["in_process", "process"])
    func aFlowWritesIntoTheSinkAndCountsRefusedRows(isolation: String) async throws {
        let dir = TestSupport.temporaryDirectory("sink-flow")
        try Self.fixtureSink(dir)
        let output = "\(dir)/out.tsv"
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) { config in
            config.dataflows.requireToken = false
            config.plugins.isolation = ["default": isolation]
        }
        try await TestServer.with(gateway) { server in
            let config: [String: Any] = [
                "source": [
                    "type": "sql",
                    "query":
                        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10) SELECT n AS id, CASE WHEN n % 4 = 0 THEN -n ELSE n END AS qty, 'item ' || n AS name FROM c",
                ],
                "target": ["type": "plugin", "plugin": "fixture.sink", "config": ["path": output]],
                "batch_size": 3,
            ]
            let created = try await DataflowTests.call(
                server, .POST, "/add-dataflow", token: nil, body: ["name": "to the sink", "description": "d", "config": config])
            let id = try #require((created.1["data"] as? [String: Any])?["id"] as? Int)
            _ = try await DataflowTests.call(server, .POST, "/execute-dataflow/\(id)", token: nil, body: [:])
            let ended = try await DataflowTests.waitForEnd(server, flow: id, token: "")
            #expect(ended["status"] as? String == "completed", "\(ended)")
            #expect(ended["rows_read"] as? Int == 10 && ended["rows_written"] as? Int == 8 && ended["rows_rejected"] as? Int == 2, "\(ended)")
            let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 8 && lines.first == "1\t1\titem 1" && !lines.contains { $0.contains("\t-") })
            // In a worker indeed: the plugin keeps one for its next instance.
            if isolation == "process" { #expect(try await TestSupport.keptWorkers(gateway, "fixture.sink") > 0) }
            let logs = try await DataflowTests.call(server, .GET, "/get-dataflow-logs/\(id)?page_size=100", token: nil).1["data"] as? [String: Any] ?? [:]
            let refused = (logs["logs"] as? [[String: Any]] ?? []).filter {
                ($0["message"] as? String ?? "").contains("refused by 'fixture.sink': qty must not be negative")
            }
            #expect(refused.count == 2 && refused.allSatisfy { $0["level"] as? String == "WARNING" && $0["component"] as? String == "target" })
            #expect(refused.contains { ($0["message"] as? String ?? "").contains("row 3 refused") }, "\(refused)")
            // A target plugin that is not loaded, or not a sink, fails the run naming it.
            let wrong: [String: Any] = ["source": ["type": "sql", "query": "SELECT 1 AS a"], "target": ["type": "plugin", "plugin": "no.such"]]
            let made = try await DataflowTests.call(server, .POST, "/add-dataflow", token: nil, body: ["name": "nowhere", "description": "d", "config": wrong])
            let wrongId = try #require((made.1["data"] as? [String: Any])?["id"] as? Int)
            _ = try await DataflowTests.call(server, .POST, "/execute-dataflow/\(wrongId)", token: nil, body: [:])
            let failed = try await DataflowTests.waitForEnd(server, flow: wrongId, token: "")
            #expect(
                failed["status"] as? String == "failed"
                    && failed["error_message"] as? String == "the sink plugin 'no.such' is not loaded (loaded sinks: fixture.sink)", "\(failed)")
        }
    }

    /// A run whose target fails to commit wrote nothing: `rows_written` counts what targets
    /// committed, and the log says how many rows the target was handed and rolled back.
    @Test(arguments: ["in_process", "process"])
    func aFailedRunCountsOnlyCommittedRows(isolation: String) async throws {
        let dir = TestSupport.temporaryDirectory("sink-rolled-back")
        try Self.fixtureSink(dir, defines: ["FIXTURE_FAIL_COMMIT"])
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) { config in
            config.dataflows.requireToken = false
            config.plugins.isolation = ["default": isolation]
        }
        try await TestServer.with(gateway) { server in
            let config: [String: Any] = [
                "source": ["type": "sql", "query": "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10) SELECT n AS id FROM c"],
                "target": ["type": "plugin", "plugin": "fixture.sink", "config": ["path": "\(dir)/out.tsv"]],
                "batch_size": 3,
            ]
            let (id, ended) = try await DataflowTests.runToEnd(server, name: "rolled back", config: config)
            #expect(ended["status"] as? String == "failed" && ended["error_message"] as? String == "the destination went away", "\(ended)")
            #expect(ended["rows_read"] as? Int == 10 && ended["rows_written"] as? Int == 0, "\(ended)")
            let logs = try await DataflowTests.call(server, .GET, "/get-dataflow-logs/\(id)?level=ERROR", token: nil, body: nil)
            let lines = ((logs.1["data"] as? [String: Any])?["logs"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
            #expect(
                lines.contains { $0.hasSuffix("failed: the destination went away (10 rows handed to its target were rolled back, not written)") }, "\(lines)")
        }
    }

    /// A sink that segfaults in its second write, in a worker: the run fails naming the
    /// signal and the call, nothing was committed (the file is not there), the gateway serves
    /// on, and the next run of a healthy flow into the same plugin works.
    @Test func aSinkThatCrashesInItsWorkerFailsOnlyItsRun() async throws {
        let dir = TestSupport.temporaryDirectory("sink-crash")
        try Self.fixtureSink(dir, defines: ["FIXTURE_CRASH_IN_WRITE"])
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) { config in
            config.dataflows.requireToken = false
            config.plugins.isolation = ["fixture.sink": "process"]
        }
        try await TestServer.with(gateway) { server in
            let rows = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10) SELECT n AS id FROM c"
            let crashing: [String: Any] = [
                "source": ["type": "sql", "query": rows],
                "target": ["type": "plugin", "plugin": "fixture.sink", "config": ["path": "\(dir)/crashed.tsv"]],
                "batch_size": 3,
            ]
            let (_, ended) = try await DataflowTests.runToEnd(server, name: "crashes", config: crashing)
            let message = ended["error_message"] as? String ?? ""
            #expect(ended["status"] as? String == "failed" && message.hasPrefix("plugin 'fixture.sink' crashed (signal 11"), "\(ended)")
            #expect(message.contains("during write_batch"), "\(message)")
            #expect(ended["rows_written"] as? Int == 0, "\(ended)")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/crashed.tsv"))
            // One batch only: the fixture crashes from its second write on.
            let small: [String: Any] = [
                "source": ["type": "sql", "query": "SELECT 1 AS id"],
                "target": ["type": "plugin", "plugin": "fixture.sink", "config": ["path": "\(dir)/fine.tsv"]],
            ]
            let (_, fine) = try await DataflowTests.runToEnd(server, name: "fine", config: small)
            #expect(fine["status"] as? String == "completed" && fine["rows_written"] as? Int == 1, "\(fine)")
            #expect(try String(contentsOfFile: "\(dir)/fine.tsv", encoding: .utf8) == "1\n")
        }
    }

    /// The destination failing at commit: the sink is aborted and the source never finished
    /// (its cursor stays where it was).
    @Test func aFailedCommitNeverFinishesTheSource() throws {
        let dir = TestSupport.temporaryDirectory("sink-fails")
        try Self.fixtureSink(dir, defines: ["FIXTURE_FAIL_COMMIT"])
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        let plugin = try #require(gateway.registry.plugin(id: "fixture.sink"))
        let context = InstanceContext(pluginId: plugin.id, instanceName: "t", services: gateway.services)
        let sink = DestinationSink(try SinkHandle(plugin: plugin, config: #"{"path": "\#(dir)/never.tsv"}"#, context: context)) { _, _ in }
        let events = PumpTests.Events()
        #expect {
            try Pump.run(PumpTests.CountingSource(batches: 2, events: events), into: sink)
        } throws: { ($0 as? PluginError)?.message == "the destination went away" }
        #expect(events.list.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/never.tsv"))
    }
}
